import Foundation
import OrchJSON
import Testing

@Test func checkPrintsOkLineWithCountsAndDigest() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let run = try sandbox.run(["check", "orch.json"])
    #expect(run.status == 0)
    #expect(run.err == [])
    let digest = SHA256.hex(try sandbox.read("orch.json"))
    #expect(run.out == ["orch.json: ok (1 org, 2 users, 3 keys, 2 servers, 1 test passed) sha256:\(digest)"])
}

@Test func checkDigestIsSHA256OfTheFileBytes() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    try sandbox.write("spaced.json", Fixtures.policy + "\n\n")
    let first = try sandbox.run(["check", "orch.json"])
    let second = try sandbox.run(["check", "spaced.json"])
    let digest = { (run: OrchRun) in run.out.last?.components(separatedBy: " sha256:").last }
    #expect(digest(first) == SHA256.hex(try sandbox.read("orch.json")))
    #expect(digest(second) == SHA256.hex(try sandbox.read("spaced.json")))
    #expect(digest(first) != digest(second))
}

@Test func checkReportsEveryErrorWithItsPathAndExits1() throws {
    let sandbox = try Sandbox()
    try sandbox.write("bad.json", Fixtures.twoErrors)
    let run = try sandbox.run(["check", "bad.json"])
    #expect(run.status == 1)
    #expect(run.out == [])
    #expect(Array(unplaced(run.err).prefix(2)) == [
        #"bad.json: error: users.bob.displayNme: unknown key "displayNme" (did you mean "displayName"?)"#,
        "bad.json: error: users.bob.keys[0].sha256: is not a SHA-256 hex digest (64 characters); if it is a token, never store it: pipe it to `orch keys hash` and store the output",
    ])
}

@Test func checkReportsFailingFileTestAsAnError() throws {
    let sandbox = try Sandbox()
    let wrong = Fixtures.policy.replacingOccurrences(of: #""deny": ["acme/notes:delete_file""#, with: #""deny": ["acme/notes:write_file""#)
    try sandbox.write("orch.json", wrong)
    let run = try sandbox.run(["check", "orch.json"])
    #expect(run.status == 1)
    #expect(run.out == [])
    #expect(unplaced(run.err).first == "orch.json: error: tests[0].deny[0]: test failed: expected bob to be denied acme/notes:write_file, but allowed: role editor (team data) allows \"notes\"")
}

@Test func checkReportsSyntaxErrorWithLineAndColumn() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.syntaxError)
    let run = try sandbox.run(["check", "orch.json"])
    #expect(run.status == 1)
    #expect(run.out == [])
    #expect(run.err.first == "orch.json:3:13: error: string or '}' expected near ','")
}

@Test func checkOfMissingFileExits2() throws {
    let sandbox = try Sandbox()
    let run = try sandbox.run(["check", "missing.json"])
    #expect(run.status == 2)
    #expect(run.out == [])
    #expect(run.err == ["orch: cannot read missing.json: no such file"])
}

@Test func checkPrintsWarningsButPassesWithoutStrict() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.literalSecret)
    let run = try sandbox.run(["check", "orch.json"])
    #expect(run.status == 0)
    #expect(unplaced(run.err) == [
        #"orch.json: warning: orgs.acme.servers.notes.env.API_TOKEN: looks like a secret written into the file; write "${env:VARIABLE}" and set VARIABLE where orch runs"#,
    ])
    #expect(run.out.count == 1)
    #expect(run.out.first?.hasPrefix("orch.json: ok (1 org, 1 user, 0 keys, 1 server, 0 tests passed) sha256:") == true)
}

@Test func checkStrictTurnsAWarningIntoAnErrorAndExits1() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.literalSecret)
    let run = try sandbox.run(["check", "--strict", "orch.json"])
    #expect(run.status == 1)
    #expect(run.out == [])
    #expect(unplaced(run.err).first == #"orch.json: error: orgs.acme.servers.notes.env.API_TOKEN: looks like a secret written into the file; write "${env:VARIABLE}" and set VARIABLE where orch runs"#)
}

