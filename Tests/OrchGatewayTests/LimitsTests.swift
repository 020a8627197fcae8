import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Synchronization
import Testing

/// A deadline a test moves by hand.
private final class ManualDeadline: Sendable {
    private let time = Mutex(NIODeadline.uptimeNanoseconds(1_000_000_000))
    var now: @Sendable () -> NIODeadline { { self.time.withLock { $0 } } }
    func advance(_ amount: TimeAmount) { time.withLock { $0 = $0 + amount } }
}

@Test func aBucketHoldsAMinutesWorthRefillsContinuouslyAndARefusalTakesNothing() {
    let clock = ManualDeadline()
    let limiter = Limiter(now: clock.now)
    let limits = PerUserLimits(requestsPerMinute: 2)
    #expect(limiter.admitRequest(user: "bob", limits) == nil)
    #expect(limiter.admitRequest(user: "bob", limits) == nil)
    let refused = limiter.admitRequest(user: "bob", limits)
    #expect(refused?.limit == "perUser.requestsPerMinute" && refused?.retryAfterSeconds == 30)
    #expect(refused?.message == "limit perUser.requestsPerMinute reached: 2 a minute for bob; retry in 30 s")
    // Another user has a bucket of their own.
    #expect(limiter.admitRequest(user: "alice", limits) == nil)
    clock.advance(.seconds(20))
    #expect(limiter.admitRequest(user: "bob", limits)?.retryAfterSeconds == 10)
    // The refusals took nothing: at 30 s exactly one token has come back.
    clock.advance(.seconds(10))
    #expect(limiter.admitRequest(user: "bob", limits) == nil)
    #expect(limiter.admitRequest(user: "bob", limits) != nil)
    #expect(limiter.admitRequest(user: "bob", PerUserLimits()) == nil)
}

@Test func aCallTakesEveryRateAndPlaceOrNoneAndGivesItsPlaceBackOnce() throws {
    let limiter = Limiter(now: ManualDeadline().now)
    let perUser = PerUserLimits(toolCallsPerMinute: 10, concurrentCalls: 2)
    let server = ServerLimits(concurrentCalls: 3, tools: [.init(glob: Glob("delete_*"), callsPerMinute: 1)])
    let first = try limiter.admitCall(user: "bob", server: "acme/notes", tool: "delete_note", perUser, server).get()
    // The tool's own rate is spent; the refusal takes no place and no per-user token.
    guard case .failure(let rate) = limiter.admitCall(user: "bob", server: "acme/notes", tool: "delete_all", perUser, server) else {
        Issue.record("a second delete_* call passed"); return
    }
    #expect(rate.limit == "acme/notes.tools.delete_*.callsPerMinute")
    let second = try limiter.admitCall(user: "bob", server: "acme/notes", tool: "echo", perUser, server).get()
    guard case .failure(let busy) = limiter.admitCall(user: "bob", server: "acme/notes", tool: "echo", perUser, server) else {
        Issue.record("a third call in flight passed"); return
    }
    #expect(busy.limit == "perUser.concurrentCalls" && busy.retryAfterSeconds == 1)
    // alice is not bob, but the server's cap counts everyone.
    let third = try limiter.admitCall(user: "alice", server: "acme/notes", tool: "echo", perUser, server).get()
    guard case .failure(let full) = limiter.admitCall(user: "alice", server: "acme/notes", tool: "echo", perUser, server) else {
        Issue.record("a fourth call on the server passed"); return
    }
    #expect(full.limit == "acme/notes.concurrentCalls")
    first.release()
    first.release()
    let fourth = try limiter.admitCall(user: "alice", server: "acme/notes", tool: "echo", perUser, server).get()
    guard case .failure = limiter.admitCall(user: "carol", server: "acme/notes", tool: "echo", perUser, server) else {
        Issue.record("a release given twice freed two places"); return
    }
    second.release()
    third.release()
    // A permit that goes away unreleased gives its place back too: else the third of these would
    // find carol's two places taken.
    for _ in 0..<5 { _ = try limiter.admitCall(user: "carol", server: "acme/notes", tool: "echo", perUser, server).get() }
    fourth.release()
}

