import OrchJSON
import Testing

@testable import OrchGateway

/// The gateway's own `server/discover` answer and what a forwarded result gets for a modern caller.
private let info: JSONObject = ["name": "mcp-orch", "version": "1.2.3"]

@Test func discoverHasTheReferenceServersShape() {
    let result = DiscoverResult(capabilities: ["tools": ["listChanged": true]], instructions: "Use the notes tools.", serverInfo: info,
                                ttl: CacheTTL(.seconds(30)))
    // The SDK's server writes exactly these keys in this order (plus the legacy versions here).
    #expect(result.json.keys == ["cacheScope", "capabilities", "instructions", "resultType", "supportedVersions", "ttlMs", "_meta"])
    #expect(result.json["cacheScope"] == "private")
    #expect(result.json["capabilities"] == ["tools": ["listChanged": true]])
    #expect(result.json["instructions"] == "Use the notes tools.")
    #expect(result.json["resultType"] == "complete")
    #expect(result.json["supportedVersions"] == ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"])
    #expect(result.json["ttlMs"] == 30_000)
    #expect(result.json["_meta"] == ["io.modelcontextprotocol/serverInfo": ["name": "mcp-orch", "version": "1.2.3"]])
}

@Test func discoverWithoutInstructionsLeavesTheKeyOut() {
    let result = DiscoverResult(capabilities: [:], instructions: nil, serverInfo: info, ttl: CacheTTL(milliseconds: 0))
    #expect(result.json["instructions"] == nil)
    #expect(result.json["ttlMs"] == 0)
}

@Test func discoverListsEveryVersionTheGatewaySpeaksModernFirst() {
    #expect(ModernProtocol.discoverableVersions.first == "2026-07-28")
    #expect(Array(ModernProtocol.discoverableVersions.dropFirst()) == JSONRPC.supportedVersions)
}

@Test func aTTLIsWholeMillisecondsAndNeverNegative() {
    #expect(CacheTTL(.milliseconds(1500)).milliseconds == 1500)
    #expect(CacheTTL(.microseconds(2999)).milliseconds == 2)
    #expect(CacheTTL(.seconds(-5)).milliseconds == 0)
    #expect(CacheTTL(milliseconds: -1).milliseconds == 0)
}

private let stamp = ModernResultStamp(ttlBound: CacheTTL(milliseconds: 60_000), serverInfo: nil)

@Test func aForwardedResultWithoutATypeIsComplete() {
    #expect(stamp.apply(to: ["content": []], method: "tools/call") == ["content": [], "resultType": "complete"])
    #expect(stamp.apply(to: ["resultType": .null], method: "tools/call")["resultType"] == "complete")
    // One the upstream gave is kept.
    #expect(stamp.apply(to: ["resultType": "input_required"], method: "tools/call")["resultType"] == "input_required")
}

@Test func aResultWithoutCacheFieldsInItsSchemaGetsNone() {
    for method in ["tools/call", "prompts/get", "completion/complete", "tasks/get"] {
        let result = stamp.apply(to: [:], method: method)
        #expect(result["cacheScope"] == nil && result["ttlMs"] == nil, "\(method)")
    }
}

struct TTLRow: Sendable, CustomTestStringConvertible {
    let testDescription: String
    let upstream: JSONValue?
    let expected: Int64
}

private let ttlRows: [TTLRow] = [
    .init(testDescription: "none: the bound", upstream: nil, expected: 60_000),
    .init(testDescription: "shorter: the upstream's", upstream: 5_000, expected: 5_000),
    .init(testDescription: "longer: the bound", upstream: 3_600_000, expected: 60_000),
    .init(testDescription: "zero stays zero", upstream: 0, expected: 0),
    .init(testDescription: "an integral real", upstream: 2000.0, expected: 2_000),
    .init(testDescription: "negative: stale", upstream: -1, expected: 0),
    .init(testDescription: "a fraction: stale", upstream: 1.5, expected: 0),
    .init(testDescription: "a string: stale", upstream: "100", expected: 0),
    .init(testDescription: "past Int64: the bound", upstream: .number("99999999999999999999999"), expected: 60_000),
]

@Test(arguments: ttlRows)
func aCacheableResultIsPrivateAndKeptNoLongerThanUpstreamOrBound(_ row: TTLRow) {
    for method in MCPMethod.allCases where method.hasCacheFields {
        var upstream: JSONObject = ["tools": [], "cacheScope": "public"]
        upstream["ttlMs"] = row.upstream
        let result = stamp.apply(to: upstream, method: method.rawValue)
        #expect(result["cacheScope"] == "private", "\(method)")
        #expect(result["ttlMs"] == .integer(row.expected), "\(method)")
        #expect(result["resultType"] == "complete")
    }
}

