import Foundation
import OrchJSON
import OrchPolicy
import Testing

// orch.json's `auth`: OIDC issuers, and users' identities at them.

private func document(auth: String, users: String) -> String {
    """
    {"version": 1, "auth": \(auth),
     "roles": {"all": {"allow": ["*"]}},
     "orgs": {"acme": {"members": {"bob": "all", "ann": "all"}, "servers": {"notes": {"command": "x"}}}},
     "users": \(users)}
    """
}

@Test func issuersAndIdentitiesCompileAndNameExactlyOneUser() throws {
    let policy = try policy(document(auth: """
        {"resource": "https://orch.example.com",
         "oidc": {
           "acme-sso": {"issuer": "https://id.example.com/realms/acme", "audiences": ["https://orch.example.com", "orch"],
                        "scopes": ["mcp"], "client": {"id": "orch-dashboard", "secret": "${env:TICKETS_TOKEN}"}},
           "github": {"issuer": "http://127.0.0.1:9400", "jwks": "jwks.json", "userClaim": "sub"},
           "okta": {"issuer": "https://example.okta.com", "jwks": "https://example.okta.com/keys", "userClaim": "preferred_username"}}}
        """, users: """
        {"bob": {"email": "Bob@Example.com", "identities": ["github:4242", "okta:bob"]},
         "ann": {"email": "ann@example.com"}}
        """))
    #expect(policy.auth.resource == "https://orch.example.com")
    #expect(policy.auth.issuers.map(\.name) == ["acme-sso", "github", "okta"])
    let sso = try #require(policy.issuer(named: "acme-sso"))
    #expect(sso.audiences == ["https://orch.example.com", "orch"] && sso.scopes == ["mcp"] && sso.userClaim == "email")
    #expect(sso.keys == .discovery)
    #expect(sso.client?.id == "orch-dashboard" && sso.client?.secret == Pinned.secret)
    #expect(policy.issuer(named: "github")?.keys == .file("jwks.json"))
    #expect(policy.issuer(named: "okta")?.keys == .url("https://example.okta.com/keys"))
    let bob = try #require(policy.user(named: "bob")), ann = try #require(policy.user(named: "ann"))
    // By email (any case) where the issuer matches on email; by identities everywhere.
    #expect(policy.user(issuer: "acme-sso", claim: "bob@example.com") == bob)
    #expect(policy.user(issuer: "acme-sso", claim: "ANN@example.com") == ann)
    #expect(policy.user(issuer: "github", claim: "4242") == bob)
    #expect(policy.user(issuer: "okta", claim: "bob") == bob)
    // Not by email at an issuer that names users otherwise, nor at an unknown issuer.
    #expect(policy.user(issuer: "github", claim: "bob@example.com") == nil)
    #expect(policy.user(issuer: "okta", claim: "ann@example.com") == nil)
    #expect(policy.user(issuer: "nowhere", claim: "4242") == nil)
}

@Test func authMistakesAreReportedWhereTheyAre() {
    let result = compile(document(auth: """
        {"resource": "not a url",
         "oidc": {
           "plain": {"issuer": "http://id.example.com", "audiences": [], "client": {"id": "dash", "secret": "hunter2"}},
           "files": {"issuer": "https://id.example.com", "jwks": "http://keys.example.com/jwks", "userClaim": ""},
           "Bad Name": {"issuer": "https://x.example.com"},
           "extra": {"issuer": "https://y.example.com", "scope": ["mcp"]}}}
        """, users: """
        {"bob": {"email": "same@example.com", "identities": ["plan:bob", "files:7", "nocolon", ":x", "files:"]},
         "ann": {"email": "SAME@example.com", "identities": ["files:7"]}}
        """))
    let lines = unplaced(rendered(result.diagnostics))
    let expected = [
        "orch.json: error: auth.resource: \"not a url\" is not an http:// or https:// URL without query or fragment",
        "orch.json: error: auth.oidc.plain.issuer: \"http://id.example.com\" is not an https:// URL (http:// only on loopback) without query or fragment",
        "orch.json: error: auth.oidc.plain.audiences: must name at least one audience (or leave it out: the resource URL)",
        "orch.json: error: auth.oidc.plain.client.secret: a client secret never goes in orch.json: write \"${env:VARIABLE}\" and set VARIABLE where orch runs",
        "orch.json: error: auth.oidc.files.jwks: \"http://keys.example.com/jwks\" is not an https:// URL (http:// only on loopback)",
        "orch.json: error: auth.oidc.files.userClaim: must name a claim (sub, email, preferred_username…)",
        "orch.json: error: auth.oidc[\"Bad Name\"]: \"Bad Name\" is not a valid issuer name: \(Name.ruleDescription)",
        "orch.json: error: auth.oidc.extra.scope: unknown key \"scope\" (did you mean \"scopes\"?)",
        "orch.json: error: users.bob.identities[2]: \"nocolon\" is not ISSUER:VALUE (an auth.oidc issuer's name and the user's value of its userClaim)",
        "orch.json: error: users.bob.identities[3]: \":x\" is not ISSUER:VALUE (an auth.oidc issuer's name and the user's value of its userClaim)",
        "orch.json: error: users.bob.identities[4]: \"files:\" is not ISSUER:VALUE (an auth.oidc issuer's name and the user's value of its userClaim)",
        "orch.json: error: users.bob.identities[0]: no issuer \"plan\" in auth.oidc (did you mean \"plain\"?)",
        "orch.json: error: users.ann.identities[0]: files:7 is also user bob's: a token must name exactly one user",
        "orch.json: error: users.ann.email: same@example.com is also user bob's: plain, files, extra name users by email, so each needs its own",
        "orch.json: warning: auth.oidc.plain: the issuers plain, files, extra map users by email, and plain may assert any domain: it can sign in as any user by their email; give each issuer \"emailDomains\"",
    ]
    for line in expected { #expect(lines.contains(line), "missing: \(line)\nall:\n\(lines.joined(separator: "\n"))") }
    #expect(lines.count == expected.count, "\(lines.joined(separator: "\n"))")
    #expect(!result.ok)
}

@Test func explainShowsWhoTheUserIsAtEachIssuer() throws {
    let policy = try policy(document(auth: """
        {"oidc": {"sso": {"issuer": "https://id.example.com"}, "gh": {"issuer": "https://gh.example.com", "userClaim": "sub"}}}
        """, users: """
        {"bob": {"email": "bob@example.com", "identities": ["gh:4242"]}, "ann": {}}
        """))
    let bob = policy.explain(try #require(policy.user(named: "bob")), at: Pinned.now)
    #expect(bob.text.hasSuffix("identities:\n  sso: email bob@example.com\n  gh: sub 4242"), "\(bob.text)")
    #expect(bob.json["identities"] == [["issuer": "sso", "claim": "email", "value": "bob@example.com"], ["issuer": "gh", "claim": "sub", "value": "4242"]])
    let ann = policy.explain(try #require(policy.user(named: "ann")), at: Pinned.now)
    #expect(!ann.text.contains("identities:") && ann.json["identities"] == [])
}
