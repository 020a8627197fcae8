import Foundation
import OrchJSON
import Testing

/// Upstream credentials from the environment: only `orch serve` needs them.
private let upstreamCredentials = """
    {
      "version": 1,
      "roles": { "member": { "allow": ["*"] } },
      "orgs": { "acme": { "members": { "bob": "member" }, "servers": {
        "tickets": { "url": "https://tickets.example.com/mcp", "headers": { "Authorization": "Bearer ${env:TICKETS_TOKEN}" } },
        "notes": { "command": "${env:NOTES_BIN}", "args": ["--token", "${env:NOTES_TOKEN}${env:TICKETS_TOKEN}"],
                   "env": { "BASE": "${env:BASE_URL:-https://example.com}" } }
      } } },
      "users": { "bob": { "keys": [ { "id": "laptop", "sha256": "\(SHA256.hex(Fixtures.aliceToken))" } ] } }
    }

    """

private let unsetWarnings = [
    "orch: warning: environment variable TICKETS_TOKEN is not set (orgs.acme.servers.tickets.headers.Authorization, orgs.acme.servers.notes.args[1]); only orch serve needs it",
    "orch: warning: environment variable NOTES_BIN is not set (orgs.acme.servers.notes.command); only orch serve needs it",
]

/// NOTES_TOKEN is set: its value must never be printed.
private let secretValue = "s3cret-notes-value"

@Suite struct UnsetVariablesCommandTests {
    @Test(arguments: [
        ["keys", "list"],
        ["keys", "new", "--user", "bob", "--id", "tablet"],
        ["explain", "bob"],
        ["can", "bob", "acme/tickets", "acme/notes:anything"],
        ["client-config", "--user", "bob", "--client", "cursor", "--token-env", "ORCH_TOKEN"],
    ])
    func commandsThatStartNoUpstreamWarnAboutUnsetVariablesAndGoOn(arguments: [String]) throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", upstreamCredentials)
        let run = try sandbox.run(arguments, environment: ["NOTES_TOKEN": secretValue])
        #expect(run.status == 0, "\(arguments): \(run.stderr)")
        #expect(Array(run.err.prefix(2)) == unsetWarnings)
        #expect(!run.err.dropFirst(2).contains { $0.contains("warning: environment variable") })
        #expect(!(run.stdout + run.stderr).contains(secretValue))
    }

    @Test func checkStillReportsAnUnsetVariableAsAnError() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", upstreamCredentials)
        let run = try sandbox.run(["check"], environment: ["NOTES_TOKEN": secretValue])
        #expect(run.status == 1)
        #expect(run.stderr.contains("environment variable TICKETS_TOKEN is not set"))
        #expect(!run.stderr.contains("only orch serve needs it"))
    }

    @Test func keysNewWriteWithUnsetVariablesWritesAFileThatChecksOnceTheyAreSet() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", upstreamCredentials)
        let run = try sandbox.run(["keys", "new", "--user", "bob", "--id", "tablet", "--write"])
        #expect(run.status == 0)
        #expect(run.err.contains("added key tablet to users.bob.keys in orch.json (the token above is shown only now):"))
        // The references are written back as they were, never the stand-ins.
        #expect(try sandbox.readText("orch.json").contains(#""Bearer ${env:TICKETS_TOKEN}""#))
        let check = try sandbox.run(["check"], environment: ["TICKETS_TOKEN": "t", "NOTES_BIN": "n", "NOTES_TOKEN": "x"])
        #expect(check.status == 0, "\(check.stderr)")
    }

    @Test func otherErrorsStillStopTheCommand() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", upstreamCredentials.replacingOccurrences(of: #""version": 1,"#, with: #""version": 1, "rolez": {},"#))
        let run = try sandbox.run(["keys", "list"], environment: ["NOTES_TOKEN": secretValue])
        #expect(run.status == 2)
        #expect(Array(run.err.prefix(2)) == unsetWarnings)
        #expect(run.err.dropFirst(2).first?.contains(#"unknown key "rolez""#) == true)
        #expect(run.err.last == "orch: orch.json is not valid; run `orch check orch.json` for details")
    }
}
