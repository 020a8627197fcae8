import HTTPTypes
import OrchJSON
import Testing

@testable import OrchGateway

/// Each rung of a 2026-07-28 request's reading, one refusal kind a row, with the request built inline.
private let modern = "2026-07-28"
private let envelope: JSONObject = [
    ModernProtocol.MetaKey.protocolVersion: .string(modern), ModernProtocol.MetaKey.clientCapabilities: ["sampling": [:]],
]
private let schema: JSONValue = [
    "type": "object",
    "properties": [
        "region": ["type": "string", "x-mcp-header": "Region"],
        "count": ["type": "integer", "x-mcp-header": "Count"],
        "options": ["type": "object", "properties": ["mode": ["type": "string", "x-mcp-header": "Mode"]]],
    ],
]

private func fields(_ pairs: [(String, String)]) -> HTTPFields {
    HTTPFields(pairs.map { HTTPField(name: HTTPField.Name($0.0)!, value: $0.1) })
}

/// The headers a conforming client sends for `method` (with `Mcp-Name: name`), then `extra`.
private func headers(_ method: String?, version: String? = modern, name: String? = nil, _ extra: [(String, String)] = []) -> HTTPFields {
    var pairs: [(String, String)] = []
    if let version { pairs.append(("MCP-Protocol-Version", version)) }
    if let method { pairs.append(("Mcp-Method", method)) }
    if let name { pairs.append(("Mcp-Name", name)) }
    return fields(pairs + extra)
}

private func request(_ method: String, _ params: JSONObject = [:], meta: JSONValue? = .object(envelope), id: JSONValue = 7) -> JSONRPCMessage {
    var params = params
    params["_meta"] = meta
    return .request(id: id, method: method, params: params)
}

private func call(_ arguments: JSONObject, _ params: [(String, String)] = [], name: String = "echo") -> (HTTPFields, JSONRPCMessage) {
    (headers("tools/call", name: name, params), request("tools/call", ["name": "echo", "arguments": .object(arguments)]))
}

private func reading(_ headers: HTTPFields, _ message: JSONRPCMessage?, method: HTTPRequest.Method = .post) -> ModernReading {
    ModernReading(method: method, headers: headers, message: message, inputSchema: { $0 == "echo" ? schema : nil })
}

struct RefusalRow: Sendable, CustomTestStringConvertible {
    let testDescription: String
    let headers: HTTPFields
    let message: JSONRPCMessage?
    var method: HTTPRequest.Method = .post
    let refusal: ModernRefusal
}

private func mismatch(_ problem: HeaderMismatch) -> ModernRefusal { .headerMismatch(problem) }
private func param(_ header: String, _ argument: String, _ problem: HeaderMismatch.ParameterProblem) -> ModernRefusal {
    .headerMismatch(.parameter(header: header, argument: argument, problem))
}