@Test func theMethodsWithCacheFieldsAreDiscoverTheListsAndRead() {
    let cacheable = Set(MCPMethod.allCases.filter(\.hasCacheFields).map(\.rawValue))
    #expect(cacheable == ["server/discover", "tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read"])
}

@Test func aResultAskingForInputGetsNoCacheFields() {
    let result = stamp.apply(to: ["resultType": "input_required", "inputRequests": [:]], method: "resources/read")
    #expect(result["cacheScope"] == nil && result["ttlMs"] == nil)
}

@Test func theGatewaysIdentityIsStampedWhereTheResultHasNone() {
    let stamping = ModernResultStamp(ttlBound: CacheTTL(milliseconds: 0), serverInfo: info)
    let key = ModernProtocol.MetaKey.serverInfo
    #expect(stamping.apply(to: [:], method: "tools/call")["_meta"] == [key: .object(info)])
    #expect(stamping.apply(to: ["_meta": ["progressToken": 1]], method: "tools/call")["_meta"] == ["progressToken": 1, key: .object(info)])
    #expect(stamping.apply(to: ["_meta": [key: .null]], method: "tools/call")["_meta"] == [key: .object(info)])
    // An upstream's own identity, and a _meta that is not an object, are left as they are.
    #expect(stamping.apply(to: ["_meta": [key: ["name": "up"]]], method: "tools/call")["_meta"] == [key: ["name": "up"]])
    #expect(stamping.apply(to: ["_meta": "odd"], method: "tools/call")["_meta"] == "odd")
    #expect(stamp.apply(to: [:], method: "tools/call")["_meta"] == nil)
}

@Test func aHeaderValueIsReadPlainOrFromCanonicalBase64() {
    #expect(HeaderValueEncoding.decode("plain value") == "plain value")
    #expect(HeaderValueEncoding.decode("=?base64?w6kgdQ==?=") == "é u")
    #expect(HeaderValueEncoding.decode("=?base64??=") == "")
    #expect(HeaderValueEncoding.decode("=?base64?=") == "=?base64?=")  // too short to be a sentinel
    #expect(HeaderValueEncoding.decode("=?base64?YR==?=") == nil)  // non-zero trailing bits
    #expect(HeaderValueEncoding.decode("=?base64?YQ?=") == nil)  // padding left out
    #expect(HeaderValueEncoding.decode("=?base64?/w==?=") == nil)  // not UTF-8
    #expect(HeaderValueEncoding.decode("=?base64?!!!!?=") == nil)
}

@Test func aHeaderValueIsWrittenPlainOrInBase64AndReadsBackTheSame() {
    #expect(HeaderValueEncoding.encode("eu-west 1") == "eu-west 1")
    #expect(HeaderValueEncoding.encode("é u") == "=?base64?w6kgdQ==?=")
    #expect(HeaderValueEncoding.encode(" padded") == "=?base64?IHBhZGRlZA==?=")
    #expect(HeaderValueEncoding.encode("line\nbreak") == "=?base64?bGluZQpicmVhaw==?=")
    // A plain value that looks like the sentinel is wrapped, so it is never read as one.
    #expect(HeaderValueEncoding.encode("=?base64?YQ==?=") == "=?base64?PT9iYXNlNjQ/WVE9PT89?=")
    for value in ["plain", "é u", " x ", "=?base64??=", "", "tab\there"] {
        #expect(HeaderValueEncoding.decode(HeaderValueEncoding.encode(value)) == value)
    }
}

