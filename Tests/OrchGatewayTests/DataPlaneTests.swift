import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import OrchGateway
import OrchJSON
import Synchronization
import Testing

/// Limits, reply formats and process teardown of the data plane.

/// The pids of live (not zombie) processes whose process group is `group`.
func liveGroupMembers(_ group: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> Int32? in
        guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 && fields[0] != "Z" && Int32(fields[2]) == group ? pid : nil
    }
}

private func tempPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("orch-\(name)-\(UUID().uuidString)").path
}

@Test func concurrentInitializesNeverPassTheLimit() async throws {
    let g = try TestGateway(json: mcpPolicyJSON(limits: #""maxSessionsPerKey": 2"#))
    try await g.test { client in
        let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
            for _ in 0..<16 { group.addTask { try await client.mcp(initializeBody).status } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.count { $0 == .ok } == 2)
        #expect(statuses.count { $0 == .tooManyRequests } == 14)
        #expect(g.gateway.sessionCount == 2)
        // The limit is per server: the same key may still open a session on another one.
        #expect(try await client.mcp(path: "/orgs/acme/servers/clock/mcp", initializeBody).status == .ok)
    }
}

@Test func theGatewayWideProcessCapAnswers503WithRetryAfter() async throws {
    try await TestGateway(json: mcpPolicyJSON(limits: #""maxUpstreamProcesses": 1"#)).test { client in
        _ = try await client.openSession()
        try await client.execute(uri: "/orgs/acme/servers/clock/mcp", method: .post,
                                 headers: [.authorization: "Bearer \(Tokens.bob)", .contentType: "application/json", .accept: "application/json"],
                                 body: ByteBuffer(string: initializeBody)) { response in
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] == "5")
            #expect(response.headers[.sessionID] == nil)
        }
    }
}

@Test func concurrentToolListingsOnAColdCacheStartOneProcess() async throws {
    let starts = tempPath("starts")
    defer { try? FileManager.default.removeItem(atPath: starts) }
    let counted = #", "counted": { "command": "/bin/sh", "args": ["-c", "echo started >> \#(starts); exec \#(orchBinary) sample-server"] }"#
    let g = try TestGateway(json: mcpPolicyJSON(limits: #""maxSessionsPerKey": 2, "maxUpstreamProcesses": 2"#, extraServers: counted))
    try await g.test { client in
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    try await client.execute(uri: "/api/v1/tools?server=acme/counted", method: .get, headers: bearer(Tokens.alice)) { response in
                        response.json["tools"]?.arrayValue?.count ?? -1
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts == Array(repeating: 5, count: 12))
    }
    let lines = (try? String(contentsOfFile: starts, encoding: .utf8))?.split(separator: "\n").count
    #expect(lines == 1)
}

@Test func aCallWithoutInterimMessagesIsAnsweredAsJSONEvenWhenSSEIsAccepted() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        let session = try await client.openSession()
        let both: HTTPFields = [.authorization: "Bearer \(Tokens.bob)", .contentType: "application/json",
                                .accept: "application/json, text/event-stream", .sessionID: session]
        let plain = #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"a"}}}"#
        try await client.execute(uri: "/orgs/acme/servers/notes/mcp", method: .post, headers: both, body: ByteBuffer(string: plain)) { response in
            #expect(response.headers[.contentType] == "application/json")
            #expect(response.json["result"]?["content"]?.arrayValue?.first?["text"] == "a")
        }
        // A progress token means the call may send progress first: a stream.
        let withProgress = #"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"echo","arguments":{"text":"b"},"_meta":{"progressToken":"p1"}}}"#
        try await client.execute(uri: "/orgs/acme/servers/notes/mcp", method: .post, headers: both, body: ByteBuffer(string: withProgress)) { response in
            #expect(response.headers[.contentType] == "text/event-stream")
            #expect(String(buffer: response.body).contains(#"data: {"jsonrpc":"2.0","id":6"#))
        }
    }
}

@Test func aSessionThatDeclaredSamplingGetsStreamedReplies() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        let sampling = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"1"}}}"#
        let session = try #require(try await client.mcp(sampling).session)
        let both: HTTPFields = [.authorization: "Bearer \(Tokens.bob)", .contentType: "application/json",
                                .accept: "application/json, text/event-stream", .sessionID: session]
        try await client.execute(uri: "/orgs/acme/servers/notes/mcp", method: .post, headers: both,
                                 body: ByteBuffer(string: #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)) { response in
            #expect(response.headers[.contentType] == "text/event-stream")
        }
    }
}

