import Foundation
import Synchronization
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import OrchJSON
import OrchPolicy
import Testing

@testable import OrchGateway

// One table of MCP requests, run through every way into the gateway: the router's per-server,
// short-form and aggregated endpoints in both eras (a handshake-era session, and 2026-07-28 with
// its envelope and routing headers), and the NIO fast path (through a testing channel, handing
// what it does not answer to the router as the connection does). Each way must decide, answer and
// audit every case alike: the era changes the framing and the HTTP status, never the decision.

/// One request of the table and what any way in must make of it.
struct ConformanceCase: Sendable, CustomTestStringConvertible {
    enum Outcome: Sendable {
        /// A result; `check` reads it (nil: any result).
        case result(@Sendable (JSONValue) -> String?)
        /// A JSON-RPC error with this code.
        case error(Int64)
        /// Refused before any MCP is read, with this HTTP status.
        case http(HTTPResponse.Status)
    }

    let name: String
    let method: String
    /// The params as the per-server endpoints take them; `Adapter.params` renames them for the
    /// aggregated ones.
    let params: JSONObject
    var token: String = Tokens.bob
    let outcome: Outcome
    /// The audit record the case leaves: its decision, and the item's kind (tool, prompt or
    /// resource) and name.
    var audited: (decision: String, kind: String, target: String)? = nil

    var testDescription: String { name }

    var isRefusedAtTheDoor: Bool {
        if case .http = outcome { return true }
        return false
    }

    static let all: [ConformanceCase] = [
        ConformanceCase(
            name: "an allowed tool is called", method: "tools/call", params: ["name": "echo", "arguments": ["text": "conformance"]],
            outcome: .result { $0["content"]?.arrayValue?.first?["text"] == "conformance" ? nil : "no echo in \($0.compact)" },
            audited: ("allow", "tool", "echo")),
        ConformanceCase(
            name: "a tool the role does not grant is refused", method: "tools/call", params: ["name": "delete_note", "arguments": ["name": "x"]],
            outcome: .error(-32602), audited: ("deny", "tool", "delete_note")),
        ConformanceCase(
            name: "a tool the role denies is refused though it also allows it", method: "tools/call",
            params: ["name": "write_note", "arguments": ["name": "x", "text": "y"]], outcome: .error(-32602),
            audited: ("deny", "tool", "write_note")),
        ConformanceCase(
            name: "an admin calls what a member may not", method: "tools/call", params: ["name": "delete_note", "arguments": ["name": "absent"]],
            token: Tokens.alice, outcome: .result { _ in nil }),
        ConformanceCase(
            name: "a tool call without a name is refused", method: "tools/call", params: ["arguments": [:]], outcome: .error(-32602)),
        ConformanceCase(
            name: "a tool the server does not have is refused as one not granted", method: "tools/call",
            params: ["name": "nonexistent", "arguments": [:]], outcome: .error(-32602), audited: ("deny", "tool", "nonexistent")),
        ConformanceCase(
            name: "a completion of a prompt the role does not grant is refused", method: "completion/complete",
            params: ["ref": ["type": "ref/prompt", "name": "summarize"], "argument": ["name": "topic", "value": ""]],
            outcome: .error(-32602), audited: ("deny", "prompt", "summarize")),
        ConformanceCase(
            name: "a token the gateway does not know is refused", method: "tools/call", params: ["name": "echo", "arguments": ["text": "x"]],
            token: "orch_not-a-key-of-anyone", outcome: .http(.unauthorized)),
        ConformanceCase(
            name: "a method the gateway does not forward is refused", method: "tools/frobnicate", params: [:], outcome: .error(-32601)),
        ConformanceCase(
            name: "a list holds only what the caller may use", method: "tools/list", params: [:],
            outcome: .result { result in
                let names = result["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
                return names == ["add", "echo", "now"] ? nil : "tools \(names)"
            }),
        ConformanceCase(
            name: "a readable resource is read", method: "resources/read", params: ["uri": "notes://index"],
            outcome: .result { $0["contents"]?.arrayValue?.isEmpty == false ? nil : "no contents in \($0.compact)" },
            audited: ("allow", "resource", "notes://index")),
        ConformanceCase(
            name: "a resource the caller may not read is refused", method: "resources/read", params: ["uri": "notes://readme"],
            outcome: .error(-32602), audited: ("deny", "resource", "notes://readme")),
        ConformanceCase(
            name: "a prompt the role does not grant is refused", method: "prompts/get", params: ["name": "summarize", "arguments": ["topic": "x"]],
            outcome: .error(-32602), audited: ("deny", "prompt", "summarize")),
    ]
}

/// A way into the gateway's MCP layer.
enum Adapter: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case session = "per-server session"
    case shortFormSession = "short-form session"
    case aggregateSession = "aggregated session"
    case modern = "per-server 2026-07-28"
    case shortFormModern = "short-form 2026-07-28"
    case aggregateModern = "aggregated 2026-07-28"
    case fastSession = "fast path, session"
    case fastModern = "fast path, 2026-07-28"
    case fastAggregate = "fast path, aggregated session"
    case legacySSE = "per-server HTTP+SSE"
    case aggregateLegacySSE = "aggregated HTTP+SSE"

