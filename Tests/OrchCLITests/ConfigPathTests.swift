import Testing

@Test func checkReadsOrchJSONInTheWorkingDirectoryByDefault() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let run = try sandbox.run(["check"])
    #expect(run.status == 0)
    #expect(run.out.first?.hasPrefix("orch.json: ok (") == true)
}

@Test func checkReadsOrchConfigFromTheEnvironment() throws {
    let sandbox = try Sandbox()
    try sandbox.write("conf/policy.json", Fixtures.policy)
    let run = try sandbox.run(["check"], environment: ["ORCH_CONFIG": "conf/policy.json"])
    #expect(run.status == 0)
    #expect(run.out.first?.hasPrefix("conf/policy.json: ok (") == true)
}

@Test func configOptionWinsOverTheEnvironment() throws {
    let sandbox = try Sandbox()
    try sandbox.write("a.json", Fixtures.policy)
    for flag in ["-c", "--config"] {
        let run = try sandbox.run(["check", flag, "a.json"], environment: ["ORCH_CONFIG": "missing.json"])
        #expect(run.status == 0)
        #expect(run.out.first?.hasPrefix("a.json: ok (") == true)
    }
}

@Test func positionalFileWinsOverConfigOptionAndEnvironment() throws {
    let sandbox = try Sandbox()
    try sandbox.write("a.json", Fixtures.policy)
    let run = try sandbox.run(["check", "a.json", "--config", "missing.json"], environment: ["ORCH_CONFIG": "also-missing.json"])
    #expect(run.status == 0)
    #expect(run.out.first?.hasPrefix("a.json: ok (") == true)
}

@Test func missingDefaultFileIsNamedInTheError() throws {
    let sandbox = try Sandbox()
    let run = try sandbox.run(["check"])
    #expect(run.status == 2)
    #expect(run.err == ["orch: cannot read orch.json: no such file"])
}

@Test func canReadsTheFileFromConfigOptionOrEnvironment() throws {
    let sandbox = try Sandbox()
    try sandbox.write("p.json", Fixtures.policy)
    let viaFlag = try sandbox.run(["can", "--config", "p.json", "bob", "acme/notes"])
    let viaEnv = try sandbox.run(["can", "bob", "acme/notes"], environment: ["ORCH_CONFIG": "p.json"])
    for run in [viaFlag, viaEnv] {
        #expect(run.status == 0)
        #expect(run.out == [#"allow acme/notes  role reader allows "notes:read_*""#])
    }
}

@Test func canWithAnInvalidConfigExits2() throws {
    let sandbox = try Sandbox()
    try sandbox.write("bad.json", Fixtures.syntaxError)
    let run = try sandbox.run(["can", "-c", "bad.json", "bob", "acme/notes"])
    #expect(run.status == 2)
    #expect(run.out == [])
    #expect(run.err == [
        "bad.json:3:13: error: string or '}' expected near ','",
        "orch: bad.json is not valid; run `orch check bad.json` for details",
    ])
}

@Test func canWithAMissingConfigExits2() throws {
    let sandbox = try Sandbox()
    let run = try sandbox.run(["can", "-c", "nope.json", "bob", "acme/notes"])
    #expect(run.status == 2)
    #expect(run.err == ["orch: cannot read nope.json: no such file"])
}