@Test func aGETWithoutASessionIs405AndAnEndedSessionIs404() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        try await client.execute(uri: "/orgs/acme/servers/notes/mcp", method: .get,
                                 headers: [.authorization: "Bearer \(Tokens.bob)", .accept: "text/event-stream"]) { response in
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == "POST, DELETE")
        }
        try await client.execute(uri: "/orgs/acme/servers/notes/mcp", method: .get,
                                 headers: [.authorization: "Bearer \(Tokens.bob)", .accept: "text/event-stream", .sessionID: "00112233445566778899aabbccddeeff"]) { response in
            #expect(response.status == .notFound)
        }
    }
}

@Test func anInitializeThatNeverAnswersTimesOutWithoutASessionOrAProcess() async throws {
    let silent = #", "silent": { "command": "/bin/sleep", "args": ["600"] }"#
    let g = try TestGateway(json: mcpPolicyJSON(limits: #""callTimeoutSeconds": 1"#, extraServers: silent))
    try await g.test { client in
        let started = ContinuousClock.now
        let opened = try await client.mcp(path: "/orgs/acme/servers/silent/mcp", token: Tokens.alice, initializeBody)
        // The upstream sleeps for 600 s: an answer well before that came from the 1 s timeout.
        // The bound is loose because CI runs every test at once on two cores.
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(opened.status == .gatewayTimeout)
        #expect(opened.session == nil)
        #expect(opened.body["error"]?["code"] == -32001)
        #expect(try await waitFor { g.gateway.sessionCount == 0 && g.gateway.upstreamProcessCount == 0 })
    }
}

@Test func aStoppedSessionTakesTheWholeProcessGroupWithIt() async throws {
    let pidFile = tempPath("grandchild")
    defer { try? FileManager.default.removeItem(atPath: pidFile) }
    // A wrapper that leaves a grandchild behind, which also ignores SIGTERM.
    let wrapper = #", "wrapped": { "command": "/bin/sh", "args": ["-c", "sh -c 'trap \"\" TERM; sleep 600' & echo $! > \#(pidFile); exec \#(orchBinary) sample-server"] }"#
    let g = try TestGateway(json: mcpPolicyJSON(extraServers: wrapper))
    try await g.test { client in
        let session = try await client.openSession("/orgs/acme/servers/wrapped/mcp", token: Tokens.alice)
        let leader = try #require(g.gateway.upstreamPIDs.first)
        #expect(try await waitFor { FileManager.default.fileExists(atPath: pidFile) })
        #expect(liveGroupMembers(leader).count >= 2)
        let started = ContinuousClock.now
        try await client.execute(uri: "/orgs/acme/servers/wrapped/mcp", method: .delete,
                                 headers: [.authorization: "Bearer \(Tokens.alice)", .sessionID: session]) { _ in }
        #expect(try await waitFor { liveGroupMembers(leader).isEmpty })
        // The grandchild ignores SIGTERM and sleeps 600 s: only the group SIGKILL ends it this soon.
        #expect(ContinuousClock.now - started < .seconds(30))
    }
}

@Test func aClientCancellationEndsItsStreamAndReachesTheUpstream() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        let session = try await client.openSession()
        let headers: HTTPFields = [.authorization: "Bearer \(Tokens.bob)", .contentType: "application/json",
                                   .accept: "application/json, text/event-stream", .sessionID: session]
        let slow = #"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"slow","delayMs":1500},"_meta":{"progressToken":1}}}"#
        async let streamed = client.execute(uri: "/orgs/acme/servers/notes/mcp", method: .post, headers: headers, body: ByteBuffer(string: slow)) { response in
            String(buffer: response.body)
        }
        try await Task.sleep(for: .milliseconds(200))
        let cancel = #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":9,"reason":"user"}}"#
        #expect(try await client.mcp(session: session, cancel).status == .accepted)
        let body = try await streamed
        #expect(!body.contains(#""id":9"#))
    }
}

@Test func onceShutdownHasEndedEverySessionNoNewOneOpens() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        _ = try await client.openSession(token: Tokens.alice)
        await g.gateway.sessions.endAll(reason: "the gateway is shutting down")
        #expect(g.gateway.sessionCount == 0)
        let late = try await client.mcp(token: Tokens.alice, initializeBody)
        #expect(late.status == .serviceUnavailable)
        #expect(late.session == nil)
        #expect(late.body["error"]?["message"] == "the gateway is shutting down")
        #expect(g.gateway.sessionCount == 0)
        #expect(g.gateway.upstreamProcessCount == 0)
    }
}