    var testDescription: String { rawValue }

    var path: String {
        switch self {
        case .session, .modern, .fastSession, .fastModern: "/orgs/acme/servers/notes/mcp"
        case .shortFormSession, .shortFormModern: "/servers/notes/mcp"
        case .aggregateSession, .aggregateModern, .fastAggregate: "/orgs/acme/mcp"
        case .legacySSE: "/orgs/acme/servers/notes/sse"
        case .aggregateLegacySSE: "/orgs/acme/sse"
        }
    }

    /// The legacy HTTP+SSE transport: a GET opens the session's one stream, requests are POSTed
    /// to `messages` and answered 202, and their replies come on the stream.
    var isLegacySSE: Bool { self == .legacySSE || self == .aggregateLegacySSE }

    var isModern: Bool { self == .modern || self == .shortFormModern || self == .aggregateModern || self == .fastModern }
    var isAggregated: Bool { self == .aggregateSession || self == .aggregateModern || self == .fastAggregate || self == .aggregateLegacySSE }
    var isFast: Bool { self == .fastSession || self == .fastModern || self == .fastAggregate }

    /// Where a legacy stream's session POSTs its messages.
    func messagesPath(_ session: String) -> String {
        "\(path.dropLast("/sse".count))/messages?sessionId=\(session)"
    }

    /// Whether the case can be sent this way: a short form names alice's `notes` in two orgs.
    func takes(_ item: ConformanceCase) -> Bool { !(path.hasPrefix("/servers/") && item.token == Tokens.alice) }

    /// The case's params as this endpoint names things: an aggregated endpoint's tools and prompts
    /// carry their server's prefix, and its resources an exposed URI.
    func params(_ item: ConformanceCase) -> JSONObject {
        guard isAggregated else { return item.params }
        var params = item.params
        if case .string(let name)? = params["name"] { params["name"] = .string("notes__\(name)") }
        if case .string(let uri)? = params["uri"] { params["uri"] = .string(ExposedURI.make(prefix: "notes", uri: uri)) }
        if case .object(var ref)? = params["ref"], case .string(let name)? = ref["name"] {
            ref["name"] = .string("notes__\(name)")
            params["ref"] = .object(ref)
        }
        return params
    }

    /// The tools a list names, as this endpoint exposes them (the aggregate also lists `clock`'s).
    func listed(_ result: JSONValue) -> JSONValue {
        guard isAggregated, case .object(var object) = result, let tools = object["tools"]?.arrayValue else { return result }
        object["tools"] = .array(tools.compactMap { tool in
            guard case .object(var entry) = tool, let name = entry["name"]?.stringValue, name.hasPrefix("notes__") else { return nil }
            entry["name"] = .string(String(name.dropFirst("notes__".count)))
            return .object(entry)
        })
        return .object(object)
    }
}

