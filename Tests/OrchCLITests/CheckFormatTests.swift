import Foundation
import OrchJSON
import Testing

/// Errors and warnings at nested paths: an unknown key in a role, a literal secret in a server's
/// env, a key without its required id (the path is the key object, the place the key is missing
/// from), a bad sha256, and a server no one can reach.
private let severalProblems = """
    {
      "version": 1,
      "roles": {
        "member": { "allow": ["notes"], "dney": [] }
      },
      "orgs": {
        "acme": {
          "members": { "bob": "member" },
          "servers": {
            "notes": { "command": "x", "env": { "API_TOKEN": "literal" } },
            "vault": { "command": "y" }
          }
        }
      },
      "users": {
        "bob": { "keys": [ { "sha256": "abc" } ] }
      },
      "tests": [ { "user": "bob", "deny": ["acme/notes"] } ]
    }

    """

@Suite struct CheckFormatTests {
    @Test func checkGitHubAnnotatesEveryDiagnosticAtTheLineOfItsPath() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", severalProblems)
        let run = try sandbox.run(["check", "--format", "github", "orch.json"])
        #expect(run.status == 1)
        // In the compiler's order; compared as a set, so that the test is about placing them.
        #expect(run.out.sorted() == [
            #"::error file=orch.json,line=4,col=37::roles.member.dney: unknown key "dney""#,
            #"::warning file=orch.json,line=10,col=45::orgs.acme.servers.notes.env.API_TOKEN: looks like a secret written into the file; write "${env:VARIABLE}" and set VARIABLE where orch runs"#,
            #"::error file=orch.json,line=16,col=24::users.bob.keys[0]: missing required key "id""#,
            "::error file=orch.json,line=16,col=26::users.bob.keys[0].sha256: is not a SHA-256 hex digest (64 characters); if it is a token, never store it: pipe it to `orch keys hash` and store the output",
            "::warning file=orch.json,line=11,col=9::orgs.acme.servers.vault: no one can reach server acme/vault",
        ].sorted())
        // The summary is not a workflow command: it goes to stderr.
        #expect(run.err == ["orch.json: 3 errors"])
        // Every output gives the same places: --json too.
        let json = try JSONValue.parse(try sandbox.run(["check", "--json", "orch.json"]).stdout)
        #expect(json["diagnostics"]?.arrayValue?.allSatisfy { $0["line"] != .null && $0["column"] != .null } == true)
    }

    @Test func checkGitHubPlacesATestFailureAtItsTarget() throws {
        let sandbox = try Sandbox()
        let wrong = Fixtures.policy.replacingOccurrences(of: #""deny": ["acme/notes:delete_file""#, with: #""deny": ["acme/notes:write_file""#)
        try sandbox.write("orch.json", wrong)
        let run = try sandbox.run(["check", "--format", "github", "orch.json"])
        #expect(run.status == 1)
        // tests[0].deny[0] is the first item of the test's deny list.
        let target = #""acme/notes:write_file", "acme/clock""#
        let lines = wrong.components(separatedBy: "\n")
        let line = try #require(lines.firstIndex { $0.contains(target) })
        let col = lines[line].distance(from: lines[line].startIndex, to: lines[line].range(of: target)!.lowerBound) + 1
        #expect(run.out.first?.hasPrefix("::error file=orch.json,line=\(line + 1),col=\(col)::tests[0].deny[0]: test failed: expected bob to be denied acme/notes:write_file") == true)
    }

    @Test func checkGitHubKeepsTheParsersPositionOfASyntaxError() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.syntaxError)
        let run = try sandbox.run(["check", "--format", "github", "orch.json"])
        #expect(run.status == 1)
        #expect(run.out == ["::error file=orch.json,line=3,col=13::string or '}' expected near ','"])
    }

    @Test func checkGitHubEscapesTheMessageAndTheFileName() throws {
        let sandbox = try Sandbox()
        // A role named with %, a newline and a carriage return; a file name with ',' and ':'.
        try sandbox.write("a,b:c.json", #"{ "version": 1, "roles": { "x%\n\ry": { "allow": ["*"] } }, "orgs": {}, "users": {} }"#)
        let run = try sandbox.run(["check", "--format", "github", "a,b:c.json"])
        #expect(run.status == 1)
        #expect(run.out == [
            #"::error file=a%2Cb%3Ac.json,line=1,col=28::roles["x%25%0A%0Dy"]: "x%25%0A%0Dy" is not a valid role name: names are 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit"#,
        ])
    }

    @Test func checkGitHubOfAGoodFilePrintsNoCommandAndTheSummaryOnStderr() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let run = try sandbox.run(["check", "--format", "github", "orch.json"])
        #expect(run.status == 0)
        #expect(run.out == [])
        #expect(run.err.count == 1)
        #expect(run.err.first?.hasPrefix("orch.json: ok (1 org, 2 users, 3 keys, 2 servers, 1 test passed) sha256:") == true)
    }

    @Test func checkGitHubOfAMissingFileExits2WithAnAnnotation() throws {
        let run = try Sandbox().run(["check", "--format", "github", "missing.json"])
        #expect(run.status == 2)
        #expect(run.out == ["::error file=missing.json::cannot read missing.json: no such file"])
    }

    @Test func checkFormatJSONIsTheJSONFlagAndTextIsTheDefault() throws {
        let sandbox = try Sandbox()
        try sandbox.write("bad.json", Fixtures.twoErrors)
        let flag = try sandbox.run(["check", "--json", "bad.json"])
        let option = try sandbox.run(["check", "--format", "json", "bad.json"])
        #expect(option.status == 1 && flag.status == 1)
        #expect(option.stdout == flag.stdout)
        let both = try sandbox.run(["check", "--json", "--format", "json", "bad.json"])
        #expect(both.stdout == flag.stdout)
        let text = try sandbox.run(["check", "--format", "text", "bad.json"])
        #expect(text.err == (try sandbox.run(["check", "bad.json"])).err)
        let conflict = try sandbox.run(["check", "--json", "--format", "github", "bad.json"])
        #expect(conflict.status == 2)
        #expect(conflict.err.first == "Error: --json is --format json: give one of them")
        #expect(try sandbox.run(["check", "--format", "yaml", "bad.json"]).status == 2)
    }
}
