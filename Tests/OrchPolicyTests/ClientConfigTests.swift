import Foundation
import OrchJSON
import OrchPolicy
import Testing

private func names(_ config: ClientConfig) -> [String] { config.entries.map(\.name) }

@Suite struct ClientConfigTests {
    @Test func byDefaultEachOrgIsOneEntryAtItsAggregatedEndpoint() throws {
        let config = try ClientFixture.config(.cursor, .streamableHTTP, .placeholder)
        #expect(config.mode == .perOrg)
        #expect(names(config) == ["acme", "globex"])
        #expect(config.entries.map(\.url) == ["https://orch.example.com/orgs/acme/mcp", "https://orch.example.com/orgs/globex/mcp"])
        #expect(config.entries.allSatisfy { $0.server == nil })
        // A key that reaches only one org's servers gets only that org.
        let policy = try ClientFixture.policy()
        let bob = try #require(policy.user(named: "bob"))
        let ci = try #require(policy.key(user: bob, id: "ci"))
        let scoped = policy.clientConfig(user: bob, client: .cursor, token: .placeholder, reachable: [policy.server(org: "globex", name: "notes")!])
        #expect(names(scoped) == ["globex"])
        _ = ci
        // Choosing servers gives entries per server.
        let chosen = policy.clientConfig(user: bob, client: .cursor, token: .placeholder, reachable: policy.reachableServers(user: bob, at: Pinned.now),
                                         servers: [policy.server(org: "acme", name: "clock")!])
        #expect(chosen.mode == .perServer && names(chosen) == ["clock"])
    }