private let refusals: [RefusalRow] = [
    .init(testDescription: "GET", headers: headers(nil), message: nil, method: .get, refusal: .methodNotAllowed),
    .init(testDescription: "a posted response", headers: headers(nil), message: .response(id: 1), refusal: .invalidBody),
    .init(testDescription: "duplicated method header", headers: headers("tools/list", [("mcp-method", "tools/list")]),
          message: request("tools/list"), refusal: mismatch(.duplicatedRoutingHeader("mcp-method"))),
    .init(testDescription: "duplicated name header before a missing envelope",
          headers: headers("tools/call", name: "echo", [("Mcp-Name", "echo")]), message: request("tools/call", ["name": "echo"], meta: nil),
          refusal: mismatch(.duplicatedRoutingHeader("mcp-name"))),
    .init(testDescription: "no _meta", headers: headers("tools/list"), message: request("tools/list", meta: nil), refusal: .envelopeNotAnObject),
    .init(testDescription: "_meta a string", headers: headers("tools/list"), message: request("tools/list", meta: "x"), refusal: .envelopeNotAnObject),
    .init(testDescription: "no client capabilities", headers: headers("tools/list"),
          message: request("tools/list", meta: [ModernProtocol.MetaKey.protocolVersion: .string(modern)]),
          refusal: .missingEnvelopeKeys([ModernProtocol.MetaKey.clientCapabilities])),
    .init(testDescription: "neither envelope key", headers: headers("tools/list"), message: request("tools/list", meta: [:]),
          refusal: .missingEnvelopeKeys([ModernProtocol.MetaKey.protocolVersion, ModernProtocol.MetaKey.clientCapabilities])),
    .init(testDescription: "version header differs from the envelope", headers: headers("tools/list", version: "2027-01-01"),
          message: request("tools/list"), refusal: mismatch(.protocolVersion)),
    .init(testDescription: "envelope only, no version header", headers: headers("tools/list", version: nil),
          message: request("tools/list"), refusal: mismatch(.protocolVersion)),
    .init(testDescription: "method header differs", headers: headers("tools/call"), message: request("tools/list"), refusal: mismatch(.method)),
    .init(testDescription: "method header missing", headers: headers(nil), message: request("tools/list"), refusal: mismatch(.method)),
    .init(testDescription: "name header differs", headers: headers("prompts/get", name: "q"), message: request("prompts/get", ["name": "p"]),
          refusal: mismatch(.name(parameter: "name"))),
    .init(testDescription: "uri header missing", headers: headers("resources/read"), message: request("resources/read", ["uri": "mem://a"]),
          refusal: mismatch(.name(parameter: "uri"))),
    .init(testDescription: "unsupported version", headers: headers("tools/list", version: "2027-01-01"),
          message: request("tools/list", meta: .object(envelope.with(ModernProtocol.MetaKey.protocolVersion, "2027-01-01"))),
          refusal: .unsupportedVersion(requested: "2027-01-01", supported: ["2026-07-28"])),
    .init(testDescription: "a header mismatch wins over the unsupported version", headers: headers("tools/call", version: "2027-01-01"),
          message: request("tools/list", meta: .object(envelope.with(ModernProtocol.MetaKey.protocolVersion, "2027-01-01"))),
          refusal: mismatch(.method)),
    .init(testDescription: "param header differs", headers: call(["region": "eu"], [("Mcp-Param-Region", "us")]).0,
          message: call(["region": "eu"]).1, refusal: param("Mcp-Param-Region", "region", .differs)),
    .init(testDescription: "param header missing", headers: call(["count": 2]).0, message: call(["count": 2]).1,
          refusal: param("Mcp-Param-Count", "count", .headerMissing)),
    .init(testDescription: "param header without its argument", headers: call([:], [("Mcp-Param-Mode", "fast")]).0,
          message: call([:]).1, refusal: param("Mcp-Param-Mode", "options.mode", .argumentAbsent)),
    .init(testDescription: "param header duplicated", headers: call(["region": "eu"], [("Mcp-Param-Region", "eu"), ("mcp-param-region", "eu")]).0,
          message: call(["region": "eu"]).1, refusal: param("Mcp-Param-Region", "region", .duplicated)),
    .init(testDescription: "param header malformed", headers: call(["region": "eu"], [("Mcp-Param-Region", "=?base64?ZXU?=")]).0,
          message: call(["region": "eu"]).1, refusal: param("Mcp-Param-Region", "region", .malformedEncoding)),
    .init(testDescription: "integer header with a fraction", headers: call(["count": 2], [("Mcp-Param-Count", "2.5")]).0,
          message: call(["count": 2]).1, refusal: param("Mcp-Param-Count", "count", .differs)),
    .init(testDescription: "ping", headers: headers("ping"), message: request("ping"), refusal: .removedMethod("ping")),
    .init(testDescription: "initialize sent as modern", headers: headers("initialize"), message: request("initialize"),
          refusal: .removedMethod("initialize")),
    .init(testDescription: "logging/setLevel", headers: headers("logging/setLevel"), message: request("logging/setLevel", ["level": "info"]),
          refusal: .removedMethod("logging/setLevel")),
    .init(testDescription: "resources/subscribe", headers: headers("resources/subscribe"),
          message: request("resources/subscribe", ["uri": "mem://a"]), refusal: .removedMethod("resources/subscribe")),
    .init(testDescription: "a notification at an unsupported version", headers: headers(nil, version: "2027-01-01"),
          message: .notification(method: "notifications/initialized", params: [:]),
          refusal: .unsupportedVersion(requested: "2027-01-01", supported: ["2026-07-28"])),
]

