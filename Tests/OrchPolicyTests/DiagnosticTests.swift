import Foundation
import OrchJSON
import OrchPolicy
import Testing

// Diagnostics beyond the golden files: strict mode, secrets, syntax positions, rendering.

private let oneOfEachWarning = """
    {
      "version": 1,
      "roles": { "admin": { "allow": ["*"] }, "unused": { "allow": ["*"] } },
      "orgs": { "acme": { "members": { "alice": "admin" }, "servers": {
        "excel": { "command": "uvx", "env": { "API_TOKEN": "literal" } } } },
        "empty": { "members": {}, "servers": { "lonely": { "command": "x" } } } },
      "users": {
        "alice": { "keys": [ { "id": "laptop", "sha256": "\(TokenHash.t1)", "expires": "2026-12-01" } ] },
        "carol": {}
      }
    }
    """

@Test func warningsAloneLetTheFileCompile() throws {
    let result = compile(oneOfEachWarning)
    #expect(result.ok)
    #expect(result.errors.isEmpty)
    #expect(unplaced(rendered(result.diagnostics)) == [
        "orch.json: warning: orgs.acme.servers.excel.env.API_TOKEN: looks like a secret written into the file; write \"${env:VARIABLE}\" and set VARIABLE where orch runs",
        "orch.json: warning: roles.unused: role unused is held by no member or team",
        "orch.json: warning: users.carol: user carol is a member of no org",
        "orch.json: warning: orgs.empty.servers.lonely: no one can reach server empty/lonely",
        "orch.json: warning: users.alice.keys[0].expires: key laptop of alice expires within 14 days, at 2026-12-01T00:00:00Z",
    ])
}

@Test func strictTurnsEveryWarningIntoAnError() throws {
    let lenient = compile(oneOfEachWarning)
    let strict = compile(oneOfEachWarning, strict: true)
    #expect(strict.policy == nil)
    #expect(!strict.ok)
    #expect(strict.diagnostics.count == lenient.diagnostics.count)
    #expect(strict.diagnostics.allSatisfy { $0.severity == .error })
    #expect(strict.diagnostics.map(\.message) == lenient.diagnostics.map(\.message))
    #expect(strict.diagnostics.map(\.path) == lenient.diagnostics.map(\.path))
    #expect(unplaced(rendered(strict.diagnostics)).first
        == "orch.json: error: orgs.acme.servers.excel.env.API_TOKEN: looks like a secret written into the file; write \"${env:VARIABLE}\" and set VARIABLE where orch runs")
}

@Test func strictLeavesACleanFileAlone() throws {
    let result = compile(Example.json.replacingOccurrences(of: "\"erin\":  { \"admin\": true },", with: ""), strict: true)
    #expect(result.ok, "\(rendered(result.diagnostics))")
    #expect(result.diagnostics.isEmpty)
}

@Test func secretFromTheEnvironmentNeverAppearsInDiagnostics() throws {
    // The secret is expanded into every field that takes ${env:…}, next to every kind of mistake
    // that could echo a value back: bad URLs, malformed and missing references, unknown keys.
    let json = """
        {
          "version": 1,
          "roles": { "admin": { "allow": ["*"] } },
          "orgs": { "acme": { "members": { "alice": "admin" }, "servers": {
            "remote": { "url": "https://mcp.example.com/mcp?token=${env:TICKETS_TOKEN}",
                        "headers": { "Authorization": "Bearer ${env:TICKETS_TOKEN}" } },
            "bad-url": { "url": "${env:TICKETS_TOKEN}" },
            "userinfo": { "url": "https://${env:TICKETS_TOKEN}@mcp.example.com/mcp" },
            "local": { "command": "${env:TICKETS_TOKEN}", "args": ["--token=${env:TICKETS_TOKEN}", "${env:TICKETS_TOKEN}${bad}"],
                       "env": { "TOKEN": "${env:TICKETS_TOKEN}", "OTHER": "${env:TICKETS_TOKEN}${env:NOT_SET}" },
                       "cwd": "/srv/${env:TICKETS_TOKEN}", "transport": "${env:TICKETS_TOKEN}" },
            "defaulted": { "command": "${env:TICKETS_TOKEN:-fallback}" }
          } } },
          "users": { "alice": {} }
        }
        """
    let result = compile(json)
    #expect(!result.ok)
    // Every problem is reported (the messages themselves are pinned by the golden files).
    #expect(result.diagnostics.map(\.path) == [
        "orgs.acme.servers.bad-url.url",
        "orgs.acme.servers.userinfo.url",
        "orgs.acme.servers.local.transport",
        // The malformed reference and the unset variable (errors first), then the warnings that
        // ${env:…} in args is visible in ps.
        "orgs.acme.servers.local.args[1]",
        "orgs.acme.servers.local.env.OTHER",
        "orgs.acme.servers.local.args[0]",
        "orgs.acme.servers.local.args[1]",
    ], "\(rendered(result.diagnostics))")
    for d in result.diagnostics {
        #expect(!d.rendered(file: "orch.json").contains(Pinned.secret), "\(d.rendered(file: "orch.json"))")
        #expect(!d.json.compact.contains(Pinned.secret), "\(d.json.compact)")
    }
}

