import OrchJSON
import Testing

/// A sandbox holding `Fixtures.policy` as orch.json.
private func policySandbox() throws -> Sandbox {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    return sandbox
}

@Test func canPrintsAllowLinesAndExits0WhenEverythingIsAllowed() throws {
    let run = try policySandbox().run(["can", "bob", "acme/notes:read_file", "acme/notes:write_file"])
    #expect(run.status == 0)
    #expect(run.err == [])
    #expect(run.out == [
        #"allow acme/notes:read_file  role reader allows "notes:read_*""#,
        #"allow acme/notes:write_file  role editor (team data) allows "notes""#,
    ])
}

@Test func canPrintsADenyLineAndExits1WhenAnyTargetIsDenied() throws {
    let run = try policySandbox().run(["can", "bob", "acme/notes:read_file", "acme/notes:delete_file", "acme/clock"])
    #expect(run.status == 1)
    #expect(run.out == [
        #"allow acme/notes:read_file  role reader allows "notes:read_*""#,
        #"deny acme/notes:delete_file  role editor (team data) denies "notes:delete_*""#,
        "deny acme/clock  no role of bob allows acme/clock (roles: reader, editor)",
    ])
}

@Test func canDeniesAToolTheServerFilterHides() throws {
    let run = try policySandbox().run(["can", "alice", "acme/clock:reset", "acme/clock:now"])
    #expect(run.status == 1)
    #expect(run.out == [
        #"deny acme/clock:reset  server acme/clock hides reset (tools.deny "reset")"#,
        #"allow acme/clock:now  role admin allows "*""#,
    ])
}

@Test func canDeniesUnknownUserAndServerAsDecisions() throws {
    let sandbox = try policySandbox()
    let user = try sandbox.run(["can", "nobody", "acme/notes"])
    #expect(user.status == 1)
    #expect(user.out == ["deny acme/notes  no user nobody"])
    let server = try sandbox.run(["can", "bob", "acme/nope", "other/notes"])
    #expect(server.status == 1)
    #expect(server.out == ["deny acme/nope  no server acme/nope", "deny other/notes  no server other/notes"])
}

@Test func canWithKeyAppliesTheKeyScope() throws {
    let run = try policySandbox().run(["can", "--key", "ci", "bob", "acme/notes:read_x", "acme/notes:write_file"])
    #expect(run.status == 1)
    #expect(run.out == [
        #"allow acme/notes:read_x  role reader allows "notes:read_*""#,
        "deny acme/notes:write_file  key ci is scoped to acme/notes:read_*, which does not include acme/notes:write_file",
    ])
}

@Test func canWithUnknownKeyDenies() throws {
    let run = try policySandbox().run(["can", "--key", "laptop", "bob", "acme/notes"])
    #expect(run.status == 1)
    #expect(run.out == ["deny acme/notes  no key laptop for this user"])
}

@Test func canAtATimeAppliesKeyExpiry() throws {
    let sandbox = try policySandbox()
    let before = try sandbox.run(["can", "--key", "old", "--at", "2039-12-31T23:59:59Z", "bob", "acme/notes"])
    #expect(before.status == 0)
    #expect(before.out == [#"allow acme/notes  role reader allows "notes:read_*""#])
    let after = try sandbox.run(["can", "--key", "old", "--at", "2040-01-01", "bob", "acme/notes"])
    #expect(after.status == 1)
    #expect(after.out == ["deny acme/notes  key old expired at 2040-01-01T00:00:00Z"])
}

@Test func canJSONPrintsOneObjectPerTarget() throws {
    let run = try policySandbox().run(["can", "--json", "--key", "ci", "bob", "acme/notes:read_a", "acme/notes:write_a"])
    #expect(run.status == 1)
    #expect(run.out == [
        #"{"user":"bob","target":"acme/notes:read_a","key":"ci","decision":"allow","reason":"role reader allows \"notes:read_*\""}"#,
        #"{"user":"bob","target":"acme/notes:write_a","key":"ci","decision":"deny","reason":"key ci is scoped to acme/notes:read_*, which does not include acme/notes:write_a"}"#,
    ])
}

@Test func canJSONWithoutKeyGivesNullKey() throws {
    let run = try policySandbox().run(["can", "--json", "bob", "acme/notes"])
    #expect(run.status == 0)
    let answer = try JSONValue.parse(run.stdout)
    #expect(answer.objectValue?.keys == ["user", "target", "key", "decision", "reason"])
    #expect(answer["key"] == .null)
    #expect(answer["decision"] == "allow")
}

