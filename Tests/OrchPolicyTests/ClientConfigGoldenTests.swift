import Foundation
import OrchJSON
import OrchPolicy
import Testing

/// The policy every client-config test renders: bob reaches `notes` in two orgs (so both get
/// `ORG-SERVER` names), `clock` and a remote `tickets` (short names), but not `vault` (no rule) or
/// `off` (disabled). Upstream details are deliberately recognisable so a leak is easy to spot.
enum ClientFixture {
    static let token = "orch_example-token-for-bob"
    static let upstreamURL = "https://mcp.tickets.internal.example/upstream/mcp"
    static let secrets = [
        "/opt/secret-bin/notes-server", "--db", "/srv/secret-db", "NOTES_API_TOKEN", Pinned.secret, "literal-env-value",
        "clock-server", "vault-server", upstreamURL, "tickets.internal.example", "X-Upstream-Key", "literal-header-value",
        "Bearer \(Pinned.secret)", "/srv/notes-cwd",
    ]

    static let json = """
        {
          "version": 1,
          "gateway": { "publicURL": "https://orch.example.com" },
          "roles": { "member": { "allow": ["notes", "clock", "tickets", "off"] } },
          "orgs": {
            "acme": {
              "members": { "bob": "member" },
              "servers": {
                "notes": { "command": "/opt/secret-bin/notes-server", "args": ["--db", "/srv/secret-db"], "cwd": "/srv/notes-cwd",
                           "env": { "NOTES_API_TOKEN": "${env:TICKETS_TOKEN}", "MODE": "literal-env-value" } },
                "clock": { "command": "clock-server" },
                "tickets": { "url": "\(upstreamURL)", "transport": "sse",
                             "headers": { "Authorization": "Bearer ${env:TICKETS_TOKEN}", "X-Upstream-Key": "literal-header-value" } },
                "vault": { "command": "vault-server" },
                "off": { "command": "clock-server", "disabled": true }
              }
            },
            "globex": { "members": { "bob": "member" }, "servers": { "notes": { "command": "/opt/secret-bin/notes-server" } } }
          },
          "users": { "bob": { "keys": [ { "id": "ci", "sha256": "\(TokenHash.bobCI)", "scope": ["acme/clock", "globex/*"] } ] } }
        }
        """

    static func policy() throws -> Policy { try OrchPolicyTests.policy(json) }

    /// bob's config for every server he may reach: one entry per org, or per server.
    static func config(_ client: MCPClient, _ transport: ClientTransport = .streamableHTTP, _ token: ClientToken,
                       mode: ClientConfigMode = .perOrg) throws -> ClientConfig {
        let policy = try policy()
        let bob = try #require(policy.user(named: "bob"))
        return policy.clientConfig(
            user: bob, client: client, transport: transport, token: token, reachable: policy.reachableServers(user: bob, at: Pinned.now), mode: mode)
    }
}

/// One golden file: `ClientConfigFixtures/CLIENT.VARIANT.json` holds exactly `document.pretty` and
/// a newline. Run with `ORCH_UPDATE_GOLDEN=1` to rewrite them after an intended change, then read
/// the diff.
struct ClientGolden: Sendable, CustomTestStringConvertible {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("ClientConfigFixtures")
    static let variants = ["streamable-http", "sse", "token-env", "placeholder", "per-server", "per-server.sse", "oauth"]

    let client: MCPClient
    let variant: String

    var fileName: String { "\(client.rawValue).\(variant).json" }
    var testDescription: String { fileName }

    var transport: ClientTransport { variant.hasSuffix("sse") ? .sse : .streamableHTTP }
    var mode: ClientConfigMode { variant.hasPrefix("per-server") ? .perServer : .perOrg }
    var token: ClientToken {
        switch variant {
        case "token-env": .environment("ORCH_TOKEN")
        case "placeholder": .placeholder
        case "oauth": .oauth
        default: .value(ClientFixture.token)
        }
    }

    static let all: [ClientGolden] = MCPClient.allCases.flatMap { client in variants.map { ClientGolden(client: client, variant: $0) } }
}

@Suite struct ClientConfigGoldenTests {
    @Test(arguments: ClientGolden.all)
    func clientConfigMatchesItsGoldenFile(_ golden: ClientGolden) throws {
        let actual = try ClientFixture.config(golden.client, golden.transport, golden.token, mode: golden.mode).document.pretty + "\n"
        let url = ClientGolden.folder.appendingPathComponent(golden.fileName)
        if ProcessInfo.processInfo.environment["ORCH_UPDATE_GOLDEN"] == "1" {
            try Data(actual.utf8).write(to: url)
        }
        let expected = try #require(try? Data(contentsOf: url), "missing golden file \(url.path)")
        #expect(Array(actual.utf8) == [UInt8](expected), """
            \(golden.fileName) differs.
            expected:
            \(String(decoding: expected, as: UTF8.self))
            actual:
            \(actual)
            """)
    }

    @Test func clientConfigFolderHoldsExactlyTheGoldenFiles() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: ClientGolden.folder.path).sorted()
        #expect(names == ClientGolden.all.map(\.fileName).sorted())
    }

    /// Every string in a document, keys and values alike.
    private func strings(in value: JSONValue) -> [String] {
        switch value {
        case .string(let s): return [s]
        case .array(let items): return items.flatMap(strings(in:))
        case .object(let object): return object.flatMap { [$0.key] + strings(in: $0.value) }
        default: return []
        }
    }

    @Test func noUpstreamCommandArgEnvHeaderOrURLReachesAnyClientConfig() throws {
        let tokens: [ClientToken] = [.value(ClientFixture.token), .environment("ORCH_TOKEN"), .placeholder]
        let policy = try ClientFixture.policy()
        let bob = try #require(policy.user(named: "bob"))
        let key = policy.key(user: bob, id: "ci")
        for client in MCPClient.allCases {
            for transport in ClientTransport.allCases {
                for token in tokens {
                    for key in [nil, key] {
                        let reachable = policy.reachableServers(user: bob, key: key, at: Pinned.now)
                        let document = policy.clientConfig(user: bob, client: client, transport: transport, token: token, reachable: reachable).document
                        for text in [document.pretty, document.compact] {
                            for secret in ClientFixture.secrets {
                                #expect(!text.contains(secret), "\(client.rawValue) \(transport.rawValue) \(token) leaks \(secret)")
                            }
                        }
                        // Every URL in the document is the gateway's, never an upstream's.
                        for s in strings(in: document) where s.contains("://") {
                            #expect(s.hasPrefix("https://orch.example.com/orgs/"), "\(client.rawValue): \(s)")
                        }
                    }
                }
            }
        }
    }
}
