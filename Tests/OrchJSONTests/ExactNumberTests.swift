import OrchJSON
import Testing

private let exact = JSONParseLimits(exactNumbers: true)

@Test func numbersPastInt64AndDoubleAreKeptAsWrittenWhenAsked() throws {
    let text = #"{"a":"x","big":18446744073709551616,"list":["y",-9223372036854775809,1e400,"z",7],"r":-1.5E+999,"s":"1e400"}"#
    let value = try JSONValue.parse(text, limits: exact)
    #expect(value["big"] == .number("18446744073709551616"))
    #expect(value["list"] == [.string("y"), .number("-9223372036854775809"), .number("1e400"), .string("z"), .integer(7)])
    #expect(value["r"] == .number("-1.5E+999"))
    // The strings around them, and a string that reads like one, stay strings.
    #expect(value["a"] == "x")
    #expect(value["s"] == "1e400")
    #expect(value.compact == text)
    #expect(value["big"]?.typeDescription == "a number")
    #expect(value["big"]?.integerValue == nil)
}

@Test func aNumberPastInt64AtTheTopLevelIsKept() throws {
    #expect(try JSONValue.parse("123456789012345678901234567890", limits: exact) == .number("123456789012345678901234567890"))
    #expect(try JSONValue.parse("9223372036854775807", limits: exact) == .integer(.max))
}

@Test func withoutExactNumbersThePastRangeNumberIsStillAnError() {
    #expect(throws: JSONParseError.self) { try JSONValue.parse("[18446744073709551616]") }
}

@Test func keptNumbersAreWrittenInJanssonsOwnLayouts() {
    let literal: JSONValue = ["a": [.number("7"), ["b": .number("8")], [], [:]], "c": "d"]
    let held: JSONValue = ["a": [.integer(7), ["b": .integer(8)], [], [:]], "c": "d"]
    #expect(literal.compact == held.compact)
    #expect(literal.pretty == held.pretty)
    #expect(literal.compact(realDigits: 3) == held.compact(realDigits: 3))
}

@Test func anErrorAfterAKeptNumberIsPlacedInTheOriginalText() {
    // The same document with a number in range: the error must be at the same place.
    let kept = #expect(throws: JSONParseError.self) { try JSONValue.parse("[1e400, \"é\", 18446744073709551616,\n  x]", limits: exact) }
    let plain = #expect(throws: JSONParseError.self) { try JSONValue.parse("[1e300, \"é\", 1.446744073709551616,\n  x]", limits: exact) }
    #expect(kept != nil && kept == plain)
    let sameLine = #expect(throws: JSONParseError.self) { try JSONValue.parse("[1e400, 2e400, }", limits: exact) }
    let sameLinePlain = #expect(throws: JSONParseError.self) { try JSONValue.parse("[1e300, 2e300, }", limits: exact) }
    #expect(sameLine != nil && sameLine == sameLinePlain)
}

@Test func aRepeatedKeyIsAnErrorAlsoWithKeptNumbers() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(#"{"a":1e400,"a":2}"#, limits: exact) }
    #expect(error?.message.contains("duplicate object key") == true)
}

@Test func topLevelMembersAreFoundWithoutParsingTheRest() {
    let deep = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
    let message = Array(#"{"jsonrpc":"2.0","result":{"id":1,"x":"\"id\":2"},"deep":\#(deep),"id":5}"#.utf8)
    #expect(JSONMemberScanner.topLevelValues(of: "id", in: message) == [.integer(5)])
    let repeated = Array(#"{"id":"a", "isError":false, "id" : 18446744073709551616}"#.utf8)
    #expect(JSONMemberScanner.topLevelValues(of: "id", in: repeated) == [.string("a"), .number("18446744073709551616")])
    #expect(JSONMemberScanner.topLevelValues(of: "id", in: Array(#"["id", {"id": 1}]"#.utf8)).isEmpty)
    #expect(JSONMemberScanner.topLevelValues(of: "id", in: Array(#"{"id": {"x": 1}}"#.utf8)).isEmpty)
    #expect(JSONMemberScanner.topLevelValues(of: "id", in: Array(#"{"id": 3"#.utf8)) == [.integer(3)])
}
