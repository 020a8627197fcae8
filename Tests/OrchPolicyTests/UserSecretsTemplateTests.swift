import Foundation
import OrchJSON
import OrchPolicy
import Testing

// `${user:NAME}`: kept as a template when the file is compiled, filled in per user at a session's
// start; `$$` and `${env:…}` keep their meaning in the same value.

@Test func aTemplateKeepsUserSecretsAndEscapesEveryOtherDollar() {
    let template = EnvExpansion.expand("Bearer ${user:TOKEN} ${env:E} $$x", environment: ["E": "a$b"], keepingUser: true)
    #expect(template == .success("Bearer ${user:TOKEN} a$$b $$x"))
    let rendered = UserSecrets.render("Bearer ${user:TOKEN} a$$b $$x") { $0 == "TOKEN" ? "t${user:X}$" : "" }
    // A value is put in as it is: what it holds is never read as a template.
    #expect(rendered == "Bearer t${user:X}$ a$b $x")
    #expect(UserSecrets.names(in: "${user:A}-${user:B}-${user:A}") == ["A", "B"])
    #expect(EnvExpansion.expand("${user:bad/name}", environment: [:], keepingUser: true) != .success("${user:bad/name}"))
    #expect(!UserSecrets.isName(".hidden") && UserSecrets.isName("GITHUB_TOKEN.v2"))
}

@Test func perUserServersAreCompiledWithTheirSecretsNamedAndMisplacedOnesRefused() throws {
    let text = """
        {"version": 1, "roles": {"all": {"allow": ["*"]}},
         "orgs": {"acme": {"members": {"bob": "all"}, "servers": {
            "gh": {"command": "x", "args": ["a$$b"], "env": {"GH_TOKEN": "${user:GITHUB_TOKEN}", "PLAIN": "p$$q"}},
            "jira": {"url": "https://jira.example.com/mcp?u=${user:JIRA_USER}", "headers": {"Authorization": "Bearer ${user:JIRA_TOKEN}"}},
            "shared": {"command": "x", "env": {"V": "p$$q"}}}}},
         "users": {"bob": {}}}
        """
    let result = PolicyCompiler.compile(Array(text.utf8), options: CompileOptions(environment: [:]))
    let policy = try #require(result.policy, "\(result.diagnostics)")
    #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")  // no "looks like a secret" warning
    let gh = policy.server(policy.server(org: "acme", name: "gh")!).spec
    #expect(gh.userSecrets == ["GITHUB_TOKEN"])
    guard case .stdio(_, let args, let env, _) = gh.resolved(["GITHUB_TOKEN": "ghp_1"]).transport else { Issue.record("not stdio"); return }
    #expect(args == ["a$b"] && env.map(\.value) == ["ghp_1", "p$q"])
    let jira = policy.server(policy.server(org: "acme", name: "jira")!).spec
    #expect(jira.userSecrets == ["JIRA_USER", "JIRA_TOKEN"])
    guard case .remote(let url, _, let headers) = jira.resolved(["JIRA_USER": "bob", "JIRA_TOKEN": "t"]).transport else { Issue.record("not remote"); return }
    #expect(url == "https://jira.example.com/mcp?u=bob" && headers.map(\.value) == ["Bearer t"])
    #expect(policy.server(policy.server(org: "acme", name: "shared")!).spec.userSecrets.isEmpty)

    let misplaced = text.replacingOccurrences(of: #""args": ["a$$b"]"#, with: #""args": ["${user:T}"]"#)
    let refused = PolicyCompiler.compile(Array(misplaced.utf8), options: CompileOptions(environment: [:]))
    #expect(refused.errors.map(\.message) == ["${user:…} goes in a server's env, headers or url only (args is visible to every local user)"])
}
