import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import OrchJSON
import Testing

@testable import OrchGateway

/// The parts of one `tools/call echo` POST on `session`, as the HTTP decoder hands them on.
private func callParts(id: Int, session: String) -> [HTTPRequestPart] {
    var head = HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1", path: "/orgs/acme/servers/notes/mcp")
    head.headerFields[.authorization] = "Bearer \(Tokens.bob)"
    head.headerFields[.contentType] = "application/json"
    head.headerFields[.accept] = "application/json, text/event-stream"
    head.headerFields[.sessionID] = session
    let body = #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"echo","arguments":{"text":"call \#(id)"}}}"#
    return [.head(head), .body(ByteBuffer(string: body)), .end(nil)]
}

/// One response as the fast path wrote it.
private struct WrittenResponse {
    var status: HTTPResponse.Status
    var body = ""
}

/// Reads what the handler writes until `count` responses have ended (10 s at most).
private func responses(_ count: Int, from channel: NIOAsyncTestingChannel) async throws -> [WrittenResponse] {
    var done: [WrittenResponse] = []
    var current: WrittenResponse?
    let deadline = ContinuousClock.now + .seconds(10)
    while done.count < count, ContinuousClock.now < deadline {
        guard let part = try await channel.readOutbound(as: HTTPResponsePart.self) else {
            try await Task.sleep(for: .milliseconds(5))
            continue
        }
        switch part {
        case .head(let head): current = WrittenResponse(status: head.status)
        case .body(let buffer): current?.body += String(buffer: buffer)
        case .end:
            if let current { done.append(current) }
            current = nil
        }
    }
    return done
}

@Test func callsThatFollowEachOtherOnOneConnectionEachGetTheirOwnReply() async throws {
    let test = try TestGateway(json: mcpPolicyJSON())
    try await test.test { client in
        let session = try await client.openSession()
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(FastPath(gateway: test.gateway, remote: nil))
        // Both calls in one read: the second waits in the handler while the first is answered,
        // and goes out the moment the first's reply is written.
        let parts = callParts(id: 1, session: session) + callParts(id: 2, session: session)
        try await channel.testingEventLoop.executeInContext {
            for part in parts { channel.pipeline.fireChannelRead(part) }
            channel.pipeline.fireChannelReadComplete()
        }
        let written = try await responses(2, from: channel)
        #expect(written.count == 2)
        for (index, response) in written.enumerated() {
            let reply = try? JSONValue.parse(response.body)
            #expect(response.status == .ok, "response \(index + 1): HTTP \(response.status.code), body \(response.body.debugDescription)")
            #expect(reply?["id"] == .integer(Int64(index + 1)))
            #expect(reply?["result"]?["content"]?.arrayValue?.first?["text"] == .string("call \(index + 1)"))
        }
        _ = try? await channel.finish()
    }
}

/// The parts of one 2026-07-28 POST (no session; the envelope and the routing headers).
private func modernParts(id: Int, tool: String, token: String = Tokens.bob, name header: String? = nil) -> [HTTPRequestPart] {
    var head = HTTPRequest(method: .post, scheme: "http", authority: "127.0.0.1", path: "/orgs/acme/servers/notes/mcp")
    head.headerFields[.authorization] = "Bearer \(token)"
    head.headerFields[.contentType] = "application/json"
    head.headerFields[.accept] = "application/json, text/event-stream"
    head.headerFields[.protocolVersion] = "2026-07-28"
    head.headerFields[HTTPField.Name("Mcp-Method")!] = "tools/call"
    head.headerFields[HTTPField.Name("Mcp-Name")!] = header ?? tool
    let envelope = #""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#
    let body = #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)","arguments":{"text":"call \#(id)"},\#(envelope)}}"#
    return [.head(head), .body(ByteBuffer(string: body)), .end(nil)]
}

@Test func modernRequestsOnAHeldLegAreAnsweredOnTheEventLoopAsTheRouterAnswersThem() async throws {
    let test = try TestGateway(json: mcpPolicyJSON())
    try await test.test { client in
        // The router opens bob's held leg.
        #expect(try await client.modern("tools/call", ["name": "echo", "arguments": ["text": "router"]]).status == .ok)
        let channel = NIOAsyncTestingChannel()
        try await channel.pipeline.addHandler(FastPath(gateway: test.gateway, remote: nil))
        let parts = modernParts(id: 1, tool: "echo") + modernParts(id: 2, tool: "delete_note") + modernParts(id: 3, tool: "echo", name: "add")
        try await channel.testingEventLoop.executeInContext {
            for part in parts { channel.pipeline.fireChannelRead(part) }
            channel.pipeline.fireChannelReadComplete()
        }
        let written = try await responses(3, from: channel)
        #expect(written.map(\.status) == [.ok, .badRequest, .badRequest])
        let replies = written.map { try? JSONValue.parse($0.body) }
        #expect(replies[0]?["id"] == 1)
        #expect(replies[0]?["result"]?["content"]?.arrayValue?.first?["text"] == "call 1")
        #expect(replies[0]?["result"]?["resultType"] == "complete")
        #expect(replies[1]?["error"]?["code"] == -32602)
        #expect(replies[2]?["error"]?["code"] == -32020)
        // Nothing reached the router.
        #expect(try await channel.readInbound(as: HTTPRequestPart.self) == nil)

        // alice has no held leg yet: her request goes to the router untouched, which opens one.
        try await channel.testingEventLoop.executeInContext {
            for part in modernParts(id: 4, tool: "echo", token: Tokens.alice) { channel.pipeline.fireChannelRead(part) }
        }
        guard case .head(let head)? = try await channel.readInbound(as: HTTPRequestPart.self) else {
            Issue.record("alice's request was not handed to the router")
            return
        }
        #expect(head.headerFields[.authorization] == "Bearer \(Tokens.alice)")
        _ = try? await channel.finish()
    }
    let records = test.auditLines.compactMap { try? JSONValue.parse($0) }
    #expect(records.filter { $0["method"] == "tools/call" && $0["decision"] == "allow" }.count == 2)
    #expect(records.contains { $0["tool"] == "delete_note" && $0["decision"] == "deny" })
}