@Test func aModernRequestToARemoteServerCarriesItsRoutingHeaders() {
    let schema: JSONValue = ["type": "object", "properties": [
        "region": ["type": "string", "x-mcp-header": "Region"], "count": ["type": "integer", "x-mcp-header": "Count"],
        "flag": ["type": "boolean", "x-mcp-header": "Flag"], "note": ["type": "string"],
    ]]
    let params: JSONObject = ["name": "wé", "arguments": ["region": "eu", "count": 3, "flag": false, "note": "n"]]
    let headers = ModernRequestHeaders.headers(version: "2026-07-28", method: "tools/call", params: params, declarations: ParamHeaderDeclarations(inputSchema: schema))
    #expect(headers.map { "\($0.name): \($0.value)" }.sorted() == [
        "MCP-Protocol-Version: 2026-07-28", "Mcp-Method: tools/call", "Mcp-Name: =?base64?d8Op?=",
        "Mcp-Param-Count: 3", "Mcp-Param-Flag: false", "Mcp-Param-Region: eu",
    ])
    // An absent or null argument has no header; a method that names nothing has no Mcp-Name.
    let sparse = ModernRequestHeaders.headers(version: "2026-07-28", method: "tools/call", params: ["name": "t", "arguments": ["region": .null]],
                                              declarations: ParamHeaderDeclarations(inputSchema: schema))
    #expect(sparse.map(\.name) == ["MCP-Protocol-Version", "Mcp-Method", "Mcp-Name"])
    #expect(ModernRequestHeaders.headers(version: "2026-07-28", method: "resources/read", params: ["uri": "file:///a"], declarations: nil).last?.value == "file:///a")
    #expect(ModernRequestHeaders.headers(version: "2026-07-28", method: "tools/list", params: [:], declarations: nil).count == 2)
}

@Test func anInvalidAnnotationMakesTheSchemaDeclareNothing() {
    func declarations(_ schema: JSONValue) -> [String]? { ParamHeaderDeclarations(inputSchema: schema)?.declarations.map(\.header) }
    #expect(declarations(["type": "object", "properties": ["a": ["type": "string", "x-mcp-header": "A"]]]) == ["Mcp-Param-A"])
    #expect(declarations(["type": "object", "properties": ["a": ["type": "number", "x-mcp-header": "A"]]]) == nil)
    #expect(declarations(["type": "object", "properties": ["a": ["type": "string", "x-mcp-header": "A B"]]]) == nil)
    #expect(declarations(["type": "object", "properties": ["a": ["type": "string", "x-mcp-header": 1]]]) == nil)
    #expect(declarations(["type": "object", "properties": [
        "a": ["type": "string", "x-mcp-header": "X"], "b": ["type": "integer", "x-mcp-header": "x"],
    ]]) == nil)
    // Reachable only through items, or on the root itself: not a pure properties chain.
    #expect(declarations(["type": "array", "items": ["type": "string", "x-mcp-header": "A"]]) == nil)
    #expect(declarations(["type": "string", "x-mcp-header": "A"]) == nil)
    // Instance data is not a schema position.
    #expect(declarations(["type": "object", "default": ["x-mcp-header": 5]]) == [])
}

