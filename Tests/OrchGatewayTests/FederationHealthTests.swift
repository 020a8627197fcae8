import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// Federation that degrades and heals: on an aggregated endpoint a failing server is left out of
// lists (the others answer), its calls get a clear upstream error, it is retried with backoff per
// server and credential, and put back with a list change when it answers again.

@Test func backoffDoublesFromOneSecondToAtMostFifteen() {
    #expect((1...7).map { UpstreamHealth.backoff(after: $0).components.seconds } == [1, 2, 4, 8, 15, 15, 15])
}

@Test func aFailingUpstreamIsLeftOutRetriedAndPutBackWithAListChange() async throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("orch-flaky-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let flag = folder.appendingPathComponent("up").path
    // Starts only once the flag file exists.
    let flaky = #", "flaky": { "command": "/bin/sh", "args": ["-c", "test -f \#(flag) && exec \#(orchBinary) sample-server"] }"#
    let g = try TestGateway(json: mcpPolicyJSON(extraServers: flaky))
    try await g.test { client in
        let path = "/orgs/acme/mcp"
        let session = try await client.openSession(path, token: Tokens.alice)
        let headers: HTTPFields = [.authorization: "Bearer \(Tokens.alice)", .accept: "text/event-stream", .sessionID: session]
        async let stream = client.execute(uri: path, method: .get, headers: headers) { String(buffer: $0.body) }
        try await Task.sleep(for: .milliseconds(200))

        let first = try await client.mergedList("tools/list", "tools", "name", session: session, token: Tokens.alice)
        #expect(first.items.contains("notes__echo") && first.items.contains("clock__echo"))
        #expect(!first.items.contains { $0.hasPrefix("flaky__") })
        #expect(g.gateway.health.count == 1)
        // While it waits for its retry it is left out at once, and its calls get a clear error.
        let started = ContinuousClock.now
        let second = try await client.mergedList("tools/list", "tools", "name", session: session, token: Tokens.alice)
        #expect(!second.items.contains { $0.hasPrefix("flaky__") })
        #expect(ContinuousClock.now - started < .seconds(1))
        let call = try await client.aggregate("tools/call", #"{"name":"flaky__echo","arguments":{"text":"x"}}"#, id: 40, session: session, token: Tokens.alice)
        // "it is failing …" while the retry waits; the start's own failure once the retry is due.
        #expect(call["error"]?["message"]?.stringValue?.hasPrefix("the server acme/flaky is unavailable: ") == true, "\(call)")
        let api = try await client.execute(uri: "/api/v1/tools", method: .get, headers: bearer(Tokens.alice)) { try JSONValue.parse(String(buffer: $0.body)) }
        #expect(api["errors"]?.arrayValue?.contains { $0["server"] == "acme/flaky" } == true, "\(api)")

        // It comes up: the retry finds it, and the session hears that its lists changed.
        FileManager.default.createFile(atPath: flag, contents: Data())
        #expect(try await waitFor { g.gateway.health.count == 0 })
        try await Task.sleep(for: .milliseconds(200))
        let healed = try await client.mergedList("tools/list", "tools", "name", session: session, token: Tokens.alice)
        #expect(healed.items.contains("flaky__echo"))
        let echoed = try await client.aggregate("tools/call", #"{"name":"flaky__echo","arguments":{"text":"back"}}"#, id: 41, session: session, token: Tokens.alice)
        #expect(echoed["result"]?["content"]?.arrayValue?.first?["text"] == "back", "\(echoed)")
        try await client.execute(uri: path, method: .delete, headers: [.authorization: "Bearer \(Tokens.alice)", .sessionID: session]) { _ in }
        let events = try await stream
        #expect(events.contains("notifications/tools/list_changed"), "\(events)")
        #expect(events.contains("acme/flaky is left out of tools/list"))
    }
}

@Test func aServerThatNeverAnswersHoldsUpTheListForItsTimeoutOnlyThenNotAtAll() async throws {
    let silent = #", "silent": { "command": "/bin/sh", "args": ["-c", "exec sleep 60"], "timeoutSeconds": 3 }"#
    let g = try TestGateway(json: mcpPolicyJSON(extraServers: silent))
    try await g.test { client in
        let session = try await client.openSession("/orgs/acme/mcp", token: Tokens.alice)
        var started = ContinuousClock.now
        let first = try await client.mergedList("tools/list", "tools", "name", session: session, token: Tokens.alice)
        #expect(first.items.contains("notes__echo") && !first.items.contains { $0.hasPrefix("silent__") })
        #expect(ContinuousClock.now - started < .seconds(8))
        started = .now
        _ = try await client.mergedList("tools/list", "tools", "name", session: session, token: Tokens.alice)
        // Waiting for it again would take its 3 s timeout.
        #expect(ContinuousClock.now - started < .seconds(2))
    }
}