@Test(arguments: [
    ["can", "bob", "acme"],
    ["can", "bob", "acme/notes", "Acme/notes"],
    ["can", "bob", "acme/notes:"],
    ["can", "bob"],
    ["can"],
    ["can", "--at", "tomorrow", "bob", "acme/notes"],
    ["can", "--stdin", "bob", "acme/notes"],
    ["can", "--frobnicate", "bob", "acme/notes"],
])
func canUsageErrorsExit2WithoutAnAnswer(arguments: [String]) throws {
    let run = try policySandbox().run(arguments)
    #expect(run.status == 2)
    #expect(run.out == [])
    #expect(run.err.first?.hasPrefix("Error: ") == true)
}

@Test func canNamesTheBadTarget() throws {
    let run = try policySandbox().run(["can", "bob", "acme"])
    #expect(run.status == 2)
    #expect(run.err.first == #"Error: "acme" is not a target: write ORG/SERVER, ORG/SERVER:TOOL, ORG/SERVER:prompts/NAME or ORG/SERVER:resources/URI"#)
}

@Test func canStdinAnswersEachQueryInOrder() throws {
    let queries = [
        #"{"user":"bob","target":"acme/notes:delete_file"}"#,
        #"{"user":"bob","target":"acme/notes:write_file"}"#,
        #"{"user":"bob","target":"acme/notes:write_file","key":"ci"}"#,
        #"{"user":"bob","target":"acme/notes","key":"old","at":"2040-01-02"}"#,
        #"{"user":"alice","target":"acme/clock:now"}"#,
    ].joined(separator: "\n") + "\n"
    let run = try policySandbox().run(["can", "--stdin"], stdin: queries)
    #expect(run.status == 1)
    #expect(run.err == [])
    #expect(run.out == [
        #"{"user":"bob","target":"acme/notes:delete_file","key":null,"decision":"deny","reason":"role editor (team data) denies \"notes:delete_*\""}"#,
        #"{"user":"bob","target":"acme/notes:write_file","key":null,"decision":"allow","reason":"role editor (team data) allows \"notes\""}"#,
        #"{"user":"bob","target":"acme/notes:write_file","key":"ci","decision":"deny","reason":"key ci is scoped to acme/notes:read_*, which does not include acme/notes:write_file"}"#,
        #"{"user":"bob","target":"acme/notes","key":"old","decision":"deny","reason":"key old expired at 2040-01-01T00:00:00Z"}"#,
        #"{"user":"alice","target":"acme/clock:now","key":null,"decision":"allow","reason":"role admin allows \"*\""}"#,
    ])
}

@Test func canStdinExits0WhenEveryQueryIsAllowed() throws {
    let queries = #"{"user":"bob","target":"acme/notes"}"# + "\n" + #"{"user":"alice","target":"acme/clock"}"# + "\n"
    let run = try policySandbox().run(["can", "--stdin"], stdin: queries)
    #expect(run.status == 0)
    #expect(run.out.count == 2)
    #expect(run.out.allSatisfy { $0.contains(#""decision":"allow""#) })
}

@Test func canStdinTreatsUnknownUserAndKeyAsDenies() throws {
    let queries = #"{"user":"nobody","target":"acme/notes"}"# + "\n" + #"{"user":"bob","target":"acme/notes","key":"nokey"}"# + "\n"
    let run = try policySandbox().run(["can", "--stdin"], stdin: queries)
    #expect(run.status == 1)
    #expect(run.err == [])
    #expect(run.out == [
        #"{"user":"nobody","target":"acme/notes","key":null,"decision":"deny","reason":"no user nobody"}"#,
        #"{"user":"bob","target":"acme/notes","key":"nokey","decision":"deny","reason":"no key nokey for this user"}"#,
    ])
}