// The byte-level forms of the rewrites: what they keep, and when they decline.
@Test func aSplicedReplyKeepsTheUpstreamsBytesButTheIDAndResultType() throws {
    let bytes = Array(#"{"jsonrpc":"2.0", "id" : "orch-7","result":{"content":[{"type":"text","text":"id: \"orch-7\" {}"}],"isError":false}}"#.utf8)
    let value = try JSONValue.parse(bytes)
    let spliced = try #require(ModernForwarding.splicedReply(bytes, value, id: 42, method: .toolsCall))
    let text = String(decoding: spliced, as: UTF8.self)
    #expect(text == #"{"jsonrpc":"2.0", "id" : 42,"result":{"resultType":"complete","content":[{"type":"text","text":"id: \"orch-7\" {}"}],"isError":false}}"#)
    // The same members as rewriting the value and encoding it (in another order).
    let stamp = ModernResultStamp(ttlBound: CacheTTL(milliseconds: 30_000), serverInfo: nil)
    let parsed = try JSONValue.parse(spliced)
    let rewritten = ModernForwarding.reply(value, id: 42, method: "tools/call", stamp: stamp)
    for key in ["jsonrpc", "id"] { #expect(parsed[key] == rewritten[key]) }
    for key in ["content", "isError", "resultType"] { #expect(parsed["result"]?[key] == rewritten["result"]?[key]) }
    #expect(parsed["result"]?.objectValue?.count == rewritten["result"]?.objectValue?.count)
    // An empty result, and an error whose code stays.
    let empty = Array(#"{"id":"orch-1","jsonrpc":"2.0","result":{}}"#.utf8)
    #expect(ModernForwarding.splicedReply(empty, try JSONValue.parse(empty), id: "a", method: .toolsCall).map { String(decoding: $0, as: UTF8.self) }
            == #"{"id":"a","jsonrpc":"2.0","result":{"resultType":"complete"}}"#)
    let error = Array(#"{"jsonrpc":"2.0","id":"orch-2","error":{"code":-32603,"message":"x"}}"#.utf8)
    #expect(ModernForwarding.splicedReply(error, try JSONValue.parse(error), id: 3, method: .toolsCall).map { String(decoding: $0, as: UTF8.self) }
            == #"{"jsonrpc":"2.0","id":3,"error":{"code":-32603,"message":"x"}}"#)
    // Declined: cache fields to stamp, a resultType already, a code the era changes, an id written with escapes.
    let list = Array(#"{"jsonrpc":"2.0","id":"orch-3","result":{"tools":[]}}"#.utf8)
    #expect(ModernForwarding.splicedReply(list, try JSONValue.parse(list), id: 1, method: .toolsList) == nil)
    let typed = Array(#"{"jsonrpc":"2.0","id":"orch-4","result":{"resultType":"complete"}}"#.utf8)
    #expect(ModernForwarding.splicedReply(typed, try JSONValue.parse(typed), id: 1, method: .toolsCall) == nil)
    let missing = Array(#"{"jsonrpc":"2.0","id":"orch-5","error":{"code":-32002,"message":"Resource not found"}}"#.utf8)
    #expect(ModernForwarding.splicedReply(missing, try JSONValue.parse(missing), id: 1, method: .resourcesRead) == nil)
    let escaped = Array(#"{"jsonrpc":"2.0","\u0069d":"orch-6","result":{}}"#.utf8)
    #expect(ModernForwarding.splicedReply(escaped, try JSONValue.parse(escaped), id: 1, method: .toolsCall) == nil)
}

@Test func aSplicedRequestCarriesTheLegsIDAndEverythingElseAsWritten() throws {
    let bytes = Array(#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","id":9,"arguments":{"id":"x"}},"id":9}"#.utf8)
    let spliced = try #require(ModernForwarding.splicedRequest(bytes, upstreamID: "orch-1", cutsEnvelope: false))
    #expect(String(decoding: spliced, as: UTF8.self) == #"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","id":9,"arguments":{"id":"x"}},"id":"orch-1"}"#)
    #expect(ModernForwarding.splicedRequest(Array(#"{"jsonrpc":"2.0","method":"x","\u0069d":1}"#.utf8), upstreamID: "orch-2", cutsEnvelope: false) == nil)
}

@Test func aRequestForAHandshakeEraServerLosesItsEnvelopeAndKeepsTheRestOfItsMeta() throws {
    let bytes = Array(#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","progressToken":"p","io.modelcontextprotocol/clientCapabilities":{"a":{}}}}}"#.utf8)
    let cut = try #require(ModernForwarding.splicedRequest(bytes, upstreamID: 41, cutsEnvelope: true))
    #expect(String(decoding: cut, as: UTF8.self) == #"{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"echo","_meta":{"progressToken":"p"}}}"#)
    let kept = try #require(ModernForwarding.splicedRequest(bytes, upstreamID: 42, cutsEnvelope: false))
    #expect(try JSONValue.parse(kept)["params"] == JSONValue.parse(bytes)["params"])
    // An envelope key written twice cannot be cut as written.
    let twice = Array(#"{"jsonrpc":"2.0","id":3,"method":"x","params":{"_meta":{"io.modelcontextprotocol/clientInfo":1,"io.modelcontextprotocol/clientInfo":2}}}"#.utf8)
    #expect(ModernForwarding.splicedRequest(twice, upstreamID: 43, cutsEnvelope: true) == nil)
}

@Test func aListingKeepsTheSchemasOfTheToolsThatDeclareParamHeaders() throws {
    var listing = ServerListing()
    listing.tools = [
        ["name": "plain", "inputSchema": ["type": "object", "properties": ["a": ["type": "string"]]]],
        ["name": "routed", "inputSchema": ["type": "object", "properties": ["region": ["type": "string", "x-mcp-header": "Region"]]]],
        ["name": "broken", "inputSchema": ["type": "object", "properties": ["o": ["type": "object", "x-mcp-header": "O"]]]],
    ]
    #expect(Array(listing.headerSchemas.keys) == ["routed"])
}

@Test func anIDWrittenDirectlyIsTheIDAsEncoded() throws {
    let ids: [JSONValue] = [0, 7, -1, 42, .integer(Int64.max), .integer(Int64.min), "orch-12", "", "a b", "q\"uote", "back\\slash", "é", "tab\t", 1.5, .null]
    for id in ids {
        var written: [UInt8] = []
        ModernForwarding.write(id, into: &written)
        #expect(try JSONValue.parse(written) == id, "\(id)")
        if case .integer = id { #expect(written == MCPSession.encode(id), "\(id)") }
        if case .string(let text) = id, text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) {
            #expect(written == Array("\"\(text)\"".utf8))
        }
    }
}
