import Foundation
import OrchJSON
import Testing

/// `Tests/OrchCLIFixtures/diff/old.json` → `new.json` holds every kind of change `orch diff`
/// reports: servers and rules gained and lost (through a role, a team, a disabled server, a
/// disabled user, a removed server; a deny rule that no allow rule reaches), an added and a removed
/// user, admin, keys added, removed, re-scoped, extended and re-issued, servers added, removed and
/// redefined (command, env, headers, transport, filters, disabled), roles and teams added, removed
/// and changed. `expected.txt`, `expected.md` and
/// `expected.json` are the exact output of each format; run with `ORCH_UPDATE_GOLDEN=1` to rewrite
/// them after an intended change, then read their diff. The folder is beside the test target's,
/// not in it, so that SwiftPM does not take the files for sources.
enum DiffFixture {
    static let folder = PackageRoot.url.appendingPathComponent("Tests/OrchCLIFixtures/diff")

    static func text(_ name: String) throws -> String {
        String(decoding: try Data(contentsOf: folder.appendingPathComponent(name)), as: UTF8.self)
    }

    /// The values of the variables the fixtures name, set in the environment of some runs: `orch
    /// diff` must neither need nor print them.
    static let environment = [
        "NOTES_TOKEN": "env-secret-notes-token", "NOTES_TOKEN_V2": "env-secret-notes-token-2",
        "TICKETS_TOKEN": "env-secret-tickets-token", "WIKI_URL": "https://env-secret-wiki.example/mcp",
    ]

    /// Everything in the fixtures that is a secret or an upstream's detail: no output may hold it.
    static let secrets = [
        "/opt/secret-bin", "notes-server", "/srv/secret-db", "--db", "literal-env-value", "literal-new-value",
        "literal-header-value", "literal-tenant-value", "tickets.internal.example", "clock-server", "old-server",
        "Bearer", "1111111111", "2222222222", "3333333333", "4444444444", "5555555555", "6666666666",
    ] + environment.values
}

/// The sandbox with the two fixtures copied in as old.json and new.json.
private func diffSandbox() throws -> Sandbox {
    let sandbox = try Sandbox()
    try sandbox.write("old.json", try DiffFixture.text("old.json"))
    try sandbox.write("new.json", try DiffFixture.text("new.json"))
    return sandbox
}

@Suite struct DiffCommandTests {
    @Test(arguments: [("expected.txt", [String]()), ("expected.md", ["--markdown"]), ("expected.json", ["--json"])])
    func diffMatchesItsGoldenFile(golden: String, flags: [String]) throws {
        let run = try diffSandbox().run(["diff"] + flags + ["old.json", "new.json"])
        #expect(run.status == 0)
        #expect(run.err == [])
        let url = DiffFixture.folder.appendingPathComponent(golden)
        if ProcessInfo.processInfo.environment["ORCH_UPDATE_GOLDEN"] == "1" {
            try Data(run.stdout.utf8).write(to: url)
        }
        let expected = try DiffFixture.text(golden)
        #expect(run.stdout == expected, "\(golden) differs.\nexpected:\n\(expected)\nactual:\n\(run.stdout)")
    }