/// What came back for one request: its HTTP status and JSON-RPC reply, and whether the fast path
/// answered it itself.
private struct Observed {
    var status: HTTPResponse.Status
    var reply: JSONValue
    var answeredByFastPath = false
    /// The request's id, for a reply that comes later on a legacy stream.
    var id: JSONValue = .null
}

/// Sends requests one way in, opening what that way needs first (a session, a held leg).
private final class Driver: @unchecked Sendable {
    let adapter: Adapter
    let gateway: Gateway
    let client: any TestClientProtocol
    /// A session per token, for the handshake-era ways.
    private var sessions: [String: String] = [:]
    private var nextID = 1

    init(_ adapter: Adapter, gateway: Gateway, client: any TestClientProtocol) {
        (self.adapter, self.gateway, self.client) = (adapter, gateway, client)
    }

    func send(_ item: ConformanceCase) async throws -> Observed {
        nextID += 1
        let id = JSONValue.integer(Int64(nextID))
        var params = adapter.params(item)
        // A token refused at the door is sent on what bob opened.
        let opener = item.isRefusedAtTheDoor ? Tokens.bob : item.token
        var headers: HTTPFields = [.authorization: "Bearer \(item.token)", .contentType: "application/json", .accept: "application/json, text/event-stream"]
        if adapter.isLegacySSE {
            let session = try await legacyStream(opener)
            let body = JSONValue.object(["jsonrpc": "2.0", "id": id, "method": .string(item.method), "params": .object(params)]).compact
            var observed = try await post(adapter.messagesPath(session), token: item.token, body)
            observed.id = id
            return observed
        } else if adapter.isModern {
            var meta = params["_meta"]?.objectValue ?? [:]
            meta[ModernProtocol.MetaKey.protocolVersion] = "2026-07-28"
            meta[ModernProtocol.MetaKey.clientCapabilities] = [:]
            params["_meta"] = .object(meta)
            headers[.protocolVersion] = "2026-07-28"
            headers[HTTPField.Name("Mcp-Method")!] = item.method
            if let name = (params["name"] ?? params["uri"])?.stringValue { headers[HTTPField.Name("Mcp-Name")!] = name }
            try await openLeg(opener)
        } else {
            headers[.sessionID] = try await session(opener)
        }
        let body = JSONValue.object(["jsonrpc": "2.0", "id": id, "method": .string(item.method), "params": .object(params)]).compact
        if adapter.isFast { return try await throughFastPath(headers: headers, body: body) }
        return try await throughRouter(headers: headers, body: body)
    }

    private func throughRouter(headers: HTTPFields, body: String) async throws -> Observed {
        try await client.execute(uri: adapter.path, method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
            Observed(status: response.status, reply: (try? JSONValue.parse(String(buffer: response.body))) ?? .null)
        }
    }

    /// The request as the HTTP decoder hands it to `FastPath`: its answer, or, when it hands the
    /// request on, the router's.
    private func throughFastPath(headers: HTTPFields, body: String) async throws -> Observed {
        let channel = NIOAsyncTestingChannel()
        let observed = try await answer(on: channel, headers: headers, body: body)
        _ = try? await channel.finish()
        return observed
    }

