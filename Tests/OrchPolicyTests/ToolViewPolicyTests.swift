import Foundation
import OrchJSON
@testable import OrchPolicy
import Testing

// A server's `overrides.tools` and an org's `toolsets`: read, checked, and applied.

private func document(overrides: String = "", toolsets: String = "") -> String {
    """
    { "version": 1,
      "roles": { "dev": { "allow": ["github", "notes"] } },
      "orgs": { "acme": { "members": { "bob": "dev" },
        "servers": { "github": { "command": "gh-mcp"\(overrides.isEmpty ? "" : #", "overrides": \#(overrides)"#) },
                     "notes": { "command": "notes-mcp" } }\(toolsets.isEmpty ? "" : #", "toolsets": \#(toolsets)"#) } },
      "users": { "bob": {} } }
    """
}

private func lines(_ text: String) -> [String] {
    unplaced(rendered(compile(text).diagnostics)).map {
        for head in ["orch.json: error: ", "orch.json: warning: "] where $0.hasPrefix(head) { return String($0.dropFirst(head.count)) }
        return $0
    }
}

@Test func overridesRenameDescribeHideAndMapCallsBack() throws {
    let result = compile(document(overrides: #"{"tools": {"create_issue": {"name": "new_issue", "description": "Opens an issue."}, "delete_repo": {"hidden": true}}}"#))
    #expect(result.diagnostics.isEmpty, "\(rendered(result.diagnostics))")
    let policy = try #require(result.policy)
    let overrides = policy.server(policy.server(org: "acme", name: "github")!).spec.overrides
    #expect(overrides.call("new_issue") == .tool("create_issue"))
    #expect(overrides.call("create_issue") == .renamed(upstream: "create_issue", exposed: "new_issue"))
    #expect(overrides.call("delete_repo") == .hidden("delete_repo"))
    #expect(overrides.call("list_prs") == .tool("list_prs"))
    #expect(overrides.apply(["name": "create_issue", "description": "upstream"]) == ["name": "new_issue", "description": "Opens an issue."])
    #expect(overrides.apply(["name": "delete_repo"]) == nil)
    #expect(overrides.apply(["name": "list_prs"]) == ["name": "list_prs"])
    // An upstream tool whose own name another tool is shown under is left out: the override wins.
    #expect(overrides.apply(["name": "new_issue"]) == nil)
    #expect(overrides.missing(from: ["create_issue", "list_prs"]) == ["delete_repo"])
}

@Test func badOverridesAreErrorsWithTheirPlace() {
    let at = "orgs.acme.servers.github.overrides.tools"
    #expect(lines(document(overrides: #"{"tools": {"a": {"name": "has space"}}}"#)) == [
        #"\#(at).a.name: "has space" breaks the name rule clients hold tool names to: 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'"#,
    ])
    #expect(lines(document(overrides: #"{"tools": {"a": {"name": "c"}, "b": {"name": "c"}}}"#)) == [
        "\(at).b: tools a and b would both be shown as c: give each its own name",
    ])
    #expect(lines(document(overrides: #"{"tools": {"a": {"name": "b"}, "b": {"description": "kept"}}}"#)) == [
        "\(at).b: tools a and b would both be shown as b: give each its own name",
    ])
    // Swapping two names is no collision.
    #expect(lines(document(overrides: #"{"tools": {"a": {"name": "b"}, "b": {"name": "a"}}}"#)).isEmpty)
    #expect(lines(document(overrides: #"{"tools": {"a": {}}}"#)) == [#"\#(at).a: changes nothing: give "name", "description" or "hidden""#])
    #expect(lines(document(overrides: #"{"tools": {"a": {"nmae": "b"}}}"#)).first?.contains("nmae") == true)
}

@Test func pinsTellOfOverridesOfMissingToolsAndOfNamesAlreadyTaken() throws {
    let policy = try #require(compile(document(overrides: #"{"tools": {"gone": {"description": "x"}, "create_issue": {"name": "list_prs"}}}"#)).policy)
    var lock = PinLock()
    var server = PinLock.Server(pinnedAt: Date(timeIntervalSince1970: 0))
    server.pin(.tool, [["name": "create_issue"], ["name": "list_prs"]])
    lock.servers["acme/github"] = server
    let found = policy.overrideDiagnostics(against: lock).map { "\($0.severity.rawValue): \($0.path): \($0.message)" }
    #expect(found == [
        "warning: orgs.acme.servers.github.overrides.tools.gone: acme/github lists no tool gone (orch.lock.json): the override changes nothing",
        "error: orgs.acme.servers.github.overrides.tools.create_issue.name: list_prs is already a tool of acme/github (orch.lock.json): create_issue may not be shown under its name; rename or hide list_prs too",
    ])
}

@Test func toolsetsNameToolsOfTheOrgsServers() throws {
    let result = compile(document(toolsets: #"{"triage": {"description": "Issue triage", "tools": ["github:*_issue", "notes"]}}"#))
    #expect(result.diagnostics.isEmpty, "\(rendered(result.diagnostics))")
    let policy = try #require(result.policy)
    let toolset = try #require(policy.org(policy.server(policy.server(org: "acme", name: "github")!).org).spec.toolset(named: "triage"))
    #expect(toolset.description == "Issue triage")
    #expect(toolset.servers == ["github", "notes"])
    #expect(toolset.includes(server: "github", tool: "create_issue"))
    #expect(!toolset.includes(server: "github", tool: "merge_pr"))
    #expect(toolset.includes(server: "notes", tool: "anything"))
    let at = "orgs.acme.toolsets"
    #expect(lines(document(toolsets: #"{"triage": {"tools": ["gitlab:*"]}}"#)) == [
        "\(at).triage.tools[0]: no server gitlab in org acme (did you mean \"github\"?)",
    ])
    #expect(lines(document(toolsets: #"{"triage": {"tools": [":x"]}}"#)) == [
        #"\#(at).triage.tools[0]: ":x" is not SERVER:GLOB (a server of the org and a glob of its tools' upstream names)"#,
    ])
    #expect(lines(document(toolsets: #"{"triage": {"tools": []}}"#)) == ["\(at).triage.tools: names no tool: list SERVER:GLOB entries (SERVER alone for all its tools)"])
    #expect(lines(document(toolsets: #"{"Bad Name": {"tools": ["notes"]}}"#)).first?.contains("is not a valid toolset name") == true)
}
