import OrchJSON
import Testing

@Test func parsesNestedObjectsKeepingKeyOrder() throws {
    let value = try JSONValue.parse(#"{"zeta": {"b": 1, "a": 2}, "alpha": [3, {"y": null, "x": true}], "mid": "m"}"#)
    let root = try #require(value.objectValue)
    #expect(root.keys == ["zeta", "alpha", "mid"])
    #expect(root["zeta"]?.objectValue?.keys == ["b", "a"])
    #expect(root["alpha"]?.arrayValue?[1].objectValue?.keys == ["y", "x"])
}

@Test(arguments: [
    ("true", JSONValue.bool(true)),
    ("false", .bool(false)),
    ("null", .null),
    ("42", .integer(42)),
    ("-7", .integer(-7)),
    ("2.5", .real(2.5)),
    (#""x""#, .string("x")),
    ("  \n\t 17 \r\n", .integer(17)),
])
func parsesScalarsAtTopLevel(text: String, expected: JSONValue) throws {
    #expect(try JSONValue.parse(text) == expected)
}

@Test func parsesEmptyContainers() throws {
    #expect(try JSONValue.parse("{}") == .object(JSONObject()))
    #expect(try JSONValue.parse("[]") == .array([]))
}

@Test func parsingBytesAndTextGiveTheSameValue() throws {
    let text = #"{"name": "café", "n": [1, 2.5, null]}"#
    #expect(try JSONValue.parse(Array(text.utf8)) == JSONValue.parse(text))
}

@Test func keepsIntegersAndRealsApart() throws {
    #expect(try JSONValue.parse("1") == .integer(1))
    #expect(try JSONValue.parse("1.0") == .real(1.0))
    #expect(try JSONValue.parse("1e0") == .real(1.0))
    #expect(JSONValue.integer(1) != JSONValue.real(1.0))
    #expect(try JSONValue.parse("[1, 1.0, 1e0, -0.5]").compact == "[1,1.0,1.0,-0.5]")
}

@Test func acceptsTheInt64Extremes() throws {
    #expect(try JSONValue.parse("9223372036854775807") == .integer(.max))
    #expect(try JSONValue.parse("-9223372036854775808") == .integer(.min))
}

@Test func rejectsIntegerAboveInt64WithItsPosition() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(#"{"n": 9223372036854775808}"#) }
    #expect(error?.message.contains("too big integer") == true)
    #expect(error?.message.contains("9223372036854775808") == true)
    #expect(error?.line == 1)
    #expect(error?.column == 25)
}

@Test func rejectsIntegerBelowInt64() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse("[\n  -9223372036854775809\n]") }
    #expect(error?.message.contains("too big negative integer") == true)
    #expect(error?.line == 2)
}

@Test func rejectsHugeIntegerAtTopLevel() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse("123456789012345678901234567890") }
    #expect(error?.message.contains("too big integer") == true)
}

@Test func parsesBigReals() throws {
    #expect(try JSONValue.parse("1.7976931348623157e308") == .real(.greatestFiniteMagnitude))
    #expect(try JSONValue.parse("-1e300") == .real(-1e300))
    // Past Int64 but written as a real: a real, not an error.
    #expect(try JSONValue.parse("12345678901234567890.0") == .real(12345678901234567890.0))
    #expect(try JSONValue.parse("1e19") == .real(1e19))
}

@Test func rejectsRealBeyondDoubleRange() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse("[1e400]") }
    #expect(error?.message.contains("real number overflow") == true)
    #expect(error?.line == 1)
}

@Test func nulInsideStringRoundTrips() throws {
    let value = try JSONValue.parse(#"{"s": "a\u0000b"}"#)
    #expect(value["s"] == .string("a\u{0}b"))
    #expect(value["s"]?.stringValue?.utf8.count == 3)
    #expect(value.compact == #"{"s":"a\u0000b"}"#)
    #expect(try JSONValue.parse(value.compact) == value)
}

@Test func stringOfOnlyNulRoundTrips() throws {
    let value = JSONValue.string("\u{0}")
    #expect(value.compact == #""\u0000""#)
    #expect(try JSONValue.parse(value.compact) == value)
}

@Test func rejectsRawControlCharacterInString() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0x61, 0x00, 0x22]) }
    #expect(error?.message.contains("control character") == true)
}

@Test func decodesUnicodeEscapesAndSurrogatePairs() throws {
    #expect(try JSONValue.parse(#""\u00e9\ud83d\ude00\u2028""#) == .string("é😀\u{2028}"))
}

@Test func rejectsLoneSurrogateEscape() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(#""\ud800""#) }
    #expect(error?.message.contains("invalid Unicode") == true)
}

@Test func rejectsInvalidEscape() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(#""\x41""#) }
    #expect(error?.message.contains("invalid escape") == true)
}

@Test func rejectsTrailingContent() {
    let error = #expect(throws: JSONParseError.self) { try JSONValue.parse(#"{"a":1} x"#) }
    #expect(error == JSONParseError(line: 1, column: 9, position: 9, message: "end of file expected near 'x'"))
}

@Test(arguments: ["NaN", "Infinity", "01", "1.", "-", "tru", "'a'", "[1,]", "{\"a\"}", "{a:1}"])
func rejectsWhatJSONDoesNotAllow(text: String) {
    #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
}
