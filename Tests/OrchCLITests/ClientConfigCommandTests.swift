import Foundation
import OrchJSON
import Testing

/// `Fixtures.policy` has no publicURL, so configs point at the default `http://` + listen.
private let base = "http://127.0.0.1:8080/orgs/acme/servers"
/// The org's aggregated endpoint: where the default (per-org) configs point.
private let orgBase = "http://127.0.0.1:8080/orgs/acme"

private let placeholderGuidance = [
    "orch: replace <ORCH_TOKEN> with alice's orch token, or run again with --token-stdin (the token on standard input) or --token-env VAR (Cursor reads it from $VAR)",
    "orch: no token yet? `orch keys new --user alice --client cursor --write` mints a key, adds it to orch.json and prints this config with it",
]

@Suite struct ClientConfigCommandTests {
    @Test func clientConfigWithoutATokenPrintsThePlaceholderAndSaysHowToFillIt() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let run = try sandbox.run(["client-config", "--user", "alice", "--client", "cursor"])
        #expect(run.status == 0)
        #expect(run.stdout == """
            {
              "mcpServers": {
                "acme": {
                  "url": "\(orgBase)/mcp",
                  "headers": {
                    "Authorization": "Bearer <ORCH_TOKEN>"
                  }
                }
              }
            }

            """)
        #expect(run.err == placeholderGuidance)
        let perServer = try sandbox.run(["client-config", "--user", "alice", "--client", "cursor", "--per-server"])
        #expect(perServer.status == 0)
        #expect(perServer.stdout == """
            {
              "mcpServers": {
                "notes": {
                  "url": "\(base)/notes/mcp",
                  "headers": {
                    "Authorization": "Bearer <ORCH_TOKEN>"
                  }
                },
                "clock": {
                  "url": "\(base)/clock/mcp",
                  "headers": {
                    "Authorization": "Bearer <ORCH_TOKEN>"
                  }
                }
              }
            }

