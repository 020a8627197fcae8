import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// Servers of the 2026-07-28 era (`orch sample-server --modern`): asked once with server/discover,
// then spoken to in that era, for clients of either era.

private func modernServerPolicy(protocol choice: String? = nil) -> String {
    let field = choice.map { #", "protocol": "\#($0)""# } ?? ""
    return mcpPolicyJSON(extraServers: #", "m": { "command": "\#(orchBinary)", "args": ["sample-server", "--modern"]\#(field) }"#)
}

private let modernPath = "/orgs/acme/servers/m/mcp"

/// The text of alice's GET stream on `session` of the modern server, once the session ends.
private func sessionStream(_ client: some TestClientProtocol, _ session: String) async throws -> String {
    let headers: HTTPFields = [.authorization: "Bearer \(Tokens.alice)", .accept: "text/event-stream", .sessionID: session]
    return try await client.execute(uri: modernPath, method: .get, headers: headers) { String(buffer: $0.body) }
}

/// Ends alice's `session` once what the server sent so far has come: the server sends its messages
/// before it answers the next request, so one more call, then DELETE.
private func endAfterTheServersMessages(_ client: some TestClientProtocol, _ session: String) async throws {
    _ = try await client.call("echo", #"{"text":"x"}"#, session: session, path: modernPath, token: Tokens.alice)
    try await client.execute(uri: modernPath, method: .delete, headers: [.authorization: "Bearer \(Tokens.alice)", .sessionID: session]) { _ in }
}

private func firstText(_ reply: JSONValue) -> String? { reply["result"]?["content"]?.arrayValue?.first?["text"]?.stringValue }

@Test func aHandshakeEraClientOfAModernServerIsServedInItsOwnEra() async throws {
    let g = try TestGateway(json: modernServerPolicy())
    try await g.test { client in
        let opened = try await client.mcp(path: modernPath, token: Tokens.alice, initializeBody)
        #expect(opened.status == .ok)
        // The gateway answers initialize from the server's discover result.
        #expect(opened.body["result"]?["protocolVersion"] == "2025-06-18")
        #expect(opened.body["result"]?["serverInfo"]?["name"] == "orch-sample-server-modern")
        #expect(opened.body["result"]?["capabilities"]?["tools"]?["listChanged"] == true)
        let session = try #require(opened.session)
        #expect(try await client.mcp(path: modernPath, token: Tokens.alice, session: session,
                                     #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).status == .accepted)
        let tools = try await client.mcp(path: modernPath, token: Tokens.alice, session: session, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        let names = tools.body["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names.contains("ask_name") && names.contains("echo"))
        #expect(firstText(try await client.call("echo", #"{"text":"legacy"}"#, session: session, path: modernPath, token: Tokens.alice)) == "legacy")
        // Each request carries the envelope the client's initialize makes.
        let envelope = try JSONValue.parse(try #require(firstText(try await client.call("envelope", session: session, path: modernPath, token: Tokens.alice))))
        #expect(envelope["io.modelcontextprotocol/protocolVersion"] == "2026-07-28")
        #expect(envelope["io.modelcontextprotocol/clientInfo"]?["name"] == "test")
        #expect(envelope["io.modelcontextprotocol/clientCapabilities"] == [:])
        // The era removed ping; the gateway answers it.
        #expect(try await client.aggregate("ping", session: session, path: modernPath, token: Tokens.alice)["result"] == [:])
        // A server that asks for input this client did not declare it can give: -32021, named.
        let asked = try await client.call("ask_name", session: session, path: modernPath, token: Tokens.alice)
        #expect(asked["error"]?["code"] == -32021)
        #expect(asked["error"]?["data"]?["requiredCapabilities"] == ["elicitation"])
        // Authorization holds as for any server: bob may not reach m at all.
        #expect(try await client.mcp(path: modernPath, token: Tokens.bob, initializeBody).status == .notFound)
        let spec = try #require(g.gateway.store.policy.flatMap { policy in policy.server(org: "acme", name: "m").map { policy.server($0).spec } })
        guard case .modern? = g.gateway.eras.era(of: spec) else { Issue.record("the era was not remembered"); return }
    }
}

@Test func aModernClientOfAModernServerIsPassedThrough() async throws {
    let g = try TestGateway(json: modernServerPolicy())
    try await g.test { client in
        let discover = try await client.modern("server/discover", path: modernPath, token: Tokens.alice)
        #expect(discover.body["result"]?["_meta"]?["io.modelcontextprotocol/serverInfo"]?["name"] == "orch-sample-server-modern")
        let echo = try await client.modern("tools/call", ["name": "echo", "arguments": ["text": "modern"]], id: "e1", path: modernPath, token: Tokens.alice)
        #expect(echo.body["id"] == "e1" && firstText(echo.body) == "modern")
        // The client's own envelope goes upstream as it sent it.
        let envelope = try await client.modern("tools/call", ["name": "envelope", "arguments": [:]], path: modernPath, token: Tokens.alice,
                                               envelope: ["io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                                          "io.modelcontextprotocol/clientCapabilities": ["elicitation": [:]]])
        let sent = try JSONValue.parse(try #require(firstText(envelope.body)))
        #expect(sent["io.modelcontextprotocol/clientCapabilities"] == ["elicitation": [:]])
        // Same era: input_required goes back untouched, the server's requestState with it.
        let asked = try await client.modern("tools/call", ["name": "ask_name", "arguments": [:]], path: modernPath, token: Tokens.alice)
        #expect(asked.body["result"]?["resultType"] == "input_required")
        #expect(asked.body["result"]?["requestState"] == "sample-state-1")
        let answered = try await client.modern("tools/call", ["name": "ask_name", "arguments": [:],
                                                              "inputResponses": ["name": ["action": "accept", "content": ["name": "ada"]]],
                                                              "requestState": "sample-state-1"], path: modernPath, token: Tokens.alice)
        #expect(firstText(answered.body) == "hello ada")
        // Decided as any call: a tool outside the caller's scope never reaches the server.
        #expect(try await client.modern("tools/call", ["name": "echo", "arguments": ["text": "x"]], path: modernPath).status == .notFound)
        #expect(g.gateway.sessionCount == 1)
    }
}

@Test func theServersListingsAreFetchedInItsEraAndALegacyServerIsToldApart() async throws {
    let g = try TestGateway(json: modernServerPolicy())
    try await g.test { client in
        let tools = try await client.execute(uri: "/api/v1/tools?server=acme/m", method: .get, headers: [.authorization: "Bearer \(Tokens.alice)"]) {
            try JSONValue.parse(String(buffer: $0.body))
        }
        let names = tools["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names.contains("ask_name"), "\(tools)")
        // A handshake-era server answers the question with an error and is remembered so.
        _ = try await client.openSession()
        let notes = try #require(g.gateway.store.policy.flatMap { policy in policy.server(org: "acme", name: "notes").map { policy.server($0).spec } })
        #expect(g.gateway.eras.era(of: notes) == .legacy)
    }
}

@Test func aServerSaidToSpeak20260728ThatDoesNotFailsItsSessions() async throws {
    let json = mcpPolicyJSON(extraServers: #", "old": { "command": "\#(orchBinary)", "args": ["sample-server"], "protocol": "2026-07-28" }"#)
    try await TestGateway(json: json).test { client in
        let opened = try await client.mcp(path: "/orgs/acme/servers/old/mcp", token: Tokens.alice, initializeBody)
        #expect(opened.status == .badGateway)
        #expect(opened.session == nil)
    }
}

@Test func aServerSaidToSpeakTheHandshakeEraIsNotAsked() async throws {
    let g = try TestGateway(json: modernServerPolicy(protocol: "legacy"))
    try await g.test { client in
        // The modern-only server refuses initialize: nothing asked it first.
        let opened = try await client.mcp(path: modernPath, token: Tokens.alice, initializeBody)
        #expect(opened.body["error"]?["code"] == -32022)
    }
}

@Test func aModernServersListChangesReachTheSessionsStream() async throws {
    let g = try TestGateway(json: modernServerPolicy())
    try await g.test { client in
        let session = try await client.openSession(modernPath, token: Tokens.alice)
        async let stream = sessionStream(client, session)
        #expect(try await waitFor { g.gateway.sessionsWithStream == 1 })
        #expect(firstText(try await client.call("write_note", #"{"name":"a","text":"b"}"#, session: session, path: modernPath, token: Tokens.alice)) == "wrote a")
        try await endAfterTheServersMessages(client, session)
        let events = try await stream
        #expect(events.contains("notifications/resources/list_changed"), "\(events)")
        // The server's acknowledgement of the gateway's own listen is not the client's.
        #expect(!events.contains("notifications/subscriptions/acknowledged"))
    }
}

@Test func aModernServersQuestionIsAskedOnTheHandshakeEraClientsCallAndItsAnswerGoesBack() async throws {
    let g = try TestGateway(json: modernServerPolicy())
    try await g.test { client in
        let initialize = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"test","version":"1"}}}"#
        let opened = try await client.mcp(path: modernPath, token: Tokens.alice, initialize)
        let session = try #require(opened.session)
        let headers: HTTPFields = [.authorization: "Bearer \(Tokens.alice)", .contentType: "application/json",
                                   .accept: "application/json, text/event-stream", .sessionID: session]
        // The call's stream: the server's question comes on it, then the reply.
        async let stream = client.execute(uri: modernPath, method: .post, headers: headers,
                                          body: ByteBuffer(string: #"{"jsonrpc":"2.0","id":"call-1","method":"tools/call","params":{"name":"ask_name","arguments":{}}}"#)) {
            String(buffer: $0.body)
        }
        // The answer goes once the question waits for it (sent before, it would answer nothing).
        #expect(try await waitFor { g.gateway.questionsAwaitingAnswer == 1 })
        let answer = #"{"jsonrpc":"2.0","id":"orch-input-1","result":{"action":"accept","content":{"name":"ada"}}}"#
        #expect(try await client.mcp(path: modernPath, token: Tokens.alice, session: session, answer).status == .accepted)
        let frames = try await stream.split(separator: "\n").filter { $0.hasPrefix("data: ") }.compactMap { try? JSONValue.parse(String($0.dropFirst(6))) }
        #expect(frames.first?["method"] == "elicitation/create")
        #expect(frames.first?["params"]?["message"] == "What is your name?")
        #expect(frames.last?["id"] == "call-1")
        #expect(firstText(try #require(frames.last)) == "hello ada")
    }
    let calls = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["method"] == "tools/call" && $0["tool"] == "ask_name" }
    #expect(calls.count == 1 && calls.first?["decision"] == "allow")
}

// MARK: a handshake-era server's questions, for a 2026-07-28 client

private func askerPolicy(limits: String = #""maxSessionsPerKey": 3, "callTimeoutSeconds": 5"#) -> String {
    mcpPolicyJSON(limits: limits, extraServers: #", "asker": { "command": "\#(orchBinary)", "args": ["sample-server", "--ask-tool"] }"#)
}

private let askerPath = "/orgs/acme/servers/asker/mcp"
private let elicits: JSONObject = ["io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": ["elicitation": [:]]]

private func retry(_ state: JSONValue?, _ answer: JSONValue, question: String = "q1") -> JSONObject {
    ["name": "ask_name", "arguments": [:], "inputResponses": .object([question: answer]), "requestState": state ?? .null]
}

@Test func aHandshakeEraServersQuestionBecomesInputRequiredAndTheRetryAnswersIt() async throws {
    let g = try TestGateway(json: askerPolicy())
    try await g.test { client in
        let first = try await client.modern("tools/call", ["name": "ask_name", "arguments": [:]], id: "c1", path: askerPath, token: Tokens.alice, envelope: elicits)
        #expect(first.status == .ok)
        let result = try #require(first.body["result"])
        #expect(first.body["id"] == "c1")
        #expect(result["resultType"] == "input_required")
        #expect(result["inputRequests"]?["q1"]?["method"] == "elicitation/create")
        #expect(result["inputRequests"]?["q1"]?["params"]?["message"] == "What is your name?")
        let state = try #require(result["requestState"])
        #expect(state.stringValue?.hasPrefix("orch1.") == true)
        let accepted: JSONValue = ["action": "accept", "content": ["name": "ada"]]
        // A changed state, an answer to another question, another call's params: -32602, nothing forwarded.
        var tampered = try #require(state.stringValue)
        tampered.removeLast(2)
        tampered += "AA"
        let forged = try await client.modern("tools/call", retry(.string(tampered), accepted), path: askerPath, token: Tokens.alice, envelope: elicits)
        #expect(forged.status == .badRequest && forged.body["error"]?["code"] == -32602)
        let wrong = try await client.modern("tools/call", retry(state, accepted, question: "q9"), path: askerPath, token: Tokens.alice, envelope: elicits)
        #expect(wrong.body["error"]?["code"] == -32602)
        var other = retry(state, accepted)
        other["arguments"] = ["x": 1]
        let elsewhere = try await client.modern("tools/call", other, path: askerPath, token: Tokens.alice, envelope: elicits)
        #expect(elsewhere.body["error"]?["message"] == "requestState belongs to another call")
        // The real retry answers the server's question, and the call's reply answers it.
        let second = try await client.modern("tools/call", retry(state, accepted), id: "c2", path: askerPath, token: Tokens.alice, envelope: elicits)
        #expect(second.body["id"] == "c2")
        #expect(firstText(second.body) == "hello ada")
        // The call is over: the same state again holds nothing here, so the call runs afresh and
        // the server asks again.
        let again = try await client.modern("tools/call", retry(state, accepted), path: askerPath, token: Tokens.alice, envelope: elicits)
        #expect(again.body["result"]?["resultType"] == "input_required")
        // A client that declared nothing is served by a leg that declared nothing: the server cannot ask.
        let plain = try await client.modern("tools/call", ["name": "ask_name", "arguments": [:]], path: askerPath, token: Tokens.alice)
        #expect(plain.body["result"]?["isError"] == true)
    }
    let denials = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["decision"] == "deny" && $0["method"] == "tools/call" }
    #expect(denials.contains { $0["reason"]?.stringValue?.contains("requestState") == true })
}

@Test func anExpiredStateIsRefused() async throws {
    let time = ManualClock()
    let g = try TestGateway(json: askerPolicy(limits: #""callTimeoutSeconds": 5, "inputTimeoutSeconds": 1"#), clock: time.clock)
    try await g.test { client in
        let first = try await client.modern("tools/call", ["name": "ask_name", "arguments": [:]], path: askerPath, token: Tokens.alice, envelope: elicits)
        let state = first.body["result"]?["requestState"]
        time.advance(by: 2)
        let late = try await client.modern("tools/call", retry(state, ["action": "accept", "content": ["name": "ada"]]), path: askerPath,
                                           token: Tokens.alice, envelope: elicits)
        #expect(late.body["error"]?["message"] == "requestState has expired")
    }
}

@Test func aHandshakeEraClientsResourceSubscriptionIsServedOnTheGatewaysListen() async throws {
    let g = try TestGateway(json: modernServerPolicy())
    try await g.test { client in
        let session = try await client.openSession(modernPath, token: Tokens.alice)
        async let stream = sessionStream(client, session)
        #expect(try await waitFor { g.gateway.sessionsWithStream == 1 })
        // The era has no resources/subscribe: the gateway answers it and names the resource in its
        // own listen to the server, which then sends its updates.
        let subscribed = try await client.mcp(path: modernPath, token: Tokens.alice, session: session,
                                              #"{"jsonrpc":"2.0","id":5,"method":"resources/subscribe","params":{"uri":"notes://note/a"}}"#)
        #expect(subscribed.body["result"] == [:], "\(subscribed.body)")
        #expect(firstText(try await client.call("write_note", #"{"name":"a","text":"x"}"#, session: session, path: modernPath,
                                                token: Tokens.alice)) == "wrote a")
        // Unsubscribed, a change is no longer told.
        let unsubscribed = try await client.mcp(path: modernPath, token: Tokens.alice, session: session,
                                                #"{"jsonrpc":"2.0","id":6,"method":"resources/unsubscribe","params":{"uri":"notes://note/a"}}"#)
        #expect(unsubscribed.body["result"] == [:])
        #expect(firstText(try await client.call("write_note", #"{"name":"a","text":"y"}"#, session: session, path: modernPath,
                                                token: Tokens.alice)) == "wrote a")
        try await endAfterTheServersMessages(client, session)
        let events = try await stream
        #expect(events.components(separatedBy: #""method":"notifications/resources/updated""#).count == 2, "\(events)")
        #expect(events.contains(#""uri":"notes://note/a""#), "\(events)")
        #expect(!events.contains("notifications/subscriptions/acknowledged"))
    }
}
