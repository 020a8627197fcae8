import OrchJSON
import Testing

@Test func rejectsDuplicateKeysWithLineAndColumn() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse("{\n  \"a\": 1,\n  \"a\": 2\n}") }
    #expect(error?.line == 3)
    #expect(error?.column == 5)
    #expect(error?.message.contains("duplicate object key") == true)
}

@Test func rejectsDuplicateKeysInNestedObject() {
    let error = #expect(throws: JSONParseError.self) {
        try JSONValue.parse("{\"outer\": {\n  \"x\": 1, \"y\": 2,\n  \"x\": 3}}")
    }
    #expect(error?.line == 3)
    #expect(error?.message.contains("duplicate object key") == true)
}

@Test func sameKeyInSiblingObjectsIsNotADuplicate() throws {
    #expect(try JSONValue.parse(#"[{"a": 1}, {"a": 2}]"#) == .array([["a": 1], ["a": 2]]))
}

@Test func reportsSyntaxErrorLineColumnAndPosition() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse("[1,\n2,\n\"x\" 3]") }
    #expect(error == JSONParseError(line: 3, column: 5, position: 12, message: "']' expected near '3'"))
}

@Test func reportsMissingColonInObject() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse("{\n \"a\" 1}") }
    #expect(error?.line == 2)
    #expect(error?.column == 6)
    #expect(error?.message == "':' expected near '1'")
}

@Test func reportsTruncatedInputAtItsEnd() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse("{\"a\": [1, 2") }
    #expect(error?.line == 1)
    #expect(error?.message.contains("end of file") == true)
}

@Test func columnsCountCharactersAndPositionCountsBytes() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse("[\"é\", [[[") }
    #expect(error?.line == 1)
    #expect(error?.column == 9)
    #expect(error?.position == 10)
}

@Test func parseErrorDescriptionIsLineColumnMessage() {
    let error = JSONParseError(line: 3, column: 7, position: 40, message: "unexpected token")
    #expect(error.description == "3:7: unexpected token")
}

@Test(arguments: [
    [0x22, 0xFF, 0x22] as [UInt8],      // never valid in UTF-8
    [0x22, 0xC3, 0x22],                 // lead byte without its continuation
    [0x22, 0xC0, 0xAF, 0x22],           // overlong encoding of "/"
    [0x22, 0xED, 0xA0, 0x80, 0x22],     // an encoded surrogate
    [0x5B, 0x22, 0x61, 0x22, 0x2C, 0x20, 0x22, 0xF8, 0x88, 0x80, 0x80, 0x80, 0x22, 0x5D],  // 5-byte form
])
func rejectsInvalidUTF8(bytes: [UInt8]) {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
    #expect(error?.message.contains("unable to decode byte") == true)
}

@Test func reportsWhereInvalidUTF8StringStarts() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(#"{"a":""#.utf8) + [0xFF, 0x22, 0x7D]) }
    #expect(error?.line == 1)
    #expect(error?.column == 6)
    #expect(error?.message == "unable to decode byte 0xff near '\"'")
}

@Test func rejectsEmptyInput() {
    let expected = JSONParseError(line: 1, column: 1, position: 0, message: "empty input: expected a JSON value")
    #expect(throws: expected) { try JSONValue.parse("") }
    #expect(throws: expected) { try JSONValue.parse([UInt8]()) }
}

@Test func rejectsWhitespaceOnlyInput() {
    let expected = JSONParseError(line: 1, column: 1, position: 0, message: "empty input: expected a JSON value")
    #expect(throws: expected) { try JSONValue.parse(" \n\t\r\n  ") }
}

@Test func rejectsInputOverTheSizeLimit() {
    let limits = JSONParseLimits(maxBytes: 5)
    #expect(throws: JSONParseError(line: 1, column: 1, position: 0, message: "input is 6 bytes, more than the limit of 5")) {
        try JSONValue.parse("[1,22]", limits: limits)
    }
}

@Test func acceptsInputExactlyAtTheSizeLimit() throws {
    #expect(try JSONValue.parse("[1,2]", limits: JSONParseLimits(maxBytes: 5)) == [1, 2])
}

@Test func sizeLimitIsCheckedBeforeSyntax() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse("}}}}}}", limits: JSONParseLimits(maxBytes: 3)) }
    #expect(error?.message == "input is 6 bytes, more than the limit of 3")
}

@Test func defaultLimitsAre64MiBAnd64Levels() {
    #expect(JSONParseLimits.default.maxBytes == 64 * 1024 * 1024)
    #expect(JSONParseLimits.default.maxDepth == 64)
}

@Test func acceptsExactly64NestedArrays() throws {
    let text = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
    var value = try JSONValue.parse(text)
    var depth = 1
    while case .array(let items) = value, let first = items.first {
        value = first
        depth += 1
    }
    #expect(depth == 64)
}

@Test func rejects65NestedArraysAtTheBracketThatGoesTooDeep() {
    let text = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    #expect(error?.line == 1)
    #expect(error?.column == 65)
    #expect(error?.message == "nesting deeper than 64 levels")
}

@Test func objectsCountTowardsTheDepthLimit() {
    let text = String(repeating: #"{"a":"#, count: 65) + "1" + String(repeating: "}", count: 65)
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    #expect(error?.column == 64 * 5 + 1)
    #expect(error?.message == "nesting deeper than 64 levels")
}

@Test func exactly64NestedObjectsAreAccepted() throws {
    let text = String(repeating: #"{"a":"#, count: 64) + "1" + String(repeating: "}", count: 64)
    #expect(try JSONValue.parse(text).objectValue?.keys == ["a"])
}

@Test func depthErrorReportsLineAndCharacterColumn() {
    let error = #expect(throws: JSONParseError.self) {
        try JSONValue.parse("[\n  \"é\", [\n    \"ü\", [[1]]]]", limits: JSONParseLimits(maxDepth: 3))
    }
    #expect(error?.line == 3)
    #expect(error?.column == 11)
    #expect(error?.message == "nesting deeper than 3 levels")
}

@Test func bracketsInsideStringsDoNotCountTowardsDepth() throws {
    let value = try JSONValue.parse(#"["[[[[{{{{", "\"[[[[", "\\", ["ok"]]"#, limits: JSONParseLimits(maxDepth: 2))
    #expect(value == ["[[[[{{{{", "\"[[[[", "\\", ["ok"]])
}

@Test func closedContainersGiveTheirDepthBack() throws {
    let text = "[" + Array(repeating: "[[1]]", count: 50).joined(separator: ",") + "]"
    #expect(try JSONValue.parse(text, limits: JSONParseLimits(maxDepth: 3)).arrayValue?.count == 50)
}