@Test func secretIsExpandedIntoTheServerYetNotIntoAFailingTestsMessage() throws {
    let json = """
        {
          "version": 1,
          "roles": { "admin": { "allow": ["*"] } },
          "orgs": { "acme": { "members": { "alice": "admin" }, "servers": {
            "tickets": { "url": "https://mcp.example.com/mcp", "headers": { "Authorization": "Bearer ${env:TICKETS_TOKEN}" } },
            "local": { "command": "run-${env:TICKETS_TOKEN}", "env": { "TOKEN": "${env:TICKETS_TOKEN}" } } } } },
          "users": { "alice": {} },
          "tests": [ { "user": "alice", "deny": ["acme/tickets", "acme/local:x"] } ]
        }
        """
    let result = compile(json)
    #expect(unplaced(rendered(result.diagnostics)) == [
        "orch.json: error: tests[0].deny[0]: test failed: expected alice to be denied acme/tickets, but allowed: role admin allows \"*\"",
        "orch.json: error: tests[0].deny[1]: test failed: expected alice to be denied acme/local:x, but allowed: role admin allows \"*\"",
    ])
    // The same file without the failing test compiles, with the secret in place.
    let passing = compile(json.replacingOccurrences(of: "\"deny\": [\"acme/tickets\", \"acme/local:x\"]", with: "\"allow\": [\"acme/tickets\"]"))
    let policy = try #require(passing.policy, "\(rendered(passing.diagnostics))")
    let tickets = try #require(policy.server(org: "acme", name: "tickets"))
    let local = try #require(policy.server(org: "acme", name: "local"))
    guard case .remote(_, _, let headers) = policy.server(tickets).spec.transport,
        case .stdio(let command, _, let env, _) = policy.server(local).spec.transport
    else { Issue.record("unexpected transports"); return }
    #expect(headers.map(\.name) == ["Authorization"])
    #expect(headers.map(\.value) == ["Bearer \(Pinned.secret)"])
    #expect(command == "run-\(Pinned.secret)")
    #expect(env.map(\.value) == [Pinned.secret])
}

@Test func environmentDefaultsAndDollarEscapesExpand() throws {
    let p = try policy("""
        { "version": 1, "roles": { "admin": { "allow": ["*"] } },
          "orgs": { "acme": { "members": { "alice": "admin" }, "servers": {
            "local": { "command": "${env:BIN:-uvx}", "args": ["$$HOME", "${env:TICKETS_TOKEN:-none}", "${env:EMPTY:-}", "a$b"],
                       "cwd": "${env:DIR:-/srv}/x" } } } },
          "users": { "alice": {} } }
        """)
    let local = try #require(p.server(org: "acme", name: "local"))
    guard case .stdio(let command, let args, _, let cwd) = p.server(local).spec.transport else {
        Issue.record("local is not a stdio server")
        return
    }
    #expect(command == "uvx")
    #expect(args == ["$HOME", Pinned.secret, "", "a$b"])
    #expect(cwd == "/srv/x")
}

@Test func syntaxErrorReportsLineAndColumn() throws {
    // A stray value where the next member's name should be, at line 5, column 5.
    let result = compile("{\n  \"version\": 1,\n  \"roles\": {\n    \"admin\": { \"allow\": [\"*\"] }\n    7\n  }\n}\n")
    #expect(!result.ok)
    #expect(result.diagnostics.count == 1)
    let d = try #require(result.diagnostics.first)
    #expect(d.severity == .error)
    #expect(d.line == 5)
    #expect(d.column == 5)
    #expect(d.path == "")
    #expect(d.rendered(file: "orch.json") == "orch.json:5:5: error: \(d.message)")
    #expect(!d.message.isEmpty)
}

@Test func diagnosticsRenderForTheCLIAndAsJSON() {
    let located = Diagnostic(.error, path: "users.bob.keys[0].sha256", message: "must be lowercase hex")
    #expect(located.rendered(file: "orch.json") == "orch.json: error: users.bob.keys[0].sha256: must be lowercase hex")
    #expect(located.json.compact == #"{"severity":"error","path":"users.bob.keys[0].sha256","line":null,"column":null,"message":"must be lowercase hex"}"#)
    let whole = Diagnostic(.warning, path: "", message: "m")
    #expect(whole.rendered(file: "x/orch.json") == "x/orch.json: warning: m")
    let syntax = Diagnostic(.error, path: "", line: 3, column: 7, message: "unexpected")
    #expect(syntax.rendered(file: "orch.json") == "orch.json:3:7: error: unexpected")
    #expect(syntax.json.compact == #"{"severity":"error","path":"","line":3,"column":7,"message":"unexpected"}"#)
}

@Test func fileTestsDoNotRunWhileOtherErrorsExist() {
    // One mistake (a misspelt role) is reported once, not again as every test it breaks.
    let result = compile("""
        { "version": 1, "roles": { "admin": { "allow": ["*"] } },
          "orgs": { "acme": { "members": { "alice": "admn" }, "servers": { "excel": { "command": "uvx" } } } },
          "users": { "alice": {} },
          "tests": [ { "user": "alice", "allow": ["acme/excel"] } ] }
        """)
    #expect(result.errors.map(\.message) == ["no role \"admn\" in roles (did you mean \"admin\"?)"])
}
