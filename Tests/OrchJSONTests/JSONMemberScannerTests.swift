import OrchJSON
import Testing

@Test func topLevelValueRangesSpanWholeValuesAndOnlyTopLevelMembers() {
    let text = #"{ "a" : {"id": 1, "s": "}\"{"}, "id":"x\"y" ,"list":[1,[2,{"id":3}]],"n": -1.5e3 }"#
    let bytes = Array(text.utf8)
    func spans(_ key: String) -> [String] {
        JSONMemberScanner.topLevelValueRanges(of: key, in: bytes).map { String(decoding: bytes[$0], as: UTF8.self) }
    }
    #expect(spans("id") == [#""x\"y""#])
    #expect(spans("a") == [#"{"id": 1, "s": "}\"{"}"#])
    #expect(spans("list") == ["[1,[2,{\"id\":3}]]"])
    #expect(spans("n") == ["-1.5e3"])
    #expect(spans("missing") == [])
    // Not an object at the top: no members.
    #expect(JSONMemberScanner.topLevelValueRanges(of: "id", in: Array(#"[{"id":1}]"#.utf8)) == [])
    // A value cut short has no range.
    #expect(JSONMemberScanner.topLevelValueRanges(of: "a", in: Array(#"{"a":{"b":1"#.utf8)) == [])
}

@Test func membersAreRemovedFromANestedObjectAndTheRestKeptAsWritten() throws {
    func removing(_ keys: [String], at path: [String], _ text: String) -> String? {
        JSONMemberScanner.removingMembers(keys, at: path, in: Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }
    let request = #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","_meta":{"a":1, "progressToken" : "p","b":{"x":[1,"}"]}},"arguments":{"text":"a\"b"}}}"#
    #expect(removing(["a", "b"], at: ["params", "_meta"], request)
            == #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","_meta":{"progressToken" : "p"},"arguments":{"text":"a\"b"}}}"#)
    // Every member removed leaves an empty object; the first, last and middle each go cleanly.
    #expect(removing(["a", "b", "progressToken"], at: ["params", "_meta"], request)?.contains(#""_meta":{}"#) == true)
    #expect(removing(["x"], at: [], #"{"x":1,"y":2}"#) == #"{"y":2}"#)
    #expect(removing(["y"], at: [], #"{"x":1,"y":2}"#) == #"{"x":1}"#)
    #expect(removing(["y"], at: [], #"{ "x" : 1 , "y" : 2 , "z" : 3 }"#) == #"{"x" : 1,"z" : 3}"#)
    // Nothing to remove: the bytes as they were.
    #expect(removing(["q"], at: ["params"], request) == request)
    // A path that is not there, not an object, or written twice; a key written twice.
    #expect(removing(["a"], at: ["nope"], request) == nil)
    #expect(removing(["a"], at: ["method"], request) == nil)
    #expect(removing(["a"], at: ["p"], #"{"p":{},"p":{}}"#) == nil)
    #expect(removing(["a"], at: [], #"{"a":1,"a":2}"#) == nil)
    // Each result is the same JSON as removing the members from the parsed value.
    let parsed = try JSONValue.parse(try #require(removing(["a", "b"], at: ["params", "_meta"], request)))
    #expect(parsed["params"]?["_meta"] == ["progressToken": "p"])
    #expect(parsed["params"]?["arguments"]?["text"] == "a\"b")
}
