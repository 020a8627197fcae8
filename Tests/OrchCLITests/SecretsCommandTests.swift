import Foundation
import OrchJSON
import Testing

// `orch check --secrets` and `orch explain` for per-user servers: who lacks which secret, by
// name, never a value.

private let policy = """
    {"version": 1, "roles": {"all": {"allow": ["*"]}, "none": {"allow": []}},
     "orgs": {"acme": {"members": {"bob": "all", "cid": "all", "dan": "none"}, "servers": {
        "gh": {"command": "x", "env": {"GITHUB_TOKEN": "${user:GITHUB_TOKEN}"}},
        "plain": {"command": "x"}}}},
     "users": {"bob": {}, "cid": {}, "dan": {}}}
    """

private func secret(_ sandbox: Sandbox, _ user: String, _ value: String, mode: Int) throws {
    let path = try sandbox.write("secrets/\(user)/GITHUB_TOKEN", value)
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
}

@Test func checkSecretsListsWhoMayReachAPerUserServerButLacksASecret() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", policy)
    try secret(sandbox, "bob", "ghp_bob_value", mode: 0o600)
    try secret(sandbox, "cid", "ghp_cid_value", mode: 0o644)
    let run = try sandbox.run(["check", "--secrets"])
    #expect(run.status == 1)
    #expect(run.err.count == 1, "\(run.err)")
    let line = run.err.first ?? ""
    #expect(line.hasPrefix("orch.json: secret: acme/gh: cid may reach it but the secret GITHUB_TOKEN at /"), "\(line)")
    #expect(line.hasSuffix("/secrets/cid/GITHUB_TOKEN is readable by others (mode 0644): chmod 600 it"), "\(line)")
    // dan may not reach acme/gh: not listed. Without --secrets, the file is simply valid.
    #expect(try sandbox.run(["check"]).status == 0)
    let json = try JSONValue.parse(try sandbox.run(["check", "--secrets", "--json"]).stdout)
    #expect(json["secrets"]?.arrayValue?.map { $0["user"] } == ["cid"])
    let explained = try sandbox.run(["explain", "bob"])
    #expect(explained.out.contains("    secret GITHUB_TOKEN: present"))
    for output in [run.stdout, run.stderr, explained.stdout, json.compact] {
        #expect(!output.contains("ghp_bob_value") && !output.contains("ghp_cid_value"))
    }
}
