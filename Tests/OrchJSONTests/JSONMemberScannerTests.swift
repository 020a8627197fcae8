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
    // Several keys in one pass, each with its own ranges.
    let several = JSONMemberScanner.topLevelValueRanges(of: ["list", "id", "missing"], in: bytes)
    #expect(several.map { $0.map { String(decoding: bytes[$0], as: UTF8.self) } } == [["[1,[2,{\"id\":3}]]"], [#""x\"y""#], []])
}

@Test func editsAreMadeInOneCopyInTheOrderOfTheirRanges() {
    let bytes = Array("abcdef".utf8)
    let edits = [JSONMemberScanner.Edit(4..<5, Array("E".utf8)), JSONMemberScanner.Edit(0..<1), JSONMemberScanner.Edit(2..<2, Array("+".utf8))]
    #expect(String(decoding: JSONMemberScanner.applying(edits, to: bytes), as: UTF8.self) == "b+cdEf")
    #expect(JSONMemberScanner.applying([], to: bytes) == bytes)
}

@Test func aRangeReplacedByAWriterGoesInItsPlaceAmongTheEdits() {
    let bytes = Array("abcdef".utf8)
    let edits = [JSONMemberScanner.Edit(1..<2), JSONMemberScanner.Edit(4..<4, Array("+".utf8))]
    func spliced(_ replaced: Range<Int>) -> String {
        String(decoding: JSONMemberScanner.applying(edits, to: bytes, replacing: replaced, room: 2) { $0.append(contentsOf: Array("XY".utf8)) }, as: UTF8.self)
    }
    #expect(spliced(0..<1) == "XYcd+ef")  // before every edit
    #expect(spliced(2..<4) == "aXY+ef")  // between them, up to the insertion
    #expect(spliced(5..<6) == "acd+eXY")  // after them, at the end
    #expect(spliced(6..<6) == "acd+efXY")  // an insertion at the very end
    #expect(String(decoding: JSONMemberScanner.applying(EmptyCollection(), to: bytes, replacing: 3..<3) { $0.append(0x2D) }, as: UTF8.self) == "abc-def")
}

@Test func scalarsAreWrittenAsJanssonWritesThem() {
    for value: JSONValue in [0, -12, 9_007_199_254_740_993, true, false, .null, "plain id", "", "quote\"d", "back\\slash", "tab\t", "é", "\u{7F}"] {
        let janssonWritten = JSONValue.array([value]).compact
        #expect("[\(value.compact)]" == janssonWritten, "\(value)")
    }
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
    #expect(removing(["y"], at: [], #"{ "x" : 1 , "y" : 2 , "z" : 3 }"#) == #"{ "x" : 1 , "z" : 3 }"#)
    #expect(removing(["y", "z"], at: [], #"{ "x" : 1 , "y" : 2 , "z" : 3 }"#) == #"{ "x" : 1 }"#)
    #expect(removing(["x", "z"], at: [], #"{"x":1,"y":2,"z":3}"#) == #"{"y":2}"#)
    #expect(removing(["x", "y", "z"], at: [], #"{ "x" : 1 , "y" : 2 , "z" : 3 }"#) == #"{  }"#)
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

@Test func anObjectsMembersAreReadInOrderAndANameMatchesOnlyAsWritten() throws {
    let bytes = Array(#"{ "id" : 1, "idx":"a,}" , "p":{"id":[1,{"q":"]"}]}, "id2": null }"#.utf8)
    let members = try #require(JSONMemberScanner.members(in: bytes))
    #expect(members.map { String(decoding: bytes[$0.name], as: UTF8.self) } == ["id", "idx", "p", "id2"])
    #expect(members.map { String(decoding: bytes[$0.value], as: UTF8.self) } == ["1", #""a,}""#, #"{"id":[1,{"q":"]"}]}"#, "null"])
    // A name that is a prefix or an extension of another is not it.
    #expect(JSONMemberScanner.only("id", in: members, bytes).map { String(decoding: bytes[$0.value], as: UTF8.self) } == "1")
    #expect(JSONMemberScanner.only("i", in: members, bytes) == nil)
    // A nested object's members, read within its value; bounds past the bytes read nothing.
    let p = try #require(JSONMemberScanner.only("p", in: members, bytes))
    #expect(JSONMemberScanner.members(in: bytes, within: p.value)?.count == 1)
    #expect(JSONMemberScanner.members(in: bytes, within: 0..<(bytes.count + 1)) == nil)
    // Written twice: not the one member of that name; not an object read to its end: none.
    let twice = Array(#"{"a":1,"a":2}"#.utf8)
    #expect(JSONMemberScanner.only("a", in: try #require(JSONMemberScanner.members(in: twice)), twice) == nil)
    #expect(JSONMemberScanner.members(in: Array(#"{"a":1"#.utf8)) == nil)
    #expect(JSONMemberScanner.members(in: Array(#"[1]"#.utf8)) == nil)
}

/// Strings of every length around the scanner's eight-byte steps, with a quote, a backslash or a
/// two-byte character at every place in them (a backslash last in a word, an escaped quote first in
/// the next): each member's name and value are read where the parser reads them, and names of
/// every length match exactly their own.
@Test func stringsOfEveryLengthAndEscapeAreReadToTheirClosingQuote() throws {
    var texts: [String] = []
    for length in 0..<40 {
        for special in ["\"", "\\", "é", "\\\""] {
            for place in 0...length { texts.append(String(repeating: "a", count: place) + special + String(repeating: "b", count: length - place)) }
        }
    }
    let limits = JSONParseLimits(maxDepth: 8, exactNumbers: true)
    for start in stride(from: 0, to: texts.count, by: 3) {
        let keys = texts[start..<min(start + 3, texts.count)].enumerated().map { "k\($0.offset)" + $0.element }
        let values = keys.map { JSONValue.string(String($0.reversed())) }
        let bytes = Array(JSONValue.object(JSONObject(zip(keys, values))).compact.utf8)
        let members = try #require(JSONMemberScanner.members(in: bytes), "\(String(decoding: bytes, as: UTF8.self))")
        #expect(members.count == keys.count)
        for (member, (key, value)) in zip(members, zip(keys, values)) {
            #expect(try JSONValue.parse(Array(bytes[(member.name.lowerBound - 1)...member.name.upperBound]), limits: limits) == .string(key))
            #expect(try JSONValue.parse(Array(bytes[member.value]), limits: limits) == value)
            // A name matches itself as written, and nothing one byte shorter or other in any one byte.
            let written = Array(bytes[member.name])
            #expect(JSONMemberScanner.isNamed(member, String(decoding: written, as: UTF8.self), in: bytes))
            #expect(!JSONMemberScanner.isNamed(member, String(decoding: written.dropLast(), as: UTF8.self), in: bytes))
            for place in written.indices where written[place] == UInt8(ascii: "a") || written[place] == UInt8(ascii: "b") {
                var other = written
                other[place] = UInt8(ascii: "c")
                #expect(!JSONMemberScanner.isNamed(member, String(decoding: other, as: UTF8.self), in: bytes))
            }
        }
    }
}