@Test func canStdinAnswersMalformedLinesWithADenyInPlace() throws {
    let queries = [
        "not json",
        #"{"user":"bob","target":"acme/notes"}"#,
        "[1,2]",
        #"{"user":"bob"}"#,
        #"{"user":"bob","target":"acme"}"#,
        #"{"user":"bob","target":"acme/notes","at":"soon"}"#,
    ].joined(separator: "\n") + "\n"
    let run = try policySandbox().run(["can", "--stdin"], stdin: queries)
    #expect(run.status == 1)
    #expect(run.err == [])
    #expect(run.out == [
        #"{"user":null,"target":null,"key":null,"decision":"deny","reason":"invalid query: expected a JSON object a line"}"#,
        #"{"user":"bob","target":"acme/notes","key":null,"decision":"allow","reason":"role reader allows \"notes:read_*\""}"#,
        #"{"user":null,"target":null,"key":null,"decision":"deny","reason":"invalid query: expected a JSON object a line"}"#,
        #"{"user":"bob","target":null,"key":null,"decision":"deny","reason":"invalid query: \"user\" and \"target\" strings are required"}"#,
        #"{"user":"bob","target":"acme","key":null,"decision":"deny","reason":"invalid query: \"acme\" is not a target: write ORG/SERVER, ORG/SERVER:TOOL, ORG/SERVER:prompts/NAME or ORG/SERVER:resources/URI"}"#,
        #"{"user":"bob","target":"acme/notes","key":null,"decision":"deny","reason":"invalid query: \"at\" is not a date or an RFC 3339 time"}"#,
    ])
}

@Test func canStdinUsesAtOptionAsTheDefaultTime() throws {
    let queries = #"{"user":"bob","target":"acme/notes","key":"old"}"# + "\n" + #"{"user":"bob","target":"acme/notes","key":"old","at":"2039-06-01"}"# + "\n"
    let run = try policySandbox().run(["can", "--stdin", "--at", "2041-01-01"], stdin: queries)
    #expect(run.out.map { try? JSONValue.parse($0)["decision"] } == ["deny", "allow"])
}

@Test func canStdinUsesKeyOptionAsTheDefaultKey() throws {
    let queries = #"{"user":"bob","target":"acme/notes:write_file"}"# + "\n"
    let run = try policySandbox().run(["can", "--stdin", "--key", "ci"], stdin: queries)
    #expect(run.status == 1)
    #expect(run.out == [
        #"{"user":"bob","target":"acme/notes:write_file","key":"ci","decision":"deny","reason":"key ci is scoped to acme/notes:read_*, which does not include acme/notes:write_file"}"#,
    ])
}

@Test func canStdinDeniesAQueryWithABadKeyField() throws {
    let queries = #"{"user":"bob","target":"acme/notes:write_file","key":123}"# + "\n"
        + #"{"user":"bob","target":"acme/notes:write_file","kye":"ci"}"# + "\n"
    let run = try policySandbox().run(["can", "--stdin"], stdin: queries)
    #expect(run.status == 1)
    #expect(run.out == [
        #"{"user":"bob","target":"acme/notes:write_file","key":null,"decision":"deny","reason":"invalid query: \"key\" must be a string"}"#,
        #"{"user":"bob","target":"acme/notes:write_file","key":null,"decision":"deny","reason":"invalid query: unknown field \"kye\""}"#,
    ])
}

@Test func canDecidesPromptAndResourceTargets() throws {
    let run = try policySandbox().run(["can", "--key", "ci", "bob", "acme/notes:read_file", "acme/notes:prompts/summarize",
                                       "acme/notes:resources/file:///srv/a.txt"])
    #expect(run.status == 1)
    #expect(run.out == [
        #"allow acme/notes:read_file  role reader allows "notes:read_*""#,
        "deny acme/notes:prompts/summarize  key ci is scoped to acme/notes:read_*, which does not include acme/notes:prompts/summarize",
        "deny acme/notes:resources/file:///srv/a.txt  key ci is scoped to acme/notes:read_*, which does not include acme/notes:resources/file:///srv/a.txt",
    ])
    let unscoped = try policySandbox().run(["can", "bob", "acme/notes:prompts/summarize", "acme/clock:resources/x://y"])
    #expect(unscoped.out == [
        #"allow acme/notes:prompts/summarize  role editor (team data) allows "notes""#,
        "deny acme/clock:resources/x://y  no role of bob allows acme/clock:resources/x://y (roles: reader, editor)",
    ])
    let typo = try policySandbox().run(["can", "bob", "acme/notes:prompt/summarize"])
    #expect(typo.status == 2)
    #expect(typo.err.first == #"Error: "acme/notes:prompt/summarize" is not a target: write "acme/notes:prompts/summarize" for a prompt (lowercase "prompts/")"#)
}
