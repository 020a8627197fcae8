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