@Test func checkJSONReportsOkDigestAndNoDiagnostics() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let run = try sandbox.run(["check", "--json", "orch.json"])
    #expect(run.status == 0)
    #expect(run.err == [])
    #expect(run.out.count == 1)
    let report = try #require(try JSONValue.parse(run.stdout).objectValue)
    #expect(report.keys == ["ok", "digest", "diagnostics"])
    #expect(report["ok"] == true)
    #expect(report["digest"] == .string("sha256:" + SHA256.hex(try sandbox.read("orch.json"))))
    #expect(report["diagnostics"] == [])
}

@Test func checkJSONGivesLineAndColumnOfASyntaxError() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.syntaxError)
    let run = try sandbox.run(["check", "--json", "orch.json"])
    #expect(run.status == 1)
    let report = try JSONValue.parse(run.stdout)
    #expect(report["ok"] == false)
    #expect(report["diagnostics"] == [
        ["severity": "error", "path": "", "line": 3, "column": 13, "message": "string or '}' expected near ','"],
    ])
}

@Test func checkJSONGivesPathAndNullPositionOfOtherErrors() throws {
    let sandbox = try Sandbox()
    try sandbox.write("bad.json", Fixtures.twoErrors)
    let run = try sandbox.run(["check", "--json", "bad.json"])
    #expect(run.status == 1)
    let report = try JSONValue.parse(run.stdout)
    #expect(report["ok"] == false)
    #expect(report["digest"] == .string("sha256:" + SHA256.hex(try sandbox.read("bad.json"))))
    let first = try #require(report["diagnostics"]?.arrayValue?.first?.objectValue)
    #expect(first.keys == ["severity", "path", "line", "column", "message"])
    #expect(first == [
        "severity": "error", "path": "users.bob.displayNme", "line": 5, "column": 23,
        "message": #"unknown key "displayNme" (did you mean "displayName"?)"#,
    ])
}

@Test func checkJSONStrictReportsTheWarningAsAnError() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.literalSecret)
    let relaxed = try JSONValue.parse(try sandbox.run(["check", "--json", "orch.json"]).stdout)
    #expect(relaxed["ok"] == true)
    #expect(relaxed["diagnostics"]?.arrayValue?.map { $0["severity"] } == ["warning"])
    let run = try sandbox.run(["check", "--json", "--strict", "orch.json"])
    #expect(run.status == 1)
    let strict = try JSONValue.parse(run.stdout)
    #expect(strict["ok"] == false)
    #expect(strict["diagnostics"]?.arrayValue?.map { $0["severity"] } == ["error"])
    #expect(strict["diagnostics"]?.arrayValue?.first?["path"] == "orgs.acme.servers.notes.env.API_TOKEN")
}

@Test func checkJSONOfMissingFileExits2() throws {
    let sandbox = try Sandbox()
    let run = try sandbox.run(["check", "--json", "missing.json"])
    #expect(run.status == 2)
    let report = try JSONValue.parse(run.stdout)
    #expect(report["ok"] == false)
    #expect(report["digest"] == .null)
    #expect(report["diagnostics"]?.arrayValue?.first?["message"] == "cannot read missing.json: no such file")
}

@Test func aMisspelledCommandGetsTheClosestOneAndTheList() throws {
    let sandbox = try Sandbox()
    let commands = "check, can, explain, diff, fmt, keys, client-config, pin, schema, openapi, serve, sample-server"
    let typo = try sandbox.run(["chekc"])
    #expect(typo.status == 2)
    #expect(typo.err == [#"orch: unknown command "chekc" (did you mean "check"?); the commands are \#(commands) (orch --help)"#])
    let unknown = try sandbox.run(["frobnicate", "x"])
    #expect(unknown.status == 2)
    #expect(unknown.err == [#"orch: unknown command "frobnicate"; the commands are \#(commands) (orch --help)"#])
    // A misspelled command of a command with commands of its own.
    let sub = try sandbox.run(["keys", "nwe", "--user", "bob"])
    #expect(sub.status == 2)
    #expect(sub.err == [#"orch: unknown command "keys nwe" (did you mean "new"?); the keys commands are new, hash, list (orch keys --help)"#])
    // A bad option of a known command keeps ArgumentParser's own message.
    let option = try sandbox.run(["check", "--nope"])
    #expect(option.status == 2)
    #expect(option.err.first == "Error: Unknown option '--nope'")
}
