import Foundation
import OrchJSON
import Testing

// JSONNode reads the parser's tree in place; a large document is parsed in two halves at once.
// Whatever the path, the tree read and the errors reported are the whole document's.

/// A document over the split threshold (1 MiB): a large object `users` between small members.
private func largeDocument(users count: Int = 12_000, extra: String = "", tail: String = "") -> String {
    var users: [String] = []
    users.reserveCapacity(count)
    for i in 0..<count {
        users.append("\"u\(i)\": {\"displayName\": \"User \(i) with some padding text\", \"keys\": [{\"id\": \"k0\", \"n\": \(i)}]}")
    }
    return "{\"version\": 1, \"roles\": {\"a\": {\"allow\": [\"x\"]}}, \"users\": {\(users.joined(separator: ",\n"))\(extra)}, \"tests\": [1, 2]\(tail)}"
}

/// What JSONNode reads, as a JSONValue, for comparison with the plain parse.
private func nodeValue(_ text: String) -> Result<JSONValue, JSONParseError> {
    JSONNode.parse(Array(text.utf8)) { $0.value }
}

@Test func aLargeDocumentReadsTheSameThroughNodesAsParsedWhole() throws {
    let text = largeDocument()
    #expect(text.utf8.count > 1 << 20)
    let whole = try JSONValue.parse(text)
    let nodes = try nodeValue(text).get()
    #expect(nodes == whole)
    // Member order survives the halves being joined.
    let names = JSONNode.parse(Array(text.utf8)) { root in root["users"]!.members.map(\.key) }
    #expect(try names.get() == (0..<12_000).map { "u\($0)" })
    #expect(try JSONNode.parse(Array(text.utf8)) { $0["users"]!.members.count }.get() == 12_000)
}

@Test func aKeyInBothHalvesOfALargeObjectIsTheWholeDocumentsDuplicateError() {
    // u0 again at the very end: in the second half, while the first is in the first.
    let text = largeDocument(extra: ", \"u0\": {}")
    let whole = Result { try JSONValue.parse(text) }.mapError { $0 as! JSONParseError }
    guard case .failure(let expected) = whole else {
        Issue.record("the plain parse accepted a duplicate key")
        return
    }
    #expect(expected.message.contains("duplicate"))
    guard case .failure(let error) = nodeValue(text) else {
        Issue.record("a duplicate key across the halves was accepted")
        return
    }
    #expect(error == expected)
}

@Test func aSyntaxErrorInEitherHalfIsReportedWhereItIsInTheWholeDocument() throws {
    let good = largeDocument()
    for broken in [
        good.replacingOccurrences(of: "\"u100\": {", with: "\"u100\" {"),  // first half
        good.replacingOccurrences(of: "\"u11000\": {", with: "\"u11000\": {,"),  // second half
        good.replacingOccurrences(of: "\"tests\": [1, 2]", with: "\"tests\": [1, 2"),  // after the object
    ] {
        let expected = Result { try JSONValue.parse(broken) }.mapError { $0 as! JSONParseError }
        guard case .failure(let whole) = expected else {
            Issue.record("the plain parse accepted a broken document")
            continue
        }
        guard case .failure(let error) = nodeValue(broken) else {
            Issue.record("a broken document parsed")
            continue
        }
        #expect(error == whole)
    }
}

@Test func largeDocumentsOfOtherShapesParseAsWhole() throws {
    let users = largeDocument()
    let escapedKey = users.replacingOccurrences(of: "\"users\":", with: "\"us\\u0065rs\":")
    let cases = [
        "[" + users + ", 1]",  // an array at the top
        escapedKey,  // the large object's key written with an escape
        largeDocument(tail: ", \"more\": {\"a\": 1}"),
        "{\"big\": [" + String(repeating: "{\"a\": \"0123456789\"},", count: 60_000) + "{}]}",  // the large member is an array
    ]
    for text in cases {
        #expect(text.utf8.count > 1 << 20)
        #expect(try nodeValue(text).get() == (try JSONValue.parse(text)))
    }
}

@Test func nodesReadMembersItemsAndScalars() throws {
    let text = #"{"s": "text", "i": 42, "r": 1.5, "b": false, "n": null, "a": [1, "two"], "o": {"k": "v"}}"#
    let ok = JSONNode.parse(Array(text.utf8)) { root in
        root["s"]?.string == "text" && root["i"]?.integer == 42 && root["r"]?.integer == nil
            && root["b"]?.bool == false && root["n"]?.typeDescription == "null" && root["a"]?.items.count == 2
            && root["a"]?.items[1].string == "two" && root["o"]?.isObject == true && root["missing"] == nil
            && root["s"]?.members.count == 0 && root["o"]?.items.count == 0 && root.members.count == 7
    }
    #expect(try ok.get())
}
