import Foundation
import OrchJSON
@testable import OrchPolicy
import Testing

// A server's `oauth` block (connected accounts) and `gateway.connections`.

private let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

private func document(oauth: String, server: String = #""url": "https://mcp.tickets.example/mcp""#, gateway: String = #""stateKey": "${env:STATE_KEY}""#) -> String {
    """
    { "version": 1,
      "gateway": { \(gateway) },
      "roles": { "dev": { "allow": ["tickets"] } },
      "orgs": { "acme": { "members": { "bob": "dev" },
        "servers": { "tickets": { \(server)\(oauth.isEmpty ? "" : #", "oauth": \#(oauth)"#) } } } },
      "users": { "bob": {} } }
    """
}

private let environment = ["TICKETS_SECRET": "tickets-client-secret-value", "STATE_KEY": key]
private func compiled(_ text: String) -> CompileResult { compile(text, environment: environment) }
private func lines(_ text: String) -> [String] { unplaced(rendered(compiled(text).diagnostics)) }

private let full = #"""
{"client": {"id": "orch-gateway", "secret": "${env:TICKETS_SECRET}"}, "scopes": ["tickets:read", "tickets:write", "tickets:read"],
 "authorizationServer": "https://login.tickets.example", "resource": "https://mcp.tickets.example/mcp", "sendResource": false}
"""#

@Test func anOAuthBlockIsReadWithItsSecretExpandedAndNeverShown() throws {
    let result = compiled(document(oauth: full))
    #expect(result.diagnostics.isEmpty, "\(rendered(result.diagnostics))")
    let policy = try #require(result.policy)
    let oauth = try #require(policy.server(policy.server(org: "acme", name: "tickets")!).spec.oauth)
    #expect(oauth.client == OIDCIssuer.Client(id: "orch-gateway", secret: "tickets-client-secret-value"))
    #expect(oauth.scopes == ["tickets:read", "tickets:write"])
    #expect(oauth.authorizationServer == "https://login.tickets.example")
    #expect(oauth.resource == "https://mcp.tickets.example/mcp")
    #expect(oauth.sendResource == false)
    // The secret is one of the values the log never shows.
    #expect(policy.secretValues.contains("tickets-client-secret-value"))
    // orch explain: the block and the user's connection as the store says, never a secret.
    let explained = policy.explain(policy.user(named: "bob")!, at: Date()) { user, server in "connected (\(user) at \(server))" }
    #expect(explained.text.contains("    oauth: the user's own account at https://login.tickets.example (scopes tickets:read tickets:write): connected (bob at acme/tickets)"))
    #expect(explained.json["servers"]?.arrayValue?.first?["oauth"] == ["authorizationServer": "https://login.tickets.example", "scopes": ["tickets:read", "tickets:write"], "connection": "connected (bob at acme/tickets)"])
    #expect(!explained.text.contains("tickets-client-secret-value") && !explained.json.compact.contains("tickets-client-secret-value"))
    // Without the store, nothing is claimed about the connection.
    #expect(policy.explain(policy.user(named: "bob")!, at: Date()).text.contains(": connection not looked at"))
    // The defaults: a public client, no scopes, the resource and authorization server from the metadata.
    let minimal = try #require(compiled(document(oauth: #"{"client": {"id": "c"}, "authorizationServer": "http://127.0.0.1:9000"}"#)).policy)
    let plain = try #require(minimal.server(minimal.server(org: "acme", name: "tickets")!).spec.oauth)
    #expect(plain.client.secret == nil && plain.scopes.isEmpty && plain.resource == nil && plain.sendResource)
    #expect(minimal.settings.connections == "state/connections")
}

@Test func anOAuthBlockThatCannotWorkIsAnErrorAtItsPlace() {
    let at = "orch.json: error: orgs.acme.servers.tickets.oauth"
    #expect(lines(document(oauth: #"{"client": {"id": "c"}}"#, server: #""command": "tickets-server""#)) == [
        "\(at): \"oauth\" applies to url servers only (a command server takes each user's values from ${user:…} in env)",
    ])
    #expect(lines(document(oauth: #"{"scopes": ["a"], "authorizationServer": "https://l.example"}"#)) == [
        "\(at): missing required key \"client\"",
    ])
    #expect(lines(document(oauth: #"{"client": {"secret": "${env:TICKETS_SECRET}"}, "authorizationServer": "https://l.example"}"#)) == [
        "\(at).client: missing required key \"id\"",
    ])
    #expect(lines(document(oauth: #"{"client": {"id": ""}, "authorizationServer": "https://l.example"}"#)) == ["\(at).client.id: must not be empty"])
    #expect(lines(document(oauth: #"{"client": {"id": "c", "secret": "plain-secret"}, "authorizationServer": "https://l.example"}"#)) == [
        "\(at).client.secret: a client secret never goes in orch.json: write \"${env:VARIABLE}\" and set VARIABLE where orch runs",
    ])
    #expect(lines(document(oauth: #"{"client": {"id": "c", "secret": "${env:UNSET_SECRET}"}, "authorizationServer": "https://l.example"}"#)).first?
        .hasPrefix("\(at).client.secret: ") == true)
    #expect(lines(document(oauth: #"{"client": {"id": "c"}, "scopes": ["read write", ""], "authorizationServer": "https://l.example"}"#)) == [
        "\(at).scopes[0]: \"read write\" is not an OAuth scope (printable characters, no spaces, quotes or backslashes)",
        "\(at).scopes[1]: \"\" is not an OAuth scope (printable characters, no spaces, quotes or backslashes)",
    ])
    #expect(lines(document(oauth: #"{"client": {"id": "c"}, "authorizationServer": "http://login.example"}"#)) == [
        "\(at).authorizationServer: \"http://login.example\" is not an https:// URL (http:// only on loopback) without query or fragment",
    ])
    #expect(lines(document(oauth: #"{"client": {"id": "c"}, "authorizationServer": "https://l.example", "resource": "mcp.example"}"#)) == [
        "\(at).resource: \"mcp.example\" is not an http:// or https:// URL without user info or fragment",
    ])
    #expect(lines(document(oauth: #"{"client": {"id": "c"}, "authorizationServer": "https://l.example", "sendResourc": false}"#)).first?
        .contains(#"unknown key "sendResourc" (did you mean "sendResource"?)"#) == true)
    // The user's token is the Authorization header: one written in headers would be replaced.
    #expect(lines(document(oauth: #"{"client": {"id": "c"}, "authorizationServer": "https://l.example"}"#,
                           server: #""url": "https://mcp.tickets.example/mcp", "headers": {"authorization": "Bearer ${env:TICKETS_SECRET}"}"#)) == [
        "\(at): a server with \"oauth\" sends each user's own token as Authorization: leave Authorization out of its headers",
    ])
    #expect(lines(document(oauth: "", gateway: #""connections": """#)) == [
        "orch.json: error: gateway.connections: must be a folder path (default: state/connections, beside orch.json)",
    ])
}

