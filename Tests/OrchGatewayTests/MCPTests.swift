import Foundation
import Hummingbird
import HummingbirdTesting
import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

@Test func initializeIssuesAGatewaySessionIDAndTheUpstreamAnswers() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let opened = try await client.mcp(initializeBody)
        #expect(opened.status == .ok)
        let session = try #require(opened.session)
        // Sealed and self-describing: any replica with the stateKey can re-create it.
        #expect(session.hasPrefix("s1.") && session.utf8.count <= 512)
        #expect(opened.body["result"]?["serverInfo"]?["name"] == "orch-sample-server")
        #expect(opened.body["id"] == 1)
    }
    let opened = g.auditLines.compactMap { try? JSONValue.parse($0) }.first { $0["method"] == "initialize" }
    #expect(opened?["decision"] == "allow")
    #expect(opened?["session"]?.stringValue?.hasPrefix("s1.") == true)
}

@Test func sessionRules() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        // A request without a session is refused with 400; an unknown session with 404.
        #expect(try await client.mcp(#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#).status == .badRequest)
        #expect(try await client.mcp(session: "00112233445566778899aabbccddeeff", #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#).status == .notFound)
        let session = try await client.openSession()
        // Another key using it, or the same key on another server, gets 404.
        #expect(try await client.mcp(token: Tokens.alice, session: session, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#).status == .notFound)
        #expect(try await client.mcp(path: "/orgs/acme/servers/clock/mcp", session: session, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#).status == .notFound)
        // Responses from the client are accepted with 202.
        #expect(try await client.mcp(session: session, #"{"jsonrpc":"2.0","id":"s1","result":{}}"#).status == .accepted)
        // DELETE ends it; afterwards it is unknown.
        try await client.execute(uri: "/orgs/acme/servers/notes/mcp", method: .delete, headers: [.authorization: "Bearer \(Tokens.bob)", .sessionID: session]) { response in
            #expect(response.status == .noContent)
        }
        #expect(try await client.mcp(session: session, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).status == .notFound)
    }
}

