import OrchJSON
import Testing

private let limits = JSONParseLimits(maxDepth: 128, exactNumbers: true)
private let pv = "io.modelcontextprotocol/protocolVersion"
private let caps = "io.modelcontextprotocol/clientCapabilities"
private let info = "io.modelcontextprotocol/clientInfo"

private func apart(_ text: String, maxDepth: Int = 128) -> JSONSetAside? {
    var limits = limits
    limits.maxDepth = maxDepth
    return JSONSetAside(Array(text.utf8), limits: limits, keys: [pv, caps, info], at: ["params", "_meta"])
}

/// Each document read with its envelope set aside is the whole parse's value, members in their
/// places; and the cuts leave exactly the rest.
@Test func aDocumentReadWithMembersSetAsideIsTheWholeParse() throws {
    let documents = [
        #"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"\#(pv)":"2026-07-28","\#(caps)":{}}}}"#,
        // Keys around and between the envelope, in any order, with whitespace everywhere.
        #" { "params" : { "_meta" : { "progressToken" : 3 , "\#(caps)" : { "elicitation" : { "form" : {} } } , "x" : [1, {"y": null}], "\#(pv)" : "2026-07-28" , "\#(info)" : {"name":"c","version":"1"} } , "name":"t" }, "id":"a\"b", "method":"m", "jsonrpc":"2.0" } "#,
        // Values that need the parser: escapes, non-ASCII, numbers past Int64, nesting.
        #"{"id":1,"params":{"_meta":{"\#(pv)":"2026\u002d07-28","\#(caps)":{"sampling":{"n":123456789012345678901234567890}},"\#(info)":{"name":"é"}}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(caps)":[],"\#(pv)":7}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":null,"\#(caps)":true}}}"#,
        // The only member, the first, the last.
        #"{"id":1,"params":{"_meta":{"\#(pv)":"v"}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"v","z":1}}}"#,
        #"{"id":1,"params":{"_meta":{"z":1,"\#(info)":"i"}}}"#,
        // The envelope all of `_meta`: first, between, last or alone in params, and empty params around it.
        #"{"id":1,"params":{"_meta":{"\#(pv)":"v","\#(caps)":{}},"name":"t"}}"#,
        #"{"id":1,"params":{"name":"t", "_meta" : { "\#(caps)" : {"roots":{}} , "\#(pv)":"v" } , "arguments":{}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(info)":{"name":"c"}}}}"#,
    ]
    for text in documents {
        let bytes = Array(text.utf8)
        let whole = try JSONValue.parse(bytes, limits: limits)
        let read = try #require(apart(text), "\(text)")
        #expect(read.value == whole, "\(text)")
        // The id as written, for a forwarder to replace.
        #expect(read.id.flatMap { try? JSONValue.parse(Array(bytes[$0]), limits: limits) } == whole["id"], "\(text)")
        // The cuts leave the document without the envelope, every other byte as written.
        let rest = try JSONValue.parse(JSONMemberScanner.applying(read.cuts, to: bytes), limits: limits)
        var meta = try #require(whole["params"]?["_meta"]?.objectValue)
        for key in [pv, caps, info] { meta[key] = nil }
        // A `_meta` that held the envelope alone goes with it.
        #expect(rest["params"]?["_meta"] == (meta.isEmpty ? nil : .object(meta)), "\(text)")
        #expect(rest["params"]?.objectValue?.count == whole["params"]?.objectValue.map { $0.count - (meta.isEmpty ? 1 : 0) })
        #expect(rest["id"] == whole["id"])
    }
}

