import OrchJSON
import Testing

@Test func explainListsOrgsServersRulesAndKeys() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let run = try sandbox.run(["explain", "bob"])
    #expect(run.status == 0)
    #expect(run.err == [])
    #expect(run.out == [
        "bob",
        "orgs:",
        "  acme: reader, editor (team data)",
        "servers:",
        "  acme/notes  [stdio]  Shared notes",
        #"    tools allow: "notes:read_*" (role reader), "notes" (role editor, team data)"#,
        #"    tools deny: "notes:delete_*" (role editor, team data)"#,
        #"    prompts allow: "notes" (role editor, team data)"#,
        #"    resources allow: "notes" (role editor, team data)"#,
        "keys:",
        "  ci  valid  scope: acme/notes:read_*",
        "  old  valid  expires 2040-01-01T00:00:00Z  scope: all the user may reach",
    ])
}

@Test func explainShowsTheServerToolFilter() throws {
    let sandbox = try Sandbox()
    try sandbox.write("p.json", Fixtures.policy)
    let run = try sandbox.run(["explain", "--config", "p.json", "alice"])
    #expect(run.status == 0)
    #expect(run.out == [
        "alice (Alice Kim)",
        "orgs:",
        "  acme: admin",
        "servers:",
        "  acme/notes  [stdio]  Shared notes",
        #"    tools allow: "*" (role admin)"#,
        #"    prompts allow: "*" (role admin)"#,
        #"    resources allow: "*" (role admin)"#,
        "  acme/clock  [stdio]",
        #"    tools allow: "*" (role admin)"#,
        "    server tools.deny: reset",
        #"    prompts allow: "*" (role admin)"#,
        #"    resources allow: "*" (role admin)"#,
        "keys:",
        "  laptop  valid  scope: all the user may reach",
    ])
}

@Test func explainJSONDescribesTheSameAccess() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let run = try sandbox.run(["explain", "--json", "bob"])
    #expect(run.status == 0)
    #expect(run.out.count == 1)
    let expected: JSONValue = [
        "user": "bob", "displayName": nil, "email": nil, "admin": false, "disabled": false,
        "orgs": [["org": "acme", "roles": [["role": "reader", "team": nil], ["role": "editor", "team": "data"]]]],
        "servers": [[
            "id": "acme/notes", "transport": "stdio", "description": "Shared notes",
            "allow": [["role": "reader", "team": nil, "rule": "notes:read_*"], ["role": "editor", "team": "data", "rule": "notes"]],
            "deny": [["role": "editor", "team": "data", "rule": "notes:delete_*"]],
            "rules": [
                "tools": [
                    "allow": [["role": "reader", "team": nil, "rule": "notes:read_*"], ["role": "editor", "team": "data", "rule": "notes"]],
                    "deny": [["role": "editor", "team": "data", "rule": "notes:delete_*"]],
                ],
                "prompts": ["allow": [["role": "editor", "team": "data", "rule": "notes"]], "deny": []],
                "resources": ["allow": [["role": "editor", "team": "data", "rule": "notes"]], "deny": []],
            ],
            "tools": ["allow": nil, "deny": []],
            "prompts": ["allow": nil, "deny": []],
            "resources": ["allow": nil, "deny": []],
        ]],
        "keys": [
            ["id": "ci", "status": "valid", "expires": nil, "scope": ["acme/notes:read_*"]],
            ["id": "old", "status": "valid", "expires": "2040-01-01T00:00:00Z", "scope": nil],
        ],
        "identities": [],
        "limits": ["requestsPerMinute": nil, "toolCallsPerMinute": nil, "concurrentCalls": nil],
    ]
    #expect(try JSONValue.parse(run.stdout) == expected)
}

@Test func explainOfUnknownUserSaysSoAndPrintsNothing() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let run = try sandbox.run(["explain", "zed"])
    #expect(run.status != 0)
    #expect(run.out == [])
    #expect(run.err == ["orch: no user zed in orch.json"])
}

@Test func aMisspelledUserGetsTheClosestName() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    for arguments in [["explain", "bobb"], ["keys", "list", "--user", "alise"], ["keys", "new", "--user", "bobb"],
                      ["client-config", "--user", "alise", "--client", "cline"]] {
        let run = try sandbox.run(arguments)
        #expect(run.status == 2, "\(arguments)")
        let expected = arguments.contains("bobb") ? #"orch: no user bobb in orch.json (did you mean "bob"?)"# : #"orch: no user alise in orch.json (did you mean "alice"?)"#
        #expect(run.err.first == expected, "\(arguments): \(run.err)")
    }
}