            """)
        #expect(run.err == placeholderGuidance)
    }

    @Test func clientConfigWithOAuthLeavesTheTokenOutAndNeedsIssuers() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let refused = try sandbox.run(["client-config", "--user", "alice", "--client", "claude-code", "--auth", "oauth"])
        #expect(refused.status == 2)
        #expect(refused.err.last == "orch: --auth oauth needs auth.oidc issuers in orch.json: without them the client has nowhere to sign in")
        let withIssuer = Fixtures.policy.replacingOccurrences(
            of: #""version": 1,"#, with: #""version": 1, "auth": {"oidc": {"sso": {"issuer": "https://id.example.com"}}},"#)
        #expect(withIssuer != Fixtures.policy)
        try sandbox.write("orch.json", withIssuer)
        let run = try sandbox.run(["client-config", "--user", "alice", "--client", "claude-code", "--auth", "oauth"])
        #expect(run.status == 0)
        #expect(try JSONValue.parse(run.stdout) == ["mcpServers": ["acme": ["type": "http", "url": .string("\(orgBase)/mcp")]]])
        #expect(run.err.first?.hasPrefix("orch: no token in the file: Claude Code signs in itself") == true)
        let both = try sandbox.run(["client-config", "--user", "alice", "--client", "cline", "--auth", "oauth", "--token-env", "T"])
        #expect(both.status == 2)
    }

    @Test func clientConfigTakesTheFileAsPositionalOrOption() throws {
        let sandbox = try Sandbox()
        try sandbox.write("team.json", Fixtures.policy)
        let positional = try sandbox.run(["client-config", "team.json", "--user", "alice", "--client", "cursor"])
        let option = try sandbox.run(["client-config", "-c", "team.json", "--user", "alice", "--client", "cursor"])
        let environment = try sandbox.run(["client-config", "--user", "alice", "--client", "cursor"], environment: ["ORCH_CONFIG": "team.json"])
        #expect(positional.status == 0)
        #expect(option.stdout == positional.stdout)
        #expect(environment.stdout == positional.stdout)
    }

    @Test func clientConfigTokenEnvWritesTheClientsReference() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let code = try sandbox.run(["client-config", "--user", "bob", "--client", "claude-code", "--token-env", "ORCH_TOKEN", "--per-server"])
        #expect(code.status == 0)
        let document = try JSONValue.parse(code.stdout)
        #expect(document == ["mcpServers": ["notes": ["type": "http", "url": .string("\(base)/notes/mcp"), "headers": ["Authorization": "Bearer ${ORCH_TOKEN}"]]]])
        #expect(code.err == ["orch: Claude Code reads the token from $ORCH_TOKEN (${ORCH_TOKEN}): set ORCH_TOKEN in the environment it starts from"])

        let cline = try sandbox.run(["client-config", "--user", "bob", "--client", "cline", "--token-env", "ORCH_TOKEN", "--transport", "sse"])
        #expect(try JSONValue.parse(cline.stdout)["mcpServers"]?["acme"] == [
            "type": "sse", "url": .string("\(orgBase)/sse"), "headers": ["Authorization": "Bearer ${env:ORCH_TOKEN}"],
            "disabled": false, "timeout": 60, "autoApprove": [],
        ])

        let vscode = try sandbox.run(["client-config", "--user", "bob", "--client", "vscode", "--token-env", "ORCH_TOKEN"])
        #expect(vscode.status == 0)
        #expect(try JSONValue.parse(vscode.stdout)["servers"]?["acme"]?["headers"] == ["Authorization": "Bearer ${input:orch-token}"])
        #expect(vscode.err.first?.hasPrefix("orch: VS Code does not take the token from $ORCH_TOKEN here") == true)
    }

    @Test func clientConfigTokenStdinWritesTheTokenAndNarrowsToItsKeysScope() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let alice = try sandbox.run(["client-config", "--user", "alice", "--client", "windsurf", "--token-stdin"], stdin: Fixtures.aliceToken + "\n")
        #expect(alice.status == 0)
        #expect(alice.err == [])
        #expect(try JSONValue.parse(alice.stdout)["mcpServers"]?["acme"] == [
            "serverUrl": .string("\(orgBase)/mcp"), "headers": ["Authorization": .string("Bearer \(Fixtures.aliceToken)")],
        ])

        // Claude Desktop goes through mcp-remote, with the header text in env.
        let desktop = try sandbox.run(["client-config", "--user", "bob", "--client", "claude-desktop", "--token-stdin"], stdin: Fixtures.bobCIToken)
        #expect(desktop.status == 0)
        #expect(try JSONValue.parse(desktop.stdout) == ["mcpServers": ["acme": [
            "command": "npx", "args": ["-y", "mcp-remote", .string("\(orgBase)/mcp"), "--header", "Authorization:${AUTH_HEADER}"],
            "env": ["AUTH_HEADER": .string("Bearer \(Fixtures.bobCIToken)")],
        ]]])
    }

    @Test func clientConfigTokenStdinRefusesAnotherUsersKeyAndWarnsOnAnUnknownToken() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let foreign = try sandbox.run(["client-config", "--user", "alice", "--client", "cline", "--token-stdin"], stdin: Fixtures.bobCIToken)
        #expect(foreign.status == 2)
        #expect(foreign.out == [])
        #expect(foreign.err == ["orch: the token on stdin is a key of another user, not alice"])

        let unknown = try sandbox.run(["client-config", "--user", "alice", "--client", "cline", "--token-stdin"], stdin: "orch_not_in_the_file")
        #expect(unknown.status == 0)
        #expect(unknown.stdout.contains("Bearer orch_not_in_the_file"))
        #expect(unknown.err == ["orch: warning: the token on stdin is no key in orch.json; the gateway refuses it until its hash (orch keys hash) is added to users.alice.keys"])
        #expect(!unknown.stderr.contains("orch_not_in_the_file"))

        let empty = try sandbox.run(["client-config", "--user", "alice", "--client", "cline", "--token-stdin"], stdin: "\n")
        #expect(empty.status == 2)
        #expect(empty.err == ["orch: no token on stdin"])
    }

    @Test func clientConfigServerOptionLimitsTheServersAndRefusesUnreachableOnes() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let one = try sandbox.run(["client-config", "--user", "alice", "--client", "cursor", "--server", "acme/clock"])
        #expect(one.status == 0)
        #expect(try JSONValue.parse(one.stdout)["mcpServers"]?.objectValue?.keys == ["clock"])

        let denied = try sandbox.run(["client-config", "--user", "bob", "--client", "cursor", "--server", "acme/clock"])
        #expect(denied.status == 2)
        #expect(denied.out == [])
        #expect(denied.err == ["orch: bob may not use acme/clock: no role of bob allows acme/clock (roles: reader, editor)"])

        let unknown = try sandbox.run(["client-config", "--user", "bob", "--client", "cursor", "--server", "acme/nope"])
        #expect(unknown.status == 2)
        #expect(unknown.err == ["orch: no server acme/nope in orch.json"])

        // --key narrows to the key's scope; the expired-in-2040 key is still good.
        let scoped = try sandbox.run(["client-config", "--user", "bob", "--client", "cursor", "--key", "ci", "--server", "acme/notes"])
        #expect(scoped.status == 0)
    }

    @Test(arguments: [
        (["client-config", "--user", "alice", "--client", "emacs"], "unknown client \"emacs\"; valid clients: cline, claude-code, cursor, vscode, windsurf, claude-desktop"),
        (["client-config", "--user", "alice", "--client", "cline", "--transport", "ws"], "unknown transport \"ws\"; valid transports: streamable-http, sse"),
        (["client-config", "--user", "alice", "--client", "cline", "--token-env", "X", "--token-stdin"], "give --token-env or --token-stdin, not both"),
        (["client-config", "--user", "alice", "--client", "cline", "--token-env", "1BAD"], "--token-env 1BAD is not an environment variable name"),
        (["client-config", "--user", "alice", "--client", "cline", "--server", "clock"], "--server clock is not ORG/SERVER"),
        (["client-config", "--user", "zed", "--client", "cline"], "orch: no user zed in orch.json"),
        (["client-config", "--user", "bob", "--client", "cline", "--key", "nope"], "orch: user bob has no key \"nope\" in orch.json"),
        (["client-config", "--client", "cline"], "--user"),
    ])
    func clientConfigUsageErrorsExit2(arguments: [String], message: String) throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let run = try sandbox.run(arguments)
        #expect(run.status == 2)
        #expect(run.out == [])
        #expect(run.stderr.contains(message), "\(run.stderr)")
    }

    @Test func clientConfigOfAnInvalidFileExits2() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.twoErrors)
        let run = try sandbox.run(["client-config", "--user", "bob", "--client", "cline"])
        #expect(run.status == 2)
        #expect(run.out == [])
        #expect(run.err.last == "orch: orch.json is not valid; run `orch check orch.json` for details")
        let missing = try sandbox.run(["client-config", "absent.json", "--user", "bob", "--client", "cline"])
        #expect(missing.status == 2)
    }

    @Test func clientConfigNeverPrintsUpstreamCommandsOrEnv() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.literalSecret)
        for client in ["cline", "claude-code", "cursor", "vscode", "windsurf", "claude-desktop"] {
            for transport in ["streamable-http", "sse"] {
                let run = try sandbox.run(["client-config", "--user", "bob", "--client", client, "--transport", transport, "--per-server"])
                #expect(run.status == 0)
                #expect(run.stdout.contains("/orgs/acme/servers/notes/"))
                for secret in ["literal", "API_TOKEN", "\"x\""] { #expect(!(run.stdout + run.stderr).contains(secret), "\(client) leaks \(secret)") }
            }
        }
    }

    @Test func keysNewWithClientPrintsTheConfigWithTheNewToken() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let before = try sandbox.read("orch.json")
        let run = try sandbox.run(["keys", "new", "--user", "alice", "--id", "cline", "--client", "cline", "--scope", "acme/clock", "--per-server"])
        #expect(run.status == 0)
        let document = try JSONValue.parse(run.stdout)
        // The scope of the key being minted narrows the servers.
        #expect(document["mcpServers"]?.objectValue?.keys == ["clock"])
        let header = try #require(document["mcpServers"]?["clock"]?["headers"]?["Authorization"]?.stringValue)
        let token = String(header.dropFirst("Bearer ".count))
        #expect(token.range(of: "^orch_[A-Za-z0-9_-]{43}$", options: .regularExpression) != nil)
        #expect(run.err.first == "add this key to users.alice.keys in orch.json (the token in the config above is shown only now):")
        let key = try JSONValue.parse(run.err.dropFirst().joined(separator: "\n"))
        #expect(key["sha256"] == .string(SHA256.hex(token)))
        #expect(key["scope"] == ["acme/clock"])
        #expect(!run.stderr.contains(token))
        #expect(try sandbox.read("orch.json") == before)
    }

    @Test func keysNewWithClientAndWriteAddsTheKeyAndTheConfigWorksWithIt() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let run = try sandbox.run(["keys", "new", "orch.json", "--user", "bob", "--id", "code", "--client", "claude-code", "--transport", "sse", "--write"])
        #expect(run.status == 0)
        #expect(run.err.first == "added key code to users.bob.keys in orch.json (the token in the config above is shown only now):")
        let entry = try #require(try JSONValue.parse(run.stdout)["mcpServers"]?["acme"])
        #expect(entry["type"] == "sse")
        #expect(entry["url"] == .string("\(orgBase)/sse"))
        let token = try #require(entry["headers"]?["Authorization"]?.stringValue?.dropFirst("Bearer ".count))
        let written = try JSONValue.parse(try sandbox.read("orch.json"))
        #expect(written["users"]?["bob"]?["keys"]?.arrayValue?.last?["sha256"] == .string(SHA256.hex(String(token))))
        // The token is now a key of bob: client-config accepts it on stdin without a warning.
        let again = try sandbox.run(["client-config", "--user", "bob", "--client", "cursor", "--token-stdin"], stdin: String(token))
        #expect(again.status == 0)
        #expect(again.err == [])
    }

    @Test func keysNewWithClientAndJSONPrintsTokenKeyAndConfig() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let run = try sandbox.run(["keys", "new", "--user", "bob", "--id", "x", "--client", "vscode", "--json"])
        #expect(run.status == 0)
        let answer = try JSONValue.parse(run.stdout)
        #expect(answer.objectValue?.keys == ["token", "key", "config"])
        // The token is in the answer, never in VS Code's document, which may be committed.
        let token = try #require(answer["token"]?.stringValue)
        #expect(answer["config"]?["inputs"]?.arrayValue?.first?["default"] == nil)
        #expect(!(answer["config"]?.compact.contains(token) ?? true))
    }

    @Test func keysNewForVSCodeShowsTheTokenOnTheTerminalNotInTheFile() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let run = try sandbox.run(["keys", "new", "--user", "bob", "--id", "x", "--client", "vscode", "--write"])
        #expect(run.status == 0)
        let line = try #require(run.err.first { $0.hasPrefix("the token, to enter when VS Code asks for it: ") })
        let token = String(line.dropFirst("the token, to enter when VS Code asks for it: ".count))
        #expect(token.hasPrefix("orch_"))
        #expect(!run.stdout.contains(token))
        let written = try JSONValue.parse(try sandbox.read("orch.json"))
        #expect(written["users"]?["bob"]?["keys"]?.arrayValue?.last?["sha256"] == .string(SHA256.hex(token)))
    }

    @Test(arguments: [
        ["keys", "new", "--user", "bob", "--client", "emacs"],
        ["keys", "new", "--user", "bob", "--transport", "sse"],
        ["keys", "new", "--user", "bob", "--client", "cline", "--transport", "ws"],
        ["keys", "new", "--user", "bob", "--per-server"],
    ])
    func keysNewClientUsageErrorsExit2AndMintNothing(arguments: [String]) throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let before = try sandbox.read("orch.json")
        let run = try sandbox.run(arguments + ["--write"])
        #expect(run.status == 2)
        #expect(run.out == [])
        #expect(try sandbox.read("orch.json") == before)
    }
}