/// Wherever the two readings could differ, there is no set-aside reading: the caller parses whole.
@Test func noSetAsideReadingWhereTheWholeParseCouldDisagree() {
    let refused = [
        // Nothing to set aside, or no such path.
        #"{"id":1,"params":{"_meta":{"progressToken":1}}}"#,
        #"{"id":1,"params":{"name":"x"}}"#,
        #"{"id":1}"#,
        #"[{"params":{"_meta":{"\#(pv)":"v"}}}]"#,
        #"{"id":1,"params":{"_meta":["\#(pv)"]}}"#,
        // A key twice, as written or with escapes (the whole parse refuses a repeated key).
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a","\#(pv)":"b"}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a","io.modelcontextprotocol/protocolVersio\u006e":"b"}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a"},"_meta":{}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a"},"_m\u0065ta":{}}}"#,
        #"{"id":1,"params":{"_m\u0065ta":{},"_meta":{"\#(pv)":"a","\#(caps)":{}}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a","\#(caps)":{}}},"id":2}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a"}},"params":{}}"#,
        // A step written with escapes is not the path.
        #"{"id":1,"p\u0061rams":{"_meta":{"\#(pv)":"a"}}}"#,
        // Broken anywhere: in a set-aside value, in the rest, around them.
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a","\#(caps)":{"x":[1}]}}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":tru,"\#(caps)":{}}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"\#u{01}","\#(caps)":{}}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a" "\#(caps)":{}}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a",,"\#(caps)":{}}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a","\#(caps)":{},}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a"}}} trailing"#,
        #"{"id":01,"params":{"_meta":{"\#(pv)":"a"}}}"#,
        #"{"id":1,"params":{"_meta":{"\#(pv)":"a"}}"#,
    ]
    for text in refused {
        #expect(apart(text) == nil, "\(text)")
    }
    // Invalid UTF-8 inside a set-aside string.
    var bytes = Array(#"{"id":1,"params":{"_meta":{"\#(pv)":"ab"}}}"#.utf8)
    bytes[bytes.count - 6] = 0xFF
    #expect(JSONSetAside(bytes, limits: limits, keys: [pv], at: ["params", "_meta"]) == nil)
    #expect((try? JSONValue.parse(bytes, limits: limits)) == nil)
}

/// A set-aside value nests within what is left of the limit at its depth, as in the whole parse.
@Test func aSetAsideValueNestsNoDeeperThanTheWholeParseAllows() throws {
    // The value is the fourth level: top, params, _meta, then it.
    func document(_ levels: Int) -> String {
        #"{"id":1,"params":{"_meta":{"\#(pv)":"v","\#(caps)":"# + String(repeating: "[", count: levels) + String(repeating: "]", count: levels) + "}}}"
    }
    let fits = document(7)
    #expect(try JSONValue.parse(Array(fits.utf8), limits: JSONParseLimits(maxDepth: 10, exactNumbers: true)) == apart(fits, maxDepth: 10)?.value)
    let deeper = document(8)
    #expect((try? JSONValue.parse(Array(deeper.utf8), limits: JSONParseLimits(maxDepth: 10, exactNumbers: true))) == nil)
    #expect(apart(deeper, maxDepth: 10) == nil)
}

/// A reply's id and result are found in one pass, which stops at the result's brace when the id came first.
@Test func aRepliesIDAndResultAreFoundInOnePass() throws {
    func read(_ text: String) -> (id: String, result: String?)? {
        let bytes = Array(text.utf8)
        return JSONMemberScanner.idAndResult(in: bytes).map { found in
            (String(decoding: bytes[found.id], as: UTF8.self), found.result.map { String(decoding: bytes[$0...], as: UTF8.self) })
        }
    }
    // Id first: the result is not read (this one is cut short after its brace).
    let early = try #require(read(#"{"jsonrpc":"2.0", "id" : 5 , "result" : {"unfinished"#))
    #expect(early.id == "5" && early.result == #"{"unfinished"#)
    // Result first: read past, to the id.
    let late = try #require(read(#" { "result" : {"a":[1,{"id":2}]} , "id":"x\"y" } "#))
    #expect(late.id == #""x\"y""# && late.result?.hasPrefix(#"{"a":"#) == true)
    // An error reply has no result; a result that is no object is still where it is.
    #expect(read(#"{"jsonrpc":"2.0","error":{"code":-1},"id":null}"#).map { $0.id == "null" && $0.result == nil } == true)
    #expect(read(#"{"id":1,"result":7}"#)?.result == "7}")
    // No id as written (escaped, nested, absent), or not an object this reads.
    for text in [#"{"\u0069d":1,"result":{}}"#, #"{"result":{"id":1}}"#, #"{"jsonrpc":"2.0"}"#, #"[{"id":1}]"#, #"{"id" 1}"#, #"{"id":1 "result":{}}"#, ""] {
        #expect(read(text) == nil, "\(text)")
    }
}
