import Foundation
import OrchJSON
@testable import OrchPolicy
import Testing

// A server's `approve` rules: read and checked, shown by explain, compared by diff, asserted by tests.

private func document(approve: String, tests: String = "") -> String {
    """
    { "version": 1,
      "roles": { "dev": { "allow": ["github"] }, "release": { "allow": ["github"] } },
      "orgs": { "acme": { "members": { "bob": "dev", "rae": "release" },
        "servers": { "github": { "command": "gh-mcp"\(approve.isEmpty ? "" : #", "approve": \#(approve)"#) } } } },
      "users": { "bob": {}, "rae": {} }\(tests.isEmpty ? "" : #", "tests": \#(tests)"#) }
    """
}

private func lines(_ text: String) -> [String] {
    unplaced(rendered(compile(text).diagnostics)).map { $0.hasPrefix("orch.json: error: ") ? String($0.dropFirst(18)) : $0 }
}

private let rules = #"""
[{"tools": ["merge_*", "delete_branch"], "by": "caller"},
 {"tools": ["deploy"], "by": "role:release", "timeoutSeconds": 600, "redact": ["token"]}]
"""#

@Test func approvalRulesAreReadAndMatchTheirToolsCallerFirst() throws {
    let result = compile(document(approve: rules))
    #expect(result.diagnostics.isEmpty, "\(rendered(result.diagnostics))")
    let policy = try #require(result.policy)
    let spec = policy.server(policy.server(org: "acme", name: "github")!).spec
    #expect(spec.approve.count == 2)
    #expect(spec.approvals(tool: "merge_pr").map(\.by) == [.caller])
    #expect(spec.approvals(tool: "merge_pr").first?.timeoutSeconds == 300)
    #expect(spec.approvals(tool: "deploy").map(\.by) == [.role("release")])
    #expect(spec.approvals(tool: "deploy").first?.redact == ["token"])
    #expect(spec.approvals(tool: "list_prs").isEmpty)
    let both = try #require(compile(document(approve: #"[{"tools": ["*"], "by": "role:release"}, {"tools": ["deploy"], "by": "caller"}]"#)).policy)
    #expect(both.server(both.server(org: "acme", name: "github")!).spec.approvals(tool: "deploy").map(\.by) == [.caller, .role("release")])
    // orch explain lists them.
    let explained = policy.explain(policy.user(named: "bob")!, at: Date())
    #expect(explained.text.contains("    approve: merge_*, delete_branch by caller within 300 s"))
    #expect(explained.text.contains("    approve: deploy by role:release within 600 s, redacting token"))
    #expect(explained.json["servers"]?.arrayValue?.first?["approve"]?.arrayValue?.last
        == ["tools": ["deploy"], "by": "role:release", "timeoutSeconds": 600, "redact": ["token"]])
}

@Test func badApprovalRulesAreErrorsWithTheirPlace() {
    let at = "orgs.acme.servers.github.approve"
    #expect(lines(document(approve: #"{"tools": ["x"]}"#)) == [
        #"\#(at): expected an array of approval rules ({"tools": [...], "by": "caller" or "role:NAME"}), found an object"#,
    ])
    #expect(lines(document(approve: #"[{"tools": ["x"]}]"#)) == [#"\#(at)[0]: missing required key "by""#])
    #expect(lines(document(approve: #"[{"tools": [], "by": "caller"}]"#)) == ["\(at)[0].tools: names no tool: list the tools (globs) that need approval"])
    #expect(lines(document(approve: #"[{"tools": ["github:merge"], "by": "caller"}]"#)) == [
        #"\#(at)[0].tools[0]: "github:merge" is not a tool glob: a tool's name, * matching any run of characters (no SERVER: part; the server is this one)"#,
    ])
    #expect(lines(document(approve: #"[{"tools": ["x"], "by": "admins"}]"#)) == [
        #"\#(at)[0].by: "admins" is not an approver: write "caller" (the caller approves through their client) or "role:NAME" (someone holding role NAME in the org, on the dashboard)"#,
    ])
    #expect(lines(document(approve: #"[{"tools": ["x"], "by": "role:relase"}]"#)) == [#"\#(at)[0].by: no role "relase" in roles (did you mean "release"?)"#])
    #expect(lines(document(approve: #"[{"tools": ["x"], "by": "caller", "timeoutSeconds": 90000}]"#)) == [
        "\(at)[0].timeoutSeconds: 90000 is more than a day (86400): a call waits at most that long",
    ])
    #expect(lines(document(approve: #"[{"tools": ["x"], "by": "caller", "when": "always"}]"#)).first?.contains(#""when""#) == true)
}

@Test func aTestMayAssertThatAToolNeedsApproval() {
    #expect(lines(document(approve: rules, tests: #"[{"user": "bob", "approve": ["acme/github:merge_pr", "acme/github:deploy"]}]"#)) == [])
    #expect(lines(document(approve: rules, tests: #"[{"user": "bob", "approve": ["acme/github:list_prs"]}]"#)) == [
        "tests[0].approve[0]: test failed: expected acme/github:list_prs to require approval, but no approve rule of the server names it",
    ])
    #expect(lines(document(approve: rules, tests: #"[{"user": "bob", "approve": ["acme/github"]}]"#)) == [
        "tests[0].approve[0]: an approve test names a tool: ORG/SERVER:TOOL",
    ])
}

@Test func theDiffReportsApprovalsAndADroppedOneIsAGrant() throws {
    func policy(_ approve: String) throws -> Policy { try #require(compile(document(approve: approve)).policy) }
    let before = try policy(rules)
    let longer = try policy(rules.replacingOccurrences(of: "600", with: "900"))
    let changed = PolicyDiff(old: before, new: longer)
    #expect(changed.servers.map(\.fields) == [["approve"]])
    #expect(changed.servers.first?.approvals.added == ["deploy by role:release within 900 s, redacting token"])
    #expect(!changed.grantsAccess)
    let dropped = PolicyDiff(old: before, new: try policy(#"[{"tools": ["merge_*"], "by": "caller"}]"#))
    #expect(dropped.grantsAccess && dropped.servers.first?.approvalDropped == true)
    let added = PolicyDiff(old: try policy(#"[{"tools": ["merge_*"], "by": "caller"}]"#), new: before)
    #expect(!added.grantsAccess && added.servers.first?.approvals.removed == ["merge_* by caller within 300 s"])
    #expect(PolicyDiff(old: before, new: try policy(rules)).servers.isEmpty)
}
