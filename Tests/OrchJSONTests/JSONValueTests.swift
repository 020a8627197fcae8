import OrchJSON
import Testing

@Test func literalsBuildTheMatchingCases() {
    let value: JSONValue = ["s": "text", "i": 3, "r": 1.5, "b": true, "n": nil, "a": [1, "two"]]
    let expected = JSONValue.object(JSONObject([
        ("s", .string("text")), ("i", .integer(3)), ("r", .real(1.5)), ("b", .bool(true)), ("n", .null),
        ("a", .array([.integer(1), .string("two")])),
    ]))
    #expect(value == expected)
}

@Test(arguments: [
    (JSONValue.null, "null"),
    (.bool(false), "a boolean"),
    (.integer(1), "a number"),
    (.real(1.5), "a number"),
    (.string(""), "a string"),
    (.array([]), "an array"),
    (.object(JSONObject()), "an object"),
])
func typeDescriptionNamesTheKind(value: JSONValue, description: String) {
    #expect(value.typeDescription == description)
}

@Test func accessorsReturnTheirOwnKindOnly() {
    let string: JSONValue = "s"
    #expect(string.stringValue == "s")
    #expect(string.objectValue == nil)
    #expect(string.arrayValue == nil)
    #expect(string.boolValue == nil)
    #expect(string.integerValue == nil)
    #expect(string.doubleValue == nil)
    #expect(string.isNull == false)
    #expect(JSONValue.bool(true).boolValue == true)
    #expect(JSONValue.array([1]).arrayValue == [1])
    #expect(JSONValue.object(["k": 1]).objectValue == ["k": 1])
    #expect(JSONValue.null.isNull)
    #expect(JSONValue.integer(5).stringValue == nil)
}

@Test func integerValueAcceptsWholeRealsOnly() {
    #expect(JSONValue.integer(-4).integerValue == -4)
    #expect(JSONValue.real(3.0).integerValue == 3)
    #expect(JSONValue.real(3.5).integerValue == nil)
    #expect(JSONValue.real(1e16).integerValue == nil)
    #expect(JSONValue.real(.nan).integerValue == nil)
}

@Test func doubleValueReadsBothKindsOfNumber() {
    #expect(JSONValue.integer(2).doubleValue == 2.0)
    #expect(JSONValue.real(2.5).doubleValue == 2.5)
    #expect(JSONValue.bool(true).doubleValue == nil)
}

@Test func subscriptReadsObjectMembersOnly() {
    let object: JSONValue = ["a": ["b": 1]]
    #expect(object["a"]?["b"] == 1)
    #expect(object["missing"] == nil)
    #expect(JSONValue.array([1])["a"] == nil)
}

@Test func optionalAndStringsHelpers() {
    #expect(JSONValue.optional("x") == .string("x"))
    #expect(JSONValue.optional(nil) == .null)
    #expect(JSONValue.strings(["a", "b"]) == .array([.string("a"), .string("b")]))
    #expect(JSONValue.strings([String]()) == .array([]))
}