private func limitsPolicy(_ perUser: String = "", server: String = "") -> String {
    mcpPolicyJSON(limits: #""callTimeoutSeconds": 10\#(perUser.isEmpty ? "" : #", "perUser": {\#(perUser)}"#)"#,
                  extraServers: #", "slow": { "command": "\#(orchBinary)", "args": ["sample-server"], "limits": {\#(server)} }"#)
}

private func echo(_ text: String, delay: Int = 0, id: Int = 7) -> String {
    #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"echo","arguments":{"text":"\#(text)","delayMs":\#(delay)}}}"#
}

@Test func overToolCallsPerMinuteAUserGetsAJSONRPCErrorNamingTheLimitAndAnotherUserIsUnaffected() async throws {
    let g = try TestGateway(json: limitsPolicy(#""toolCallsPerMinute": 2"#))
    try await g.test { client in
        let bob = try await client.openSession()
        let alice = try await client.openSession(token: Tokens.alice)
        for index in 0..<2 {
            #expect(try await client.call("echo", #"{"text":"\#(index)"}"#, session: bob)["result"] != nil)
        }
        let over = try await client.mcp(session: bob, echo("over", id: 9))
        #expect(over.status == .ok)
        #expect(over.body["id"] == 9)
        #expect(over.body["error"]?["code"] == .integer(-32000))
        #expect(over.body["error"]?["data"]?["limit"] == "perUser.toolCallsPerMinute")
        #expect((over.body["error"]?["data"]?["retryAfterSeconds"]?.integerValue ?? 0) >= 1)
        #expect(over.body["error"]?["message"]?.stringValue?.contains("perUser.toolCallsPerMinute") == true)
        // Lists are no tool calls; alice has her own bucket.
        #expect(try await client.mcp(session: bob, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).body["result"] != nil)
        for index in 0..<2 {
            #expect(try await client.call("echo", #"{"text":"\#(index)"}"#, session: alice, token: Tokens.alice)["result"] != nil)
        }
    }
    #expect(String(decoding: g.gateway.metrics.render(), as: UTF8.self).contains(#"orch_limited_total{limit="perUser.toolCallsPerMinute"} 1"#))
    let denied = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["decision"] == "deny" && $0["method"] == "tools/call" }
    #expect(denied.count == 1 && denied.first?["reason"]?.stringValue?.hasPrefix("limit perUser.toolCallsPerMinute reached") == true)
}

@Test func overRequestsPerMinuteRESTGets429WithRetryAfterAndMCPItsJSONRPCError() async throws {
    let g = try TestGateway(json: limitsPolicy(#""requestsPerMinute": 4"#))
    try await g.test { client in
        // initialize and notifications/initialized: two requests.
        let bob = try await client.openSession()
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.bob)) { #expect($0.status == .ok) }
        #expect(try await client.call("echo", #"{"text":"x"}"#, session: bob)["result"] != nil)
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.status == .tooManyRequests)
            #expect((response.headers[.retryAfter].flatMap(Int.init) ?? 0) >= 1)
            #expect(response.json["error"]?["code"] == "rate_limited")
        }
        let over = try await client.mcp(session: bob, echo("over", id: 11))
        #expect(over.status == .ok && over.body["id"] == 11 && over.body["error"]?["data"]?["limit"] == "perUser.requestsPerMinute")
        // A notification has no id to answer: its POST is refused.
        let note = try await client.mcp(session: bob, #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        #expect(note.status == .tooManyRequests)
        // alice is not limited by bob's requests.
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.alice)) { #expect($0.status == .ok) }
    }
}

@Test func aServersConcurrentCallsAreNeverExceededUnderParallelCallsToASlowUpstream() async throws {
    let g = try TestGateway(json: limitsPolicy(server: #""concurrentCalls": 2"#))
    let path = "/orgs/acme/servers/slow/mcp"
    try await g.test { client in
        let sessions = [try await client.openSession(path, token: Tokens.alice), try await client.openSession(path, token: Tokens.alice),
                        try await client.openSession(path, token: Tokens.alice)]
        let replies = try await withThrowingTaskGroup(of: JSONValue.self) { group in
            for index in 0..<9 {
                let session = sessions[index % 3]
                group.addTask { try await client.mcp(path: path, token: Tokens.alice, session: session, echo("\(index)", delay: 400, id: index)).body }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let passed = replies.filter { $0["result"] != nil }
        let refused = replies.filter { $0["error"]?["data"]?["limit"] == "acme/slow.concurrentCalls" }
        #expect(passed.count >= 1 && passed.count <= 2, "\(replies)")
        #expect(passed.count + refused.count == 9, "\(replies)")
        #expect(refused.allSatisfy { $0["error"]?["data"]?["retryAfterSeconds"] == 1 })
        // The places come back with the replies.
        #expect(try await client.mcp(path: path, token: Tokens.alice, session: sessions[0], echo("after")).body["result"] != nil)
    }
}

@Test func aToolGlobsRateIsPerUserAndLeavesOtherToolsAlone() async throws {
    let g = try TestGateway(json: limitsPolicy(server: #""tools": {"ec*": {"callsPerMinute": 1}}"#))
    let path = "/orgs/acme/servers/slow/mcp"
    try await g.test { client in
        let alice = try await client.openSession(path, token: Tokens.alice)
        #expect(try await client.call("echo", #"{"text":"one"}"#, session: alice, path: path, token: Tokens.alice)["result"] != nil)
        let over = try await client.call("echo", #"{"text":"two"}"#, session: alice, path: path, token: Tokens.alice)
        #expect(over["error"]?["data"]?["limit"] == "acme/slow.tools.ec*.callsPerMinute")
        #expect(try await client.call("add", #"{"a":1,"b":2}"#, session: alice, path: path, token: Tokens.alice)["result"] != nil)
    }
}
