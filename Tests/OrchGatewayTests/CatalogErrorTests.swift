import Foundation
import Hummingbird
import HummingbirdTesting
import OrchGateway
import OrchJSON
import Testing

/// `GET /api/v1/tools|prompts|resources` list a failing server in `errors` by the kind of failure
/// only: the upstream's own message names its command, cwd or host, which the API never shows.
@Suite struct CatalogErrorTests {
    @Test func catalogErrorsNeverNameTheUpstreamsCommandCwdOrHost() async throws {
        let servers = #"""
            , "gone": { "command": "/nonexistent/cmd-secret-path/bin/tool", "args": ["--flag"] },
              "badcwd": { "command": "/bin/sh", "args": ["-c", "true"], "cwd": "/nonexistent/cwd-secret-path" },
              "quits": { "command": "/bin/sh", "args": ["-c", "echo exit-secret-output; exit 3"] },
              "refusing": { "url": "http://127.0.0.1:1/url-secret-path/mcp?key=url-secret-query", "timeoutSeconds": 1 }
            """#
        try await TestGateway(json: mcpPolicyJSON(extraServers: servers)).test { client in
            for route in ["tools", "prompts", "resources"] {
                try await client.execute(uri: "/api/v1/\(route)", method: .get, headers: bearer(Tokens.alice)) { response in
                    #expect(response.status == .ok)
                    let errors = Dictionary(uniqueKeysWithValues: (response.json["errors"]?.arrayValue ?? []).map {
                        ($0["server"]?.stringValue ?? "", $0["message"]?.stringValue ?? "")
                    })
                    #expect(errors["acme/gone"] == "the server could not be started or reached")
                    #expect(errors["acme/badcwd"] == "the server could not be started or reached")
                    #expect(errors["acme/quits"] == "the server exited or ended its session before listing")
                    #expect(["the server could not be started or reached", "the server did not list in time"].contains(errors["acme/refusing"] ?? ""))
                    let body = String(buffer: response.body)
                    for secret in ["cmd-secret-path", "cwd-secret-path", "exit-secret-output", "url-secret", "127.0.0.1"] {
                        #expect(!body.contains(secret), "/api/v1/\(route) shows \(secret)")
                    }
                }
            }
        }
    }
}

/// An MCP client is told that a server could not start, never its command, cwd or URL (they may
/// hold secrets); the gateway's log has them.
@Test func aServerThatCannotStartIsNotDescribedToTheClient() async throws {
    let servers = #", "gone": { "command": "/nonexistent/cmd-secret-path/bin/tool" }, "badcwd": { "command": "/bin/sh", "cwd": "/nonexistent/cwd-secret-path" }"#
    let g = try TestGateway(json: mcpPolicyJSON(extraServers: servers))
    try await g.test { client in
        for server in ["gone", "badcwd"] {
            let opened = try await client.mcp(path: "/orgs/acme/servers/\(server)/mcp", token: Tokens.alice, initializeBody)
            #expect(opened.status == .badGateway)
            #expect(opened.body["error"]?["message"] == .string("the server acme/\(server) is unavailable: the server could not be started or reached"))
        }
    }
    for line in g.auditLines {
        #expect(!line.contains("secret-path"), "\(line)")
    }
}

/// A remote server that refuses the connection is unavailable at once (502), not a timeout.
@Test func aRemoteServerThatRefusesTheConnectionIsA502AtOnce() async throws {
    let servers = #", "closed": { "url": "http://127.0.0.1:1/mcp" }"#
    try await TestGateway(json: mcpPolicyJSON(limits: #""callTimeoutSeconds": 30"#, extraServers: servers)).test { client in
        let started = ContinuousClock.now
        let opened = try await client.mcp(path: "/orgs/acme/servers/closed/mcp", token: Tokens.alice, initializeBody)
        #expect(opened.status == .badGateway)
        #expect(opened.session == nil)
        // Before the 30 s call timeout (with room for a loaded machine): nothing waited out the timeout.
        #expect(ContinuousClock.now - started < .seconds(25))
    }
}