@Test func toolsListIsFilteredOnEveryPage() async throws {
    try await TestGateway(json: mcpPolicyJSON(pageSize: 2)).test { client in
        let session = try await client.openSession()
        var names: [String] = []
        var cursor: String? = nil
        var pages = 0
        repeat {
            let params = cursor.map { #"{"cursor":"\#($0)"}"# } ?? "{}"
            let page = try await client.mcp(session: session, #"{"jsonrpc":"2.0","id":\#(10 + pages),"method":"tools/list","params":\#(params)}"#).body
            names += page["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            cursor = page["result"]?["nextCursor"]?.stringValue
            pages += 1
        } while cursor != nil
        #expect(pages == 3)
        #expect(names == ["add", "echo", "now"])
    }
}

@Test func deniedToolCallIsAnsweredByTheGatewayAndNeverReachesTheUpstream() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let session = try await client.openSession()
        let refused = try await client.call("write_note", #"{"name":"n","text":"t"}"#, session: session)
        #expect(refused["error"]?["code"] == -32602)
        #expect(refused["error"]?["message"]?.stringValue?.contains("write_note is not permitted") == true)
        #expect(refused["id"] == 7)
        let unknown = try await client.call("delete_note", #"{"name":"n"}"#, session: session)
        #expect(unknown["error"]?["code"] == -32602)
        // Had write_note reached the process, the note would be in its index.
        let index = try await client.mcp(session: session, #"{"jsonrpc":"2.0","id":8,"method":"resources/read","params":{"uri":"notes://index"}}"#).body
        #expect(index["result"]?["contents"]?.arrayValue?.first?["text"] == "")
        let allowed = try await client.call("echo", #"{"text":"hi"}"#, id: 9, session: session)
        #expect(allowed["result"]?["content"]?.arrayValue?.first?["text"] == "hi")
    }
    let calls = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["method"] == "tools/call" }
    #expect(calls.map { $0["tool"]?.stringValue ?? "" } == ["write_note", "delete_note", "echo"])
    #expect(calls.map { $0["decision"]?.stringValue ?? "" } == ["deny", "deny", "allow"])
    #expect(calls[0]["reason"] == #"role member denies "notes:write_note""#)
}

@Test func unreachableServerIs404LikeAMissingOne() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        let foreign = try await client.mcp(path: "/orgs/globex/servers/notes/mcp", initializeBody)
        let missing = try await client.mcp(path: "/orgs/acme/servers/nope/mcp", initializeBody)
        #expect(foreign.status == .notFound && missing.status == .notFound)
        #expect(try await client.mcp(token: "orch_wrong", initializeBody).status == .unauthorized)
    }
}

@Test func malformedMessagesGetJSONRPCErrors() async throws {
    try await TestGateway(json: mcpPolicyJSON(limits: #""maxBodyBytes": 2048"#)).test { client in
        let garbage = try await client.mcp("{not json")
        #expect(garbage.status == .badRequest)
        #expect(garbage.body["error"]?["code"] == -32700)
        let notRPC = try await client.mcp(#"{"hello":"world"}"#)
        #expect(notRPC.body["error"]?["code"] == -32600)
        let batch = try await client.mcp("[\(initializeBody)]")
        #expect(batch.body["error"]?["code"] == -32600)
        let big = try await client.mcp(#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"p":""# + String(repeating: "x", count: 4096) + #""}}"#)
        #expect(big.status == .contentTooLarge)
        let version = try await client.mcp(initializeBody, headers: [.protocolVersion: "1999-01-01"])
        #expect(version.status == .badRequest)
    }
}

@Test func serverDiscoverProbeGetsMethodNotFoundSoClientsFallBack() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        let probe = try await client.mcp(#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}"#)
        #expect(probe.status == .ok)
        #expect(probe.body["error"]?["code"] == -32601)
        #expect(probe.session == nil)
    }
}

@Test func shortFormResolvesOnlyAnUnambiguousName() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        let bob = try await client.mcp(path: "/servers/notes/mcp", initializeBody)  // bob: only acme/notes
        let aliceNotes = try await client.mcp(path: "/servers/notes/mcp", token: Tokens.alice, initializeBody)  // alice: two
        let aliceClock = try await client.mcp(path: "/servers/clock/mcp", token: Tokens.alice, initializeBody)
        #expect(bob.status == .ok)
        #expect(aliceNotes.status == .notFound)
        #expect(aliceClock.status == .ok)
    }
}

@Test func sessionsPerKeyAreLimited() async throws {
    try await TestGateway(json: mcpPolicyJSON(limits: #""maxSessionsPerKey": 2"#)).test { client in
        _ = try await client.openSession()
        _ = try await client.openSession()
        let third = try await client.mcp(initializeBody)
        #expect(third.status == .tooManyRequests)
        #expect(third.body["error"]?["code"] == "too_many_sessions")
    }
}

@Test func slowCallTimesOutWithAJSONRPCError() async throws {
    try await TestGateway(json: mcpPolicyJSON(limits: #""callTimeoutSeconds": 1"#)).test { client in
        let session = try await client.openSession()
        let reply = try await client.call("echo", #"{"text":"late","delayMs":1500}"#, session: session)
        #expect(reply["error"]?["code"] == -32001)
        // The session stays usable, and the late reply to the first call is dropped.
        let next = try await client.call("echo", #"{"text":"on time"}"#, id: 8, session: session)
        #expect(next["result"]?["content"]?.arrayValue?.first?["text"] == "on time")
    }
}

@Test func deleteStopsTheUpstreamProcess() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let session = try await client.openSession()
        let pid = try #require(g.gateway.upstreamPIDs.first)
        #expect(kill(pid, 0) == 0)
        try await client.execute(uri: "/orgs/acme/servers/notes/mcp", method: .delete, headers: [.authorization: "Bearer \(Tokens.bob)", .sessionID: session]) { _ in }
        #expect(try await processGone(pid))
        #expect(g.gateway.sessionCount == 0)
    }
}

@Test func aCrashedUpstreamEndsItsSession() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let session = try await client.openSession()
        let pid = try #require(g.gateway.upstreamPIDs.first)
        kill(pid, SIGKILL)
        #expect(try await waitFor { g.gateway.sessionCount == 0 })
        // The session's id re-creates it, with a new process.
        #expect(try await client.mcp(session: session, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).status == .ok)
        #expect(g.gateway.upstreamPIDs.count == 1 && g.gateway.upstreamPIDs != [pid])
    }
    #expect(String(decoding: g.gateway.metrics.render(), as: UTF8.self).contains(#"orch_upstream_failures_total{server="acme/notes",reason="exited"} 1"#))
}

@Test func idleSessionsEnd() async throws {
    let g = try TestGateway(json: mcpPolicyJSON(limits: #""sessionIdleSeconds": 1"#))
    try await g.test { client in
        let session = try await client.openSession()
        let pid = try #require(g.gateway.upstreamPIDs.first)
        #expect(try await processGone(pid))
        // Its id re-creates it, as a replica that did not hold it would.
        #expect(try await client.mcp(session: session, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).status == .ok)
    }
    #expect(g.auditLines.contains { $0.contains("session re-created from its id") })
}

@Test func aReloadThatRevokesTheKeyEndsTheLiveSession() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let aliceSession = try await client.openSession(token: Tokens.alice)
        let bobSession = try await client.openSession()
        #expect(g.gateway.sessionCount == 2)
        ReloadWatcher.install(compile(mcpPolicyJSON(bobKey: false)), path: "test.json", gateway: g.gateway)
        #expect(try await waitFor { g.gateway.sessionCount == 1 })
        #expect(try await client.mcp(session: bobSession, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).status == .unauthorized)
        // Alice keeps her permission: her session and its in-flight work are undisturbed.
        let reply = try await client.call("echo", #"{"text":"still here"}"#, session: aliceSession, token: Tokens.alice)
        #expect(reply["result"]?["content"]?.arrayValue?.first?["text"] == "still here")
    }
}

@Test func upstreamGetsOnlyItsOwnEnvironment() async throws {
    setenv("ORCH_TEST_GATEWAY_SECRET", "gateway-only-value", 1)
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("orch-env-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: out) }
    let server = #", "envcheck": { "command": "/bin/sh", "args": ["-c", "env > \#(out); exec \#(orchBinary) sample-server"], "env": { "SERVER_ONLY": "yes" } }"#
    try await TestGateway(json: mcpPolicyJSON(extraServers: server)).test { client in
        _ = try await client.openSession("/orgs/acme/servers/envcheck/mcp", token: Tokens.alice)
    }
    let env = try String(contentsOfFile: out, encoding: .utf8)
    #expect(env.contains("SERVER_ONLY=yes"))
    #expect(env.contains("PATH="))
    #expect(!env.contains("ORCH_TEST_GATEWAY_SECRET"))
}

@Test func apiToolsListsWhatTheKeyMayCallAndReportsBrokenServers() async throws {
    let broken = #", "broken": { "command": "/nonexistent/mcp-server" }"#
    try await TestGateway(json: mcpPolicyJSON(extraServers: broken)).test { client in
        try await client.execute(uri: "/api/v1/tools", method: .get, headers: bearer(Tokens.bob)) { response in
            let tools = response.json["tools"]?.arrayValue?.map { "\($0["server"]?.stringValue ?? ""):\($0["name"]?.stringValue ?? "")" }
            #expect(tools == ["acme/notes:add", "acme/notes:echo", "acme/notes:now", "acme/clock:add", "acme/clock:delete_note", "acme/clock:echo", "acme/clock:now", "acme/clock:write_note"])
            #expect(response.json["errors"] == [])
        }
        try await client.execute(uri: "/api/v1/tools", method: .get, headers: bearer(Tokens.alice)) { response in
            #expect(response.json["errors"] == [["server": "acme/broken", "message": "the server could not be started or reached"]])
        }
        try await client.execute(uri: "/api/v1/tools?server=globex/notes", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.status == .notFound)
        }
    }
}

@Test func upstreamGetsNoDescriptorOfTheGatewayButItsPipes() async throws {
    // Something the gateway holds open without close-on-exec, as a listening socket or a client's
    // connection may be: the upstream must not see it.
    let held = open("/dev/null", O_RDONLY)
    defer { close(held) }
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        _ = try await client.openSession(token: Tokens.alice)
        let pid = try #require(g.gateway.upstreamPIDs.first)
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap { Int($0) }.sorted()
        #expect(fds.prefix(3) == [0, 1, 2])
        #expect(!fds.contains(Int(held)), "the upstream holds the gateway's descriptor \(held): \(fds)")
        // What the server opened itself comes after its three pipes; nothing of the gateway's.
        for fd in fds.dropFirst(3) {
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) ?? "?"
            #expect(!target.hasPrefix("socket:") && target != "/dev/null", "fd \(fd) -> \(target)")
        }
    }
}