@Test(arguments: refusals)
func eachRungRefusesWithItsKind(_ row: RefusalRow) {
    let got = reading(row.headers, row.message, method: row.method)
    guard case .refused(let refusal, let id) = got else { Issue.record("not refused: \(got)"); return }
    #expect(refusal == row.refusal)
    if case .request(let requestID, _, _) = row.message { #expect(id == requestID) } else { #expect(id == nil) }
}

@Test func eachRefusalKindHasItsCodeAndStatus() {
    let expectations: [(ModernRefusal, Int64, HTTPResponse.Status)] = [
        (.invalidBody, -32600, .badRequest), (.envelopeNotAnObject, -32602, .badRequest), (.missingEnvelopeKeys(["k"]), -32602, .badRequest),
        (.headerMismatch(.method), -32020, .badRequest), (.unsupportedVersion(requested: "x", supported: ["y"]), -32022, .badRequest),
        (.removedMethod("ping"), -32601, .notFound),
    ]
    for (refusal, code, status) in expectations {
        #expect(refusal.code == code && refusal.status == status, "\(refusal)")
        #expect(refusal.reply(id: 3)?["error"]?["code"] == .integer(code))
        #expect(refusal.reply(id: 3)?["id"] == 3)
    }
    #expect(ModernRefusal.methodNotAllowed.status == .methodNotAllowed && ModernRefusal.methodNotAllowed.reply(id: 1) == nil)
    let unsupported = ModernRefusal.unsupportedVersion(requested: "2030-01-01", supported: ModernProtocol.versions).reply(id: nil)
    #expect(unsupported?["id"] == .null)
    #expect(unsupported?["error"]?["data"] == ["supported": ["2026-07-28"], "requested": "2030-01-01"])
}

@Test func aRequestThatPassesCarriesItsEnvelope() {
    var meta = envelope
    meta[ModernProtocol.MetaKey.clientInfo] = ["name": "client", "version": "1"]
    let message = request("tools/call", ["name": "echo", "arguments": ["region": "eu", "count": 2]], meta: .object(meta), id: "a")
    let got = reading(headers("tools/call", name: "echo", [("Mcp-Param-Region", "eu"), ("Mcp-Param-Count", "2")]), message)
    guard case .modern(let read) = got else { Issue.record("not modern: \(got)"); return }
    #expect(read.version == modern && read.method == "tools/call" && read.known == .toolsCall && read.id == "a")
    #expect(read.clientCapabilities == ["sampling": [:]])
    #expect(read.clientInfo == ["name": "client", "version": "1"])
    #expect(read.params["arguments"] == ["region": "eu", "count": 2])
    // Without client info the request still passes; the info is just absent.
    guard case .modern(let bare) = reading(headers("tools/list"), request("tools/list")) else { Issue.record("refused"); return }
    #expect(bare.clientInfo == nil)
}

@Test func aModernNotificationIsAcknowledgedAndDropped() {
    let notification = JSONRPCMessage.notification(method: "notifications/cancelled", params: ["requestId": 1])
    #expect(reading(headers("notifications/cancelled"), notification) == .acknowledged(method: "notifications/cancelled"))
    // Only the version is checked: a repeated routing header on a notification is not refused.
    #expect(reading(headers(nil, [("Mcp-Method", "a"), ("Mcp-Method", "b")]), notification) == .acknowledged(method: "notifications/cancelled"))
}

@Test func aParamHeaderIsNotCheckedWithoutTheToolsSchema() {
    let message = request("tools/call", ["name": "other", "arguments": ["region": "eu"]])
    var asked: [String] = []
    let got = ModernReading(method: .post, headers: headers("tools/call", name: "other", [("Mcp-Param-Region", "us")]),
                            message: message, inputSchema: { asked.append($0); return nil })
    guard case .modern = got else { Issue.record("refused: \(got)"); return }
    #expect(asked == ["other"])
    // A call with neither arguments nor Mcp-Param headers does not look the schema up at all.
    asked = []
    _ = ModernReading(method: .post, headers: headers("tools/call", name: "echo"), message: request("tools/call", ["name": "echo"]),
                      inputSchema: { asked.append($0); return schema })
    #expect(asked.isEmpty)
}

struct EraRow: Sendable, CustomTestStringConvertible {
    let testDescription: String
    let headers: HTTPFields
    let message: JSONRPCMessage?
    let era: RequestEra
}

private let eras: [EraRow] = [
    .init(testDescription: "modern version header", headers: headers("tools/list"), message: request("tools/list"), era: .modern),
    .init(testDescription: "unknown version header", headers: headers("tools/list", version: "draft"), message: request("tools/list"), era: .modern),
    .init(testDescription: "legacy version header", headers: headers("tools/list", version: "2025-06-18"), message: request("tools/list", meta: nil),
          era: .legacy),
    .init(testDescription: "legacy version header, modern envelope", headers: headers("tools/list", version: "2025-11-25"),
          message: request("tools/list"), era: .modern),
    .init(testDescription: "modern envelope, no header", headers: headers("tools/list", version: nil), message: request("tools/list"), era: .modern),
    .init(testDescription: "legacy version in the envelope, no header", headers: headers(nil, version: nil),
          message: request("tools/list", meta: [ModernProtocol.MetaKey.protocolVersion: "2025-11-25"]), era: .legacy),
    .init(testDescription: "no version anywhere", headers: headers(nil, version: nil), message: request("tools/list", meta: nil), era: .legacy),
    .init(testDescription: "on a session, modern header", headers: headers("tools/list", [("Mcp-Session-Id", "s")]), message: request("tools/list"),
          era: .legacy),
    .init(testDescription: "initialize with a modern envelope, no header", headers: headers(nil, version: nil), message: request("initialize"),
          era: .legacy),
    .init(testDescription: "initialize with a modern header", headers: headers("initialize"), message: request("initialize"), era: .modern),
    .init(testDescription: "GET without a version", headers: headers(nil, version: nil), message: nil, era: .legacy),
    .init(testDescription: "GET with a modern version", headers: headers(nil), message: nil, era: .modern),
]

@Test(arguments: eras)
func theEraIsDecidedPerRequest(_ row: EraRow) {
    #expect(RequestEra(headers: row.headers, message: row.message) == row.era)
    if row.era == .legacy { #expect(reading(row.headers, row.message) == .legacy) }
}

extension JSONObject {
    fileprivate func with(_ key: String, _ value: JSONValue) -> JSONObject {
        var copy = self
        copy[key] = value
        return copy
    }
}