@Test func anUnpinnedAuthorizationServerOrNoStateKeyIsWarnedOf() {
    let at = "orch.json: warning: orgs.acme.servers.tickets.oauth"
    #expect(lines(document(oauth: #"{"client": {"id": "c"}}"#)) == [
        "\(at): authorizationServer is not set: users sign in wherever the server's metadata sends them (a compromised server could send them to another login page); set it to the issuer you expect",
    ])
    #expect(lines(document(oauth: #"{"client": {"id": "c"}, "authorizationServer": "https://l.example"}"#, gateway: "")) == [
        "\(at): without gateway.stateKey, connected accounts are sealed with a random key of each process: every restart forgets them and other replicas cannot read them; set gateway.stateKey (openssl rand -base64 32, as ${env:NAME})",
    ])
}

@Test func aChangedOAuthBlockIsAChangedServerInTheDiff() throws {
    let environment = EnvPlaceholders.environment(for: [Array(document(oauth: full).utf8)])
    func policy(_ text: String) throws -> Policy {
        try #require(PolicyCompiler.compile(Array(text.utf8), options: CompileOptions(environment: environment, now: Pinned.now)).policy)
    }
    let before = try policy(document(oauth: full))
    let after = try policy(document(oauth: full.replacingOccurrences(of: #""tickets:write", "#, with: "")))
    let diff = PolicyDiff(old: before, new: after)
    #expect(diff.servers.map(\.fields) == [["oauth"]])
    #expect(PolicyDiff(old: before, new: try policy(document(oauth: full))).servers.isEmpty)
}
