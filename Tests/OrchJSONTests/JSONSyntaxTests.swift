import OrchJSON
import Testing

@Suite struct JSONSyntaxTests {
    @Test func syntaxKeepsScalarsAsWrittenAndDecodesKeys() throws {
        let syntax = try JSONSyntax.parse(Array(#"{"caf\u00e9": [1.0, 1e3, -0, "a\/b", true, null]}"#.utf8))
        guard case .object(let members) = syntax.kind, let member = members.first, case .array(let items) = member.value.kind else {
            Issue.record("not an object with an array: \(syntax)")
            return
        }
        #expect(member.rawKey == #""caf\u00e9""#)
        #expect(member.key == "café")
        #expect(items.map { if case .scalar(let text) = $0.kind { text } else { "?" } } == ["1.0", "1e3", "-0", #""a\/b""#, "true", "null"])
    }

    @Test func syntaxGivesLineAndCharacterColumnOfEveryValueAndKey() throws {
        let text = "{\n  \"é\": [\n    \"x\", {\"k\": 2}\n  ]\n}\n"
        let syntax = try JSONSyntax.parse(Array(text.utf8))
        #expect(syntax.position == JSONPosition(line: 1, column: 1))
        guard case .object(let members) = syntax.kind, case .array(let items) = members[0].value.kind,
            case .object(let inner) = items[1].kind
        else {
            Issue.record("unexpected shape")
            return
        }
        #expect(members[0].keyPosition == JSONPosition(line: 2, column: 3))
        #expect(members[0].value.position == JSONPosition(line: 2, column: 8))
        #expect(items.map(\.position) == [JSONPosition(line: 3, column: 5), JSONPosition(line: 3, column: 10)])
        #expect(inner[0].keyPosition == JSONPosition(line: 3, column: 11))
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "tru", "\"a", "[1] 2", "{\"a\":1,}", "\"\\x\""])
    func syntaxRefusesWhatIsNotJSON(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONSyntax.parse(Array(text.utf8)) }
    }

    @Test func syntaxRefusesNestingPastTheLimit() {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(throws: JSONParseError.self) { try JSONSyntax.parse(Array(deep.utf8)) }
        #expect(throws: Never.self) { try JSONSyntax.parse(Array(deep.utf8), limits: JSONParseLimits(maxDepth: 65)) }
    }
}

@Suite struct JSONFormatterTests {
    private func format(_ text: String) throws -> String {
        String(decoding: try JSONFormatter.format(Array(text.utf8)), as: UTF8.self)
    }

    @Test func formatterWritesTheOneLayout() throws {
        #expect(try format(#"{"b":1,"a":{"c":[1, "x"],"d":{},"e":[]},"f":[{"g":null}]}"#) == """
            {
              "b": 1,
              "a": {
                "c": [1, "x"],
                "d": {},
                "e": []
              },
              "f": [
                {
                  "g": null
                }
              ]
            }

            """)
        #expect(try format(" 1.50 ") == "1.50\n")
        #expect(try format("[]") == "[]\n")
        #expect(try format("[[1], [2]]") == "[\n  [1],\n  [2]\n]\n")
    }

    @Test func formatterCountsTheCommaAgainstTheWidth() throws {
        // `  "k": [` is 8 columns; the items and `]` make 99, and the comma the 100th.
        let item = "\"" + String(repeating: "x", count: 88) + "\""
        #expect(try format("{\"k\": [\(item)], \"z\": 1}").contains("  \"k\": [\(item)],\n"))
        let longer = "\"" + String(repeating: "x", count: 89) + "\""
        #expect(try format("{\"k\": [\(longer)], \"z\": 1}").contains("  \"k\": [\n    \(longer)\n  ],\n"))
        #expect(try format("{\"k\": [\(longer)]}").contains("  \"k\": [\(longer)]\n"))
    }

    @Test func formatterRefusesWhatTheParserRefuses() {
        let bytes = Array(#"{"a":1,"a":2}"#.utf8)
        var parserError: JSONParseError? = nil
        do { _ = try JSONValue.parse(bytes) } catch { parserError = error }
        #expect(parserError?.message == "duplicate object key near '\"a\"'")
        #expect(throws: parserError!) { try JSONFormatter.format(bytes) }
    }
}