    @Test func diffJSONIsTheDocumentedShape() throws {
        let run = try diffSandbox().run(["diff", "--json", "old.json", "new.json"])
        let report = try #require(try JSONValue.parse(run.stdout).objectValue)
        #expect(report.keys == ["summary", "changed", "grantsAccess", "users", "keys", "servers", "roles", "teams"])
        #expect(report["users"]?.arrayValue?.first?.objectValue?.keys == ["user", "change", "gainsAccess", "losesAccess", "servers", "rules", "admin"])
        #expect(report["keys"]?.arrayValue?.first?.objectValue?.keys
            == ["user", "key", "change", "scope", "expires", "scopeWidened", "expiryExtended", "tokenReplaced", "gainsAccess"])
        #expect(report["servers"]?.arrayValue?.first?.objectValue?.keys
            == ["server", "change", "transport", "fields", "env", "headers", "filters", "approve", "approvalDropped", "gainsAccess"])
        #expect(report["roles"]?.arrayValue?.first?.objectValue?.keys == ["role", "change", "allow", "deny"])
        #expect(report["teams"]?.arrayValue?.first?.objectValue?.keys == ["org", "team", "change", "members", "roles"])
    }

    @Test func diffNeitherNeedsNorPrintsSecrets() throws {
        let sandbox = try diffSandbox()
        for flags in [[], ["--markdown"], ["--json"]] {
            let bare = try sandbox.run(["diff"] + flags + ["old.json", "new.json"])
            let withSecrets = try sandbox.run(["diff"] + flags + ["old.json", "new.json"], environment: DiffFixture.environment)
            // The environment is never read: the same output with or without it.
            #expect(withSecrets.stdout == bare.stdout)
            for text in [bare.stdout, bare.stderr, withSecrets.stdout, withSecrets.stderr] {
                for secret in DiffFixture.secrets { #expect(!text.contains(secret), "\(flags) prints \(secret)") }
                #expect(!containsFullHash(text))
            }
        }
    }

    @Test func diffOfRolesThatGrantTheSameIsNoChange() throws {
        let sandbox = try Sandbox()
        // reader and viewer grant the same (viewer's server glob matches notes alone); bob moves
        // from one to the other, and the layout changes.
        let both = Fixtures.policy.replacingOccurrences(
            of: #""reader": { "allow": ["notes:read_*"] },"#, with: #""reader": { "allow": ["notes:read_*"] }, "viewer": { "allow": ["*s:read_*"] },"#)
        try sandbox.write("old.json", both.replacingOccurrences(of: #""alice": "admin", "bob": "reader""#, with: #""alice": ["admin", "viewer"], "bob": "reader""#))
        let moved = both
            .replacingOccurrences(of: #""alice": "admin", "bob": "reader""#, with: #""alice": ["admin", "reader"], "bob": "viewer""#)
            .replacingOccurrences(of: "\n    ", with: "\n ")
        try sandbox.write("new.json", moved)
        for flags in [["--fail-on-grant"], ["--markdown"]] {
            let run = try sandbox.run(["diff"] + flags + ["old.json", "new.json"])
            #expect(run.status == 0)
            #expect(run.err == [])
            #expect(run.out == [flags == ["--markdown"] ? "**orch diff:** no access changes" : "no access changes"])
        }
        let json = try sandbox.run(["diff", "--json", "old.json", "new.json"])
        let report = try JSONValue.parse(json.stdout)
        #expect(report["changed"] == false)
        #expect(report["summary"] == "no access changes")
    }

    @Test func diffFailOnGrantExitsOneOnlyWhenSomeoneGains() throws {
        let sandbox = try diffSandbox()
        #expect(try sandbox.run(["diff", "--fail-on-grant", "old.json", "new.json"]).status == 1)
        #expect(try sandbox.run(["diff", "old.json", "new.json"]).status == 0)
        #expect(try sandbox.run(["diff", "--fail-on-grant", "new.json", "new.json"]).status == 0)
        // Only losses: bob leaves team data.
        let before = Fixtures.policy.replacingOccurrences(of: #""allow": ["acme/notes:read_file", "acme/notes:write_file"]"#, with: #""allow": ["acme/notes:read_file"]"#)
        try sandbox.write("before.json", before)
        try sandbox.write("after.json", before.replacingOccurrences(of: #""members": ["bob"], "roles": ["editor"]"#, with: #""members": [], "roles": ["editor"]"#))
        let losing = try sandbox.run(["diff", "--fail-on-grant", "before.json", "after.json"])
        #expect(losing.status == 0)
        #expect(losing.out.first == "1 user loses access; 1 team changed")
        let gaining = try sandbox.run(["diff", "--fail-on-grant", "after.json", "before.json"])
        #expect(gaining.status == 1)
        #expect(gaining.out.first == "1 user gains access; 1 team changed")
    }

    @Test(arguments: [
        ("a key added", #""scope": ["acme/notes:read_*"] }"#, #""scope": ["acme/notes:read_*"] }, { "id": "new", "sha256": "\#(String(repeating: "7", count: 64))" }"#),
        ("a scope widened", #""scope": ["acme/notes:read_*"]"#, #""scope": ["acme/notes:read_*", "acme/clock"]"#),
        ("a scope removed", #", "scope": ["acme/notes:read_*"]"#, ""),
        ("an expiry extended", #""expires": "2040-01-01""#, #""expires": "2041-01-01""#),
        ("a filter loosened", #", "tools": { "deny": ["reset"] }"#, ""),
    ])
    func diffFailOnGrantCountsKeysAndFilters(_ what: String, _ old: String, _ new: String) throws {
        let sandbox = try Sandbox()
        let changed = Fixtures.policy.replacingOccurrences(of: old, with: new)
        try #require(changed != Fixtures.policy, "\(what): the fixture has no \(old)")
        try sandbox.write("before.json", Fixtures.policy)
        try sandbox.write("after.json", changed)
        #expect(try sandbox.run(["diff", "--fail-on-grant", "before.json", "after.json"]).status == 1, "\(what)")
        #expect(try sandbox.run(["diff", "--fail-on-grant", "after.json", "before.json"]).status == 0, "\(what), undone")
    }

    @Test func diffReadsGitRevisionsOfTheConfigFile() throws {
        let sandbox = try Sandbox()
        let repo = sandbox.directory.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repo.appendingPathComponent("deploy"), withIntermediateDirectories: true)
        func git(_ arguments: String...) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["git", "-c", "user.name=orch", "-c", "user.email=orch@example.com", "-c", "commit.gpgsign=false"] + arguments
            process.currentDirectoryURL = repo
            process.environment = ["PATH": "/usr/bin:/bin", "HOME": sandbox.directory.path, "GIT_CONFIG_NOSYSTEM": "1"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            try #require(process.terminationStatus == 0, "git \(arguments.joined(separator: " "))")
        }
        let file = "repo/deploy/orch.json"
        try git("init", "-q", "-b", "main")
        try sandbox.write(file, Fixtures.policy)
        try git("add", "deploy/orch.json")
        try git("commit", "-q", "-m", "one")
        // The second commit gives carol the notes server; the working tree brings bob's old key's expiry forward.
        let second = Fixtures.policy
            .replacingOccurrences(of: #""bob": "reader" }"#, with: #""bob": "reader", "carol": "reader" }"#)
            .replacingOccurrences(of: #""bob": { "keys""#, with: #""carol": {}, "bob": { "keys""#)
        try sandbox.write(file, second)
        try git("commit", "-q", "-am", "two")
        try sandbox.write(file, second.replacingOccurrences(of: #""expires": "2040-01-01""#, with: #""expires": "2039-01-01""#))

        let committed = try sandbox.run(["diff", "--config", file, "git:HEAD~1", "git:main"])
        #expect(committed.status == 0)
        #expect(committed.err == [])
        #expect(committed.out == [
            "1 user gains access",
            "",
            "users:",
            "  carol (added):",
            "    + acme/notes  via role reader in acme",
        ])
        // NEW defaults to FILE, here from $ORCH_CONFIG.
        let working = try sandbox.run(["diff", "git:HEAD"], environment: ["ORCH_CONFIG": file])
        #expect(working.status == 0)
        #expect(working.out == ["1 key changed", "", "keys:", "  ~ bob/old  expires 2040-01-01T00:00:00Z -> 2039-01-01T00:00:00Z"])

        let unknown = try sandbox.run(["diff", "--config", file, "git:no-such-revision"])
        #expect(unknown.status == 2)
        #expect(unknown.out == [])
        #expect(unknown.err.first?.hasPrefix("orch: cannot read \(file)@no-such-revision: fatal: ") == true)
    }

    @Test func diffOfAFileThatDoesNotCompileExits2WithItsDiagnostics() throws {
        let sandbox = try Sandbox()
        try sandbox.write("old.json", Fixtures.policy)
        try sandbox.write("bad.json", Fixtures.twoErrors)
        let run = try sandbox.run(["diff", "old.json", "bad.json"])
        #expect(run.status == 2)
        #expect(run.out == [])
        #expect(unplaced(run.err) == [
            #"bad.json: error: users.bob.displayNme: unknown key "displayNme" (did you mean "displayName"?)"#,
            "bad.json: error: users.bob.keys[0].sha256: is not a SHA-256 hex digest (64 characters); if it is a token, never store it: pipe it to `orch keys hash` and store the output",
            "orch: bad.json does not compile",
        ])
        let missing = try sandbox.run(["diff", "old.json", "missing.json"])
        #expect(missing.status == 2)
        #expect(missing.err == ["orch: cannot read missing.json: no such file"])
        let both = try sandbox.run(["diff", "--json", "--markdown", "old.json"])
        #expect(both.status == 2)
    }
}
