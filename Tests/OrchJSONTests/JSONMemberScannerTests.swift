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
