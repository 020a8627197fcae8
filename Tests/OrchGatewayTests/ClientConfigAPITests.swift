import Foundation
import Hummingbird
import HummingbirdTesting
import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

private let base = "https://orch.example.com/orgs"

@Suite struct ClientConfigAPITests {
    @Test func clientConfigAPIEmbedsTheCallersOwnToken() async throws {
        try await TestGateway().test { client in
            // By default one entry per org, at its aggregated endpoint.
            try await client.execute(uri: "/api/v1/client-config?client=cline", method: .get, headers: bearer(Tokens.bob)) { response in
                #expect(response.status == .ok)
                #expect(response.json == ["mcpServers": ["acme": [
                    "type": "streamableHttp", "url": .string("\(base)/acme/mcp"),
                    "headers": ["Authorization": .string("Bearer \(Tokens.bob)")], "disabled": false, "timeout": 60, "autoApprove": [],
                ]]])
            }
            try await client.execute(uri: "/api/v1/client-config?client=cline&mode=per-server", method: .get, headers: bearer(Tokens.bob)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                // The body carries the token: never cached.
                #expect(response.headers[.cacheControl] == "no-store")
                func entry(_ server: String) -> JSONValue {
                    [
                        "type": "streamableHttp", "url": .string("\(base)/acme/servers/\(server)/mcp"),
                        "headers": ["Authorization": .string("Bearer \(Tokens.bob)")], "disabled": false, "timeout": 60, "autoApprove": [],
                    ]
                }
                #expect(response.json == ["mcpServers": ["notes": entry("notes"), "clock": entry("clock")]])
            }
        }
    }

    @Test func clientConfigAPIBodyIsThePrettyDocumentTheCLIPrints() async throws {
        let policy = try #require(compile(testPolicyJSON()).policy)
        let alice = try #require(policy.user(named: "alice"))
        let key = policy.key(user: alice, id: "laptop")
        let reachable = policy.reachableServers(user: alice, key: key, at: Date())
        try await TestGateway().test { client in
            for name in MCPClient.allCases {
                try await client.execute(uri: "/api/v1/client-config?client=\(name.rawValue)&transport=sse", method: .get, headers: bearer(Tokens.alice)) { response in
                    let expected = policy.clientConfig(user: alice, client: name, transport: .sse, token: .value(Tokens.alice), reachable: reachable)
                    #expect(expected.mode == .perOrg)
                    #expect(String(buffer: response.body) == expected.document.pretty + "\n")
                }
            }
        }
    }

    @Test func aVSCodeConfigNeverHoldsTheToken() async throws {
        try await TestGateway().test { client in
            try await client.execute(uri: "/api/v1/client-config?client=vscode&mode=per-server", method: .get, headers: bearer(Tokens.bob)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.cacheControl] == "no-store")
                #expect(!String(buffer: response.body).contains(Tokens.bob))
                #expect(response.json["inputs"]?.arrayValue?.first?["default"] == nil)
                #expect(response.json["servers"]?["notes"]?["headers"]?["Authorization"] == "Bearer ${input:orch-token}")
            }
        }
    }

    @Test func clientConfigAPINamesServersByOrgOnlyWhenAmbiguous() async throws {
        try await TestGateway().test { client in
            try await client.execute(uri: "/api/v1/client-config?client=claude-code&transport=sse&mode=per-server", method: .get, headers: bearer(Tokens.alice)) { response in
                let servers = try #require(response.json["mcpServers"]?.objectValue)
                #expect(servers.keys == ["acme-notes", "clock", "secret", "globex-notes"])
                #expect(servers["globex-notes"] == [
                    "type": "sse", "url": .string("\(base)/globex/servers/notes/sse"), "headers": ["Authorization": .string("Bearer \(Tokens.alice)")],
                ])
            }
        }
    }

    @Test func clientConfigAPIFollowsTheKeysScopeAndTheServerFilter() async throws {
        try await TestGateway().test { client in
            try await client.execute(uri: "/api/v1/client-config?client=cursor&mode=per-server", method: .get, headers: bearer(Tokens.bobCI)) { response in
                #expect(response.json == ["mcpServers": ["clock": [
                    "url": .string("\(base)/acme/servers/clock/mcp"), "headers": ["Authorization": .string("Bearer \(Tokens.bobCI)")],
                ]]])
            }
            try await client.execute(uri: "/api/v1/client-config?client=windsurf&server=acme/clock&server=globex/notes", method: .get, headers: bearer(Tokens.alice)) { response in
                #expect(response.status == .ok)
                #expect(response.json["mcpServers"]?.objectValue?.keys == ["clock", "globex-notes"])
            }
        }
    }

    @Test func clientConfigAPIAnswersAnUnreachableServerLikeAMissingOne() async throws {
        let gateway = try TestGateway()
        try await gateway.test { client in
            var bodies: [String] = []
            for server in ["acme/secret", "acme/nosuch"] {
                try await client.execute(uri: "/api/v1/client-config?client=cline&server=\(server)", method: .get, headers: bearer(Tokens.bob)) { response in
                    #expect(response.status == .notFound)
                    bodies.append(String(buffer: response.body).replacingOccurrences(of: server, with: "S"))
                }
            }
            #expect(bodies.count == 2 && bodies[0] == bodies[1])
            try await client.execute(uri: "/api/v1/client-config?client=cline&server=secret", method: .get, headers: bearer(Tokens.bob)) { response in
                #expect(response.status == .badRequest)
            }
        }
        #expect(gateway.auditLines.contains { $0.contains("no role of bob allows acme/secret") })
    }

    @Test func clientConfigAPIRefusesAnUnknownClientListingTheValidOnes() async throws {
        try await TestGateway().test { client in
            try await client.execute(uri: "/api/v1/client-config?client=emacs", method: .get, headers: bearer(Tokens.bob)) { response in
                #expect(response.status == .badRequest)
                #expect(response.json == ["error": [
                    "code": "bad_request",
                    "message": #"unknown client "emacs"; valid clients: cline, claude-code, cursor, vscode, windsurf, claude-desktop"#,
                ]])
            }
            try await client.execute(uri: "/api/v1/client-config", method: .get, headers: bearer(Tokens.bob)) { response in
                #expect(response.status == .badRequest)
                #expect(response.json["error"]?["message"] == "give client=C; valid clients: cline, claude-code, cursor, vscode, windsurf, claude-desktop")
            }
            try await client.execute(uri: "/api/v1/client-config?client=cline&mode=per-user", method: .get, headers: bearer(Tokens.bob)) { response in
                #expect(response.status == .badRequest)
                #expect(response.json["error"]?["message"] == "unknown mode \"per-user\"; valid modes: per-org, per-server")
            }
            try await client.execute(uri: "/api/v1/client-config?client=cline&transport=ws", method: .get, headers: bearer(Tokens.bob)) { response in
                #expect(response.status == .badRequest)
                #expect(response.json["error"]?["message"] == #"unknown transport "ws"; valid transports: streamable-http, sse"#)
            }
            try await client.execute(uri: "/api/v1/client-config?client=cline", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func clientConfigAPINeverShowsUpstreamDetails() async throws {
        try await TestGateway().test { client in
            for name in MCPClient.allCases {
                for transport in ClientTransport.allCases {
                    let uri = "/api/v1/client-config?client=\(name.rawValue)&transport=\(transport.rawValue)"
                    try await client.execute(uri: uri, method: .get, headers: bearer(Tokens.alice)) { response in
                        let text = String(buffer: response.body)
                        #expect(response.status == .ok)
                        for secret in ["hunter2-not-for-api", "NOTES_TOKEN", "upstream-query-secret", "upstream-header-secret", "upstream.example.com", "sample-server", Tokens.hash(Tokens.alice)] {
                            #expect(!text.contains(secret), "\(uri) leaks \(secret)")
                        }
                    }
                }
            }
        }
    }
}
