import OrchJSON
import Testing

private let sample: JSONValue = ["a": [1, 2, ["b": nil]], "c": true, "d": "x", "e": [:], "f": []]

@Test func compactHasNoWhitespace() {
    #expect(sample.compact == #"{"a":[1,2,{"b":null}],"c":true,"d":"x","e":{},"f":[]}"#)
}

@Test func prettyIndentsByTwoSpacesWithoutTrailingNewline() {
    let expected = """
        {
          "a": [
            1,
            2,
            {
              "b": null
            }
          ],
          "c": true,
          "d": "x",
          "e": {},
          "f": []
        }
        """
    #expect(sample.pretty == expected)
}

@Test(arguments: [
    (JSONValue.null, "null"),
    (.bool(true), "true"),
    (.bool(false), "false"),
    (.integer(0), "0"),
    (.integer(.max), "9223372036854775807"),
    (.integer(.min), "-9223372036854775808"),
    (.string(""), #""""#),
    (.array([]), "[]"),
    (.object(JSONObject()), "{}"),
])
func scalarsAndEmptyContainersSerializeTheSameCompactAndPretty(value: JSONValue, text: String) {
    #expect(value.compact == text)
    #expect(value.pretty == text)
}

@Test func serializationKeepsKeyOrder() {
    let value: JSONValue = ["z": 1, "a": 2, "m": 3]
    #expect(value.compact == #"{"z":1,"a":2,"m":3}"#)
    #expect(value.pretty == "{\n  \"z\": 1,\n  \"a\": 2,\n  \"m\": 3\n}")
}

@Test func serializationKeepsKeyOrderOfLargeObjects() {
    let names = (0..<20).map { "k\(19 - $0)" }
    let value = JSONValue.object(JSONObject(names.map { ($0, JSONValue.integer(1)) }))
    #expect(value.compact == "{" + names.map { "\"\($0)\":1" }.joined(separator: ",") + "}")
}

@Test func parsedTextSerializesBackInItsOwnKeyOrder() throws {
    let text = #"{"version":1,"users":{"zed":{},"amy":{}},"$schema":"s"}"#
    #expect(try JSONValue.parse(text).compact == text)
}

@Test func escapesQuotesAndBackslash() {
    #expect(JSONValue.string(#"say "hi" \ bye"#).compact == #""say \"hi\" \\ bye""#)
}

@Test func escapesControlCharacters() {
    let value = JSONValue.string("\u{8}\u{C}\n\r\t\u{1}\u{1F}")
    #expect(value.compact == #""\b\f\n\r\t\u0001\u001F""#)
}

@Test func leavesSlashAndDeleteUnescaped() {
    #expect(JSONValue.string("a/b\u{7F}").compact == "\"a/b\u{7F}\"")
}

@Test func writesNonASCIIAsUTF8() {
    let value = JSONValue.string("café 😀 \u{2028} 日本")
    #expect(value.compact == "\"café 😀 \u{2028} 日本\"")
}

@Test func escapesKeysLikeValues() {
    let value: JSONValue = ["a\"b\n": "é"]
    #expect(value.compact == #"{"a\"b\n":"é"}"#)
}

@Test func escapedStringsRoundTrip() throws {
    let value = JSONValue.string("\"\\/\u{0}\u{1}\u{1F}\u{7F}\n\t é😀\u{2028}")
    #expect(try JSONValue.parse(value.compact) == value)
    #expect(try JSONValue.parse(value.pretty) == value)
}

@Test func realsAreWrittenWithAFractionOrExponent() {
    #expect(JSONValue.real(1).compact == "1.0")
    #expect(JSONValue.real(1024).compact == "1024.0")
    #expect(JSONValue.real(-2.25).compact == "-2.25")
    #expect(JSONValue.real(0.5).pretty == "0.5")
}

@Test(arguments: [0.1, 1e300, -1e-300, Double.leastNonzeroMagnitude, Double.greatestFiniteMagnitude, 0.30000000000000004, 123456789.125])
func realsRoundTripThroughText(value: Double) throws {
    #expect(try JSONValue.parse(JSONValue.real(value).compact) == .real(value))
}

@Test func nonFiniteRealsAreWrittenAsNull() {
    #expect(JSONValue.real(.nan).compact == "null")
    #expect(JSONValue.real(.infinity).compact == "null")
    #expect(JSONValue.array([.real(-.infinity)]).compact == "[null]")
}

@Test func prettyThenParseGivesTheSameValue() throws {
    let value: JSONValue = ["list": [1, 2.5, "three", nil, false, [:], ["k": []]], "nested": ["deep": ["deeper": "é"]]]
    #expect(try JSONValue.parse(value.pretty) == value)
    #expect(try JSONValue.parse(value.compact) == value)
}

@Test func jsonLineWriterEscapesLikeJanssonAndRoundTrips() throws {
    let nasty = "quote \" backslash \\ newline \n tab \t bell \u{07} nul \u{00} é ☃ 😀 </script>"
    var writer = JSONLineWriter()
    writer.string("s", nasty)
    writer.string("n", nil)
    writer.integer("i", -42)
    writer.milliseconds("a", 0)
    writer.milliseconds("b", 12.5)
    writer.milliseconds("c", 0.0004)
    writer.milliseconds("d", 3.14159)
    let line = writer.line()
    #expect(line.last == 0x0A)
    #expect(!line.dropLast().contains(0x0A))
    let value = try JSONValue.parse(Array(line.dropLast()))
    #expect(value["s"] == .string(nasty))
    #expect(value["n"] == .null)
    #expect(value["i"] == .integer(-42))
    #expect(value["a"] == .integer(0))
    #expect(value["b"] == .real(12.5))
    #expect(value["c"] == .integer(0))
    #expect(value["d"] == .real(3.142))
    #expect(String(decoding: line, as: UTF8.self).hasPrefix(#"{"s":"quote \"#))
}