    private func answer(on channel: NIOAsyncTestingChannel, headers: HTTPFields, body: String) async throws -> Observed {
        try await channel.pipeline.addHandler(FastPath(gateway: gateway, remote: nil))
        var request = HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1", path: adapter.path)
        request.headerFields = headers
        let head = request
        try await channel.testingEventLoop.executeInContext {
            for part: HTTPRequestPart in [.head(head), .body(ByteBuffer(string: body)), .end(nil)] { channel.pipeline.fireChannelRead(part) }
            channel.pipeline.fireChannelReadComplete()
        }
        var status: HTTPResponse.Status?
        var text = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if case .head? = try await channel.readInbound(as: HTTPRequestPart.self) {
                return try await throughRouter(headers: headers, body: body)
            }
            switch try await channel.readOutbound(as: HTTPResponsePart.self) {
            case .head(let response)?: status = response.status
            case .body(let buffer)?: text += String(buffer: buffer)
            case .end?: return Observed(status: status ?? .internalServerError, reply: (try? JSONValue.parse(text)) ?? .null, answeredByFastPath: true)
            case nil: try await Task.sleep(for: .milliseconds(5))
            }
        }
        Issue.record("the fast path neither answered nor handed on the request in 10 s")
        return Observed(status: .gatewayTimeout, reply: .null)
    }

    private func post(_ path: String, token: String, _ body: String) async throws -> Observed {
        let headers: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json"]
        return try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
            Observed(status: response.status, reply: (try? JSONValue.parse(String(buffer: response.body))) ?? .null)
        }
    }

    /// Each token's legacy stream: the session it opened and the stream's text, read whole once
    /// the session ends.
    private var streams: [String: (session: String, text: Task<String, any Error>)] = [:]

    /// The session of `token`'s legacy stream, opened (and initialized) on first use.
    private func legacyStream(_ token: String) async throws -> String {
        if let stream = streams[token] { return stream.session }
        let known = openSessionIDs
        let client = self.client, path = adapter.path
        let text = Task {
            try await client.execute(uri: path, method: .get, headers: [.authorization: "Bearer \(token)", .accept: "text/event-stream"]) {
                String(buffer: $0.body)
            }
        }
        // The stream's first event names the session; the router's client hands over the body
        // only at its end, so the session is found as the one that appeared.
        var session: String?
        for _ in 0..<400 where session == nil {
            session = openSessionIDs.subtracting(known).first
            if session == nil { try await Task.sleep(for: .milliseconds(25)) }
        }
        let opened = try #require(session, "no session opened by GET \(path)")
        streams[token] = (opened, text)
        let messages = adapter.messagesPath(opened)
        #expect(try await post(messages, token: token, JSONValue.object(["jsonrpc": "2.0", "id": "orch-init", "method": "initialize",
            "params": ["protocolVersion": "2024-11-05", "capabilities": [:], "clientInfo": ["name": "conformance", "version": "1"]]]).compact).status == .accepted)
        #expect(try await post(messages, token: token, #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).status == .accepted)
        if adapter.isAggregated {
            _ = try await post(messages, token: token, #"{"jsonrpc":"2.0","id":"orch-list","method":"tools/list"}"#)
        }
        return opened
    }

    /// The ids of the sessions open now, of the kind this adapter opens.
    private var openSessionIDs: Set<String> {
        adapter.isAggregated ? Set(gateway.aggregates.all.map(\.id)) : Set(gateway.sessions.all.map(\.id))
    }

    /// Ends the legacy streams and fills each observation in with the reply its stream carried.
    func settle(_ observed: [Observed]) async throws -> [Observed] {
        guard adapter.isLegacySSE else { return observed }
        // A refusal is on the stream when its POST is answered; a forwarded request, once no
        // session (an aggregated one's members included) waits for a reply any more.
        for _ in 0..<400 where gateway.sessions.all.contains(where: { $0.pendingCount > 0 }) {
            try await Task.sleep(for: .milliseconds(25))
        }
        var replies: [String: JSONValue] = [:]
        for (_, stream) in streams {
            if adapter.isAggregated { gateway.aggregates.session(stream.session)?.end("the conformance run is over") }
            else { gateway.sessions.session(stream.session)?.end(.stopped("the conformance run is over")) }
            for line in try await stream.text.value.split(separator: "\n") where line.hasPrefix("data: ") {
                guard let message = try? JSONValue.parse(String(line.dropFirst("data: ".count))), let id = message["id"] else { continue }
                replies[id.compact] = message
            }
        }
        return observed.map { item in
            var item = item
            if item.status == .accepted { item.reply = replies[item.id.compact] ?? .null }
            return item
        }
    }

    private func session(_ token: String) async throws -> String {
        if let session = sessions[token] { return session }
        let session = try await client.openSession(adapter.path, token: token)
        sessions[token] = session
        if adapter.isAggregated {
            // A member starts on the first request that needs it: a call the fast path may take then finds it running.
            _ = try await client.mcp(path: adapter.path, token: token, session: session, #"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        }
        return session
    }

    /// The key's held leg, opened by the router's first 2026-07-28 request (the fast path serves a
    /// leg that is open).
    private var legs: Set<String> = []
    private func openLeg(_ token: String) async throws {
        guard !legs.contains(token) else { return }
        legs.insert(token)
        var headers: HTTPFields = [
            .authorization: "Bearer \(token)", .contentType: "application/json", .accept: "application/json", .protocolVersion: "2026-07-28",
            HTTPField.Name("Mcp-Method")!: "server/discover",
        ]
        headers[.contentType] = "application/json"
        let body = #"{"jsonrpc":"2.0","id":0,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#
        let status = try await client.execute(uri: adapter.path, method: .post, headers: headers, body: ByteBuffer(string: body)) { $0.status }
        #expect(status == .ok, "server/discover on \(adapter.path)")
    }
}

/// The HTTP status a reply comes with: a handshake-era session answers every JSON-RPC reply 200
/// (202 on a legacy stream's POST, the reply coming on the stream); 2026-07-28 gives an error the
/// status of its code.
private func expectedStatus(_ outcome: ConformanceCase.Outcome, _ adapter: Adapter) -> HTTPResponse.Status {
    if case .http(let status) = outcome { return status }
    if adapter.isLegacySSE { return .accepted }
    guard adapter.isModern, case .error(let code) = outcome else { return .ok }
    return ModernErrorStatus.status(forCode: code)
}

@Test(arguments: Adapter.allCases)
func everyWayInDecidesAnswersAndAuditsTheTableAlike(_ adapter: Adapter) async throws {
    let g = try TestGateway(json: mcpPolicyJSON(pageSize: 10))
    let cases = ConformanceCase.all.filter(adapter.takes)
    let fast = Mutex<[String]>([])
    try await g.test { client in
        let driver = Driver(adapter, gateway: g.gateway, client: client)
        var sent: [Observed] = []
        for item in cases { sent.append(try await driver.send(item)) }
        for (item, observed) in zip(cases, try await driver.settle(sent)) {
            if observed.answeredByFastPath { fast.withLock { $0.append(item.name) } }
            #expect(observed.status == expectedStatus(item.outcome, adapter), "\(item.name): \(observed.reply.compact)")
            switch item.outcome {
            case .result(let check):
                guard let result = observed.reply["result"] else {
                    Issue.record("\(item.name): no result in \(observed.reply.compact)")
                    continue
                }
                if let problem = check(adapter.listed(result)) { Issue.record("\(item.name): \(problem)") }
                if adapter.isModern { #expect(result["resultType"] == "complete", "\(item.name)") }
            case .error(let code):
                #expect(observed.reply["error"]?["code"] == .integer(code), "\(item.name): \(observed.reply.compact)")
            case .http:
                #expect(!observed.answeredByFastPath, "\(item.name): the router answers and audits a refused token")
                continue
            }
            #expect(observed.reply["id"] != nil && observed.reply["id"] != .null, "\(item.name): the reply carries the request's id")
        }
    }
    if adapter.isFast {
        // The fast path answers calls on what is open itself; the rest it hands to the router.
        #expect(fast.withLock { $0 }.contains("an allowed tool is called"), "\(fast.withLock { $0 })")
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }
    for item in cases {
        guard let audited = item.audited else { continue }
        #expect(records.contains { record in
            record["method"] == .string(item.method) && record["decision"] == .string(audited.decision)
                && record["kind"] == .string(audited.kind) && record["target"] == .string(audited.target)
                && record["server"] == "notes" && record["user"] == "bob"
        }, "\(item.name): no \(audited.decision) record of \(audited.kind) \(audited.target)")
    }
}