    @Test func clientConfigListsReachableServersInFileOrderNamingAmbiguousOnesByOrg() throws {
        let config = try ClientFixture.config(.cursor, .streamableHTTP, .placeholder, mode: .perServer)
        #expect(names(config) == ["acme-notes", "clock", "tickets", "globex-notes"])
        #expect(config.entries.map(\.url) == [
            "https://orch.example.com/orgs/acme/servers/notes/mcp", "https://orch.example.com/orgs/acme/servers/clock/mcp",
            "https://orch.example.com/orgs/acme/servers/tickets/mcp", "https://orch.example.com/orgs/globex/servers/notes/mcp",
        ])
    }

    @Test func clientConfigSSEPointsAtTheLegacyEndpoint() throws {
        let config = try ClientFixture.config(.cline, .sse, .placeholder, mode: .perServer)
        #expect(config.entries.first?.url == "https://orch.example.com/orgs/acme/servers/notes/sse")
        #expect(config.document["mcpServers"]?["clock"]?["type"] == "sse")
        #expect(try ClientFixture.config(.claudeCode, .sse, .placeholder).document["mcpServers"]?["acme"]?["type"] == "sse")
        #expect(try ClientFixture.config(.vscode, .sse, .placeholder).document["servers"]?["acme"]?["type"] == "sse")
        #expect(try ClientFixture.config(.cline, .sse, .placeholder).entries.map(\.url)
            == ["https://orch.example.com/orgs/acme/sse", "https://orch.example.com/orgs/globex/sse"])
    }

    @Test func clientConfigWritesEachClientsEnvironmentReference() throws {
        let expected: [MCPClient: String] = [
            .cline: "Bearer ${env:T}", .cursor: "Bearer ${env:T}", .windsurf: "Bearer ${env:T}", .claudeCode: "Bearer ${T}",
        ]
        for (client, header) in expected {
            let document = try ClientFixture.config(client, .streamableHTTP, .environment("T")).document
            #expect(document["mcpServers"]?["acme"]?["headers"]?["Authorization"] == .string(header), "\(client)")
        }
        let desktop = try ClientFixture.config(.claudeDesktop, .streamableHTTP, .environment("T")).document
        #expect(desktop["mcpServers"]?["acme"]?["env"] == ["AUTH_HEADER": "Bearer ${T}"])
        let vscode = try ClientFixture.config(.vscode, .streamableHTTP, .environment("T")).document
        #expect(vscode["servers"]?["acme"]?["headers"]?["Authorization"] == "Bearer ${input:orch-token}")
        #expect(vscode["inputs"]?.arrayValue?.first?["description"] == "orch token for bob (the value of $T)")
    }

    @Test func vscodeKeepsItsPromptAndNeverHoldsTheToken() throws {
        // .vscode/mcp.json is meant to be committed: a known token is not even the prompt's default.
        let withToken = try ClientFixture.config(.vscode, .streamableHTTP, .value("orch_abc"))
        #expect(withToken.document["inputs"] == [["type": "promptString", "id": "orch-token", "description": "orch token for bob", "password": true]])
        #expect(!withToken.document.compact.contains("orch_abc"))
        #expect(!withToken.holdsToken)
        let placeholder = try ClientFixture.config(.vscode, .streamableHTTP, .placeholder).document
        #expect(placeholder["inputs"]?.arrayValue?.first?["default"] == nil)
        #expect(!placeholder.compact.contains(ClientToken.placeholderText))
    }

    @Test func aKeysScopeNarrowsTheServers() throws {
        let policy = try ClientFixture.policy()
        let bob = try #require(policy.user(named: "bob"))
        let ci = try #require(policy.key(user: bob, id: "ci"))
        let reachable = policy.reachableServers(user: bob, key: ci, at: Pinned.now)
        #expect(reachable.map(policy.serverPath) == ["acme/clock", "globex/notes"])
        // Names are chosen among what the key reaches: notes is no longer ambiguous.
        let config = policy.clientConfig(user: bob, client: .cursor, token: .placeholder, reachable: reachable, mode: .perServer)
        #expect(names(config) == ["clock", "notes"])

        let scope = try [ScopeGlob.parse("acme/*").get()]
        #expect(policy.reachableServers(user: bob, scope: scope, at: Pinned.now).map(policy.serverPath) == ["acme/notes", "acme/clock", "acme/tickets"])
    }

    @Test func selectingServersKeepsFileOrderAndNamesAndRefusesUnreachableOnes() throws {
        let policy = try ClientFixture.policy()
        let bob = try #require(policy.user(named: "bob"))
        let reachable = policy.reachableServers(user: bob, at: Pinned.now)
        let selected = try policy.selectServers(["globex/notes", "acme/clock", "globex/notes"], reachable: reachable, user: bob, at: Pinned.now).get()
        #expect(selected.map(policy.serverPath) == ["acme/clock", "globex/notes"])
        let config = policy.clientConfig(user: bob, client: .cursor, token: .placeholder, reachable: reachable, servers: selected)
        #expect(names(config) == ["clock", "globex-notes"])

        #expect(policy.selectServers(["acme/vault"], reachable: reachable, user: bob, at: Pinned.now)
            == .failure(.unreachable("acme/vault", reason: "no role of bob allows acme/vault (roles: member)")))
        #expect(policy.selectServers(["acme/off"], reachable: reachable, user: bob, at: Pinned.now)
            == .failure(.unreachable("acme/off", reason: "server acme/off is disabled")))
        #expect(policy.selectServers(["acme/nope"], reachable: reachable, user: bob, at: Pinned.now) == .failure(.unknown("acme/nope")))
        #expect(policy.selectServers(["acme/clock:now"], reachable: reachable, user: bob, at: Pinned.now) == .failure(.notAServer("acme/clock:now")))
    }

    @Test func entryNamesStayDistinctWhenOrgAndServerNamesCollide() throws {
        let policy = try OrchPolicyTests.policy("""
            {
              "version": 1,
              "roles": { "all": { "allow": ["*"] } },
              "orgs": {
                "acme": { "members": { "u": "all" }, "servers": { "notes": { "command": "x" } } },
                "globex": { "members": { "u": "all" }, "servers": { "notes": { "command": "x" } } },
                "x": { "members": { "u": "all" }, "servers": { "acme-notes": { "command": "x" } } },
                "a": { "members": { "u": "all" }, "servers": { "b-c": { "command": "x" } } },
                "z": { "members": { "u": "all" }, "servers": { "b-c": { "command": "x" } } },
                "a-b": { "members": { "u": "all" }, "servers": { "c": { "command": "x" } } },
                "q": { "members": { "u": "all" }, "servers": { "c": { "command": "x" } } }
              },
              "users": { "u": {} }
            }
            """)
        let u = try #require(policy.user(named: "u"))
        let config = policy.clientConfig(user: u, client: .cursor, token: .placeholder, reachable: policy.reachableServers(user: u, at: Pinned.now),
                                         mode: .perServer)
        #expect(names(config) == ["acme-notes", "globex-notes", "x-acme-notes", "a-b-c", "z-b-c", "a-b-c-2", "q-c"])
        #expect(config.document["mcpServers"]?.objectValue?.count == 7)
    }

    @Test func aUserWhoReachesNothingGetsAnEmptyDocument() throws {
        let policy = try ClientFixture.policy()
        let bob = try #require(policy.user(named: "bob"))
        let config = policy.clientConfig(user: bob, client: .cline, token: .placeholder, reachable: [])
        #expect(config.document == ["mcpServers": [:]])
        #expect(policy.clientConfig(user: bob, client: .vscode, token: .placeholder, reachable: []).document["servers"] == [:])
    }

    @Test func unknownClientMessageListsTheValidOnes() {
        #expect(MCPClient(rawValue: "cursor") == .cursor)
        #expect(MCPClient(rawValue: "vs-code") == nil)
        #expect(MCPClient.unknownMessage("clin")
            == #"unknown client "clin" (did you mean "cline"?); valid clients: cline, claude-code, cursor, vscode, windsurf, claude-desktop"#)
        #expect(MCPClient.unknownMessage("emacs") == #"unknown client "emacs"; valid clients: cline, claude-code, cursor, vscode, windsurf, claude-desktop"#)
    }

    @Test func environmentVariableAndTokenChecks() {
        #expect(ClientToken.isValidVariable("ORCH_TOKEN"))
        #expect(ClientToken.isValidVariable("_x1"))
        #expect(!ClientToken.isValidVariable("1X"))
        #expect(!ClientToken.isValidVariable("A}B"))
        #expect(!ClientToken.isValidVariable(""))
        #expect(ClientToken.isValidToken("orch_abc-DEF_123"))
        #expect(!ClientToken.isValidToken("a b"))
        #expect(!ClientToken.isValidToken("a\nb"))
    }
}
