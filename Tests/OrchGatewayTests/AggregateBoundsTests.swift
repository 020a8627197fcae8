import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// What one key's aggregated sessions may take: a count, and a bounded part of each initialize.

@Test func aggregatedSessionsCountAgainstTheKeysSessionLimit() async throws {
    let g = try TestGateway(json: mcpPolicyJSON(limits: #""maxSessionsPerKey": 2"#))
    try await g.test { client in
        let first = try await client.openSession("/orgs/acme/mcp")
        _ = try await client.openSession("/orgs/acme/mcp")
        let third = try await client.mcp(path: "/orgs/acme/mcp", initializeBody)
        #expect(third.status == .tooManyRequests)
        #expect(third.body["error"]?["code"] == "too_many_sessions")
        #expect(third.session == nil)
        // Another key has its own count; an ended session gives its slot back.
        #expect(try await client.mcp(path: "/orgs/acme/mcp", token: Tokens.alice, initializeBody).status == .ok)
        try await client.execute(uri: "/orgs/acme/mcp", method: .delete, headers: [.authorization: "Bearer \(Tokens.bob)", .sessionID: first]) { response in
            #expect(response.status == .noContent)
        }
        #expect(try await client.mcp(path: "/orgs/acme/mcp", initializeBody).status == .ok)
    }
    #expect(g.auditLines.contains { $0.contains(#""status":429"#) && $0.contains("has 2 sessions open on /orgs/acme/mcp") })
}

@Test func anAggregatedSessionKeepsOnlyTheBoundedPartOfInitializeItRepeatsToItsServers() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    let padding = String(repeating: "x", count: 3 << 19)
    let large = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"#
        + #""clientInfo":{"name":"test","version":"1"},"_meta":{"padding":"\#(padding)"},"extra":"\#(padding)"}}"#
    try await g.test { client in
        // 3 MiB of params the servers need not hear again: the session opens, and keeps none of it.
        let opened = try await client.mcp(path: "/orgs/acme/mcp", large)
        #expect(opened.status == .ok)
        let id = try #require(opened.session)
        let kept = try #require(g.gateway.aggregates.session(id)?.initializeParams)
        #expect(Set(kept.keys) == ["protocolVersion", "capabilities", "clientInfo"])
        #expect(kept["capabilities"] == ["roots": [:]])
        #expect(kept["clientInfo"]?["name"] == "test")
        // What it repeats to its servers is bounded: capabilities or client info past it are refused.
        let huge = #"{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"experimental":{"x":"\#(padding)"}},"clientInfo":{"name":"t","version":"1"}}}"#
        let refused = try await client.mcp(path: "/orgs/acme/mcp", huge)
        #expect(refused.status == .badRequest)
        #expect(refused.body["error"]?["code"] == -32602)
        #expect(refused.body["error"]?["message"]?.stringValue?.contains("16384") == true, "\(refused.body)")
        #expect(refused.session == nil)
        #expect(g.gateway.aggregates.all.count == 1)
        // The session still starts its servers with what it kept.
        let echoed = try await client.aggregate("tools/call", #"{"name":"notes__echo","arguments":{"text":"kept"}}"#, session: id)
        #expect(echoed["result"]?["content"]?.arrayValue?.first?["text"] == "kept")
    }
}
