import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Synchronization
import Testing

// Connected accounts on the dashboard, through the router, with the authorization server's
// metadata and token endpoints answered in process.

private let folder = FileManager.default.temporaryDirectory.appendingPathComponent("orch-dash-connections-\(UUID().uuidString)").path
private let stateKey = Data((0..<32).map { UInt8($0 &* 5) }).base64EncodedString()

private func policy() -> String {
    """
    { "version": 1,
      "gateway": { "publicURL": "https://orch.example.com", "stateKey": "\(stateKey)", "connections": "\(folder)" },
      "roles": { "admin": { "allow": ["*"] }, "dev": { "allow": ["tickets"] } },
      "orgs": { "acme": { "members": { "alice": "admin", "bob": "dev" },
        "servers": { "tickets": { "url": "https://mcp.tickets.example/mcp",
          "oauth": { "client": { "id": "orch" }, "scopes": ["tickets:read"], "authorizationServer": "https://login.tickets.example",
                     "resource": "https://mcp.tickets.example/mcp" } } } } },
      "users": { "alice": { "admin": true, "keys": [ { "id": "a", "sha256": "\(Tokens.hash(Tokens.alice))" } ] },
                 "bob": { "keys": [ { "id": "b", "sha256": "\(Tokens.hash(Tokens.bob))" } ] } } }
    """
}

/// The authorization server: its metadata, and a token and a revocation endpoint that keep what they were sent.
private final class AuthorizationServerStub: Sendable {
    let posts = Mutex<[(url: String, form: [String: String])]>([])

    var fetch: OAuthDiscovery.Fetch {
        { url in
            guard url == "https://login.tickets.example/.well-known/oauth-authorization-server" else { return FetchedDocument(status: 404, body: []) }
            let metadata: JSONValue = [
                "issuer": "https://login.tickets.example", "authorization_endpoint": "https://login.tickets.example/authorize",
                "token_endpoint": "https://login.tickets.example/token", "revocation_endpoint": "https://login.tickets.example/revoke",
                "code_challenge_methods_supported": ["S256"], "authorization_response_iss_parameter_supported": true,
            ]
            return FetchedDocument(status: 200, body: Array(metadata.compact.utf8))
        }
    }

    var post: TokenEndpoint.Post {
        { url, _, body in
            let form = Dictionary(uniqueKeysWithValues: body.split(separator: "&").map { pair in
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
                return (parts[0], parts.count > 1 ? parts[1] : "")
            })
            self.posts.withLock { $0.append((url, form)) }
            if url.hasSuffix("/revoke") { return (200, []) }
            return (200, Array(#"{"access_token": "bob-access-token", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "bob-refresh-token"}"#.utf8))
        }
    }
}

private func csrf(in html: String) -> String? {
    guard let range = html.range(of: #"name="csrf" value=""#) else { return nil }
    return String(html[range.upperBound...].prefix { $0 != "\"" })
}

private func formBody(_ fields: [String: String]) -> ByteBuffer {
    ByteBuffer(string: fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&"))
}

private func headers(_ browser: Browser, form: Bool = false) -> HTTPFields {
    var fields = browser.header
    if form { fields[.contentType] = "application/x-www-form-urlencoded" }
    return fields
}

@Test func aUserConnectsTheirOwnAccountAndNoOneElseCanFinishTheirFlow() async throws {
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let g = try TestGateway(json: policy())
    let stub = AuthorizationServerStub()
    g.gateway.oauthTransport.fetch = stub.fetch
    g.gateway.oauthTransport.post = stub.post
    let running = try #require(g.gateway.store.policy)
    let store = try #require(g.gateway.connectionStore(running))
    try await g.test { client in
        var bob = try await signIn(client, Tokens.bob)
        let page = try await client.execute(uri: "/ui/connections", method: .get, headers: headers(bob)) { String(buffer: $0.body) }
        #expect(page.contains("<code>acme/tickets</code>") && page.contains("login.tickets.example") && page.contains("not connected"))
        let token = try #require(csrf(in: page))

        /// Starts a flow as bob: the authorization URL's query, and the flow cookie kept in bob's browser.
        func start() async throws -> [String: String] {
            try await client.execute(uri: "/ui/connections/connect", method: .post, headers: headers(bob, form: true),
                                     body: formBody(["csrf": token, "server": "acme/tickets"])) { response in
                #expect(response.status == .seeOther)
                let cookie = response.headers[values: .setCookie].first { $0.hasPrefix("orch_connect=") } ?? ""
                #expect(cookie.contains("; Path=/ui/oauth; HttpOnly; SameSite=Lax; Max-Age=600; Secure"))
                bob.keep(response)
                let location = try #require(response.headers[.location])
                #expect(location.hasPrefix("https://login.tickets.example/authorize?"))
                return Dictionary(uniqueKeysWithValues: (URLComponents(string: location)?.queryItems ?? []).map { ($0.name, $0.value ?? "") })
            }
        }
        let request = try await start()
        #expect(request["client_id"] == "orch" && request["code_challenge_method"] == "S256" && request["scope"] == "tickets:read"
            && request["redirect_uri"] == "https://orch.example.com/ui/oauth/callback" && request["resource"] == "https://mcp.tickets.example/mcp")
        let state = try #require(request["state"])

        // Another browser (alice, signed in or not) finishing bob's flow: refused, nothing stored.
        let alice = try await signIn(client, Tokens.alice)
        let callback = "/ui/oauth/callback?code=the-code&iss=https%3A%2F%2Flogin.tickets.example&state=\(state)"
        try await client.execute(uri: callback, method: .get, headers: headers(alice)) { response in
            #expect(response.status == .badRequest)
            #expect(String(buffer: response.body).contains("This connection was started in another sign-in."))
        }
        // Or a browser signed in as nobody (where a link to the callback was sent).
        try await client.execute(uri: callback, method: .get) { response in
            #expect(response.status == .badRequest)
        }
        #expect(store.read(user: "bob", server: "acme/tickets") == .none && store.read(user: "alice", server: "acme/tickets") == .none)

        // Bob's browser comes back from the provider with only the flow cookie (the Strict session cookie stays behind).
        var returning = Browser()
        returning.cookies["orch_connect"] = bob.cookies["orch_connect"]
        try await client.execute(uri: callback, method: .get, headers: headers(returning)) { response in
            #expect(response.status == .ok)
            let body = String(buffer: response.body)
            #expect(body.contains("Your account at acme/tickets is connected.") && body.contains(#"href="/ui/connections""#))
            #expect(response.headers[values: .setCookie].contains { $0.hasPrefix("orch_connect=;") })
        }
        // The code went to the token endpoint with the verifier whose S256 the authorization request carried.
        let exchange = try #require(stub.posts.withLock { $0.first })
        #expect(exchange.url == "https://login.tickets.example/token")
        #expect(exchange.form["grant_type"] == "authorization_code" && exchange.form["code"] == "the-code"
            && exchange.form["redirect_uri"] == "https://orch.example.com/ui/oauth/callback" && exchange.form["resource"] == "https://mcp.tickets.example/mcp")
        #expect(PKCE.challenge(exchange.form["code_verifier"] ?? "") == request["code_challenge"])
        guard case .connection(let stored) = store.read(user: "bob", server: "acme/tickets") else { Issue.record("not stored"); return }
        #expect(stored.accessToken == "bob-access-token" && stored.refreshToken == "bob-refresh-token" && stored.issuer == "https://login.tickets.example")
        // The same callback again: refused.
        try await client.execute(uri: callback, method: .get, headers: headers(returning)) { response in
            #expect(response.status == .badRequest && String(buffer: response.body).contains("finished already"))
        }
        // The provider's own refusal is shown as it gave it; an answer from another issuer is refused.
        _ = try await start()
        returning.cookies["orch_connect"] = bob.cookies["orch_connect"]
        let second = try await start()
        returning.cookies["orch_connect"] = bob.cookies["orch_connect"]
        try await client.execute(uri: "/ui/oauth/callback?error=access_denied&error_description=No%20thanks&state=\(second["state"]!)", method: .get,
                                 headers: headers(returning)) { response in
            #expect(response.status == .badRequest && String(buffer: response.body).contains("The authorization server refused: access_denied (No thanks)"))
        }
        let third = try await start()
        returning.cookies["orch_connect"] = bob.cookies["orch_connect"]
        try await client.execute(uri: "/ui/oauth/callback?code=c&iss=https%3A%2F%2Fevil.example&state=\(third["state"]!)", method: .get,
                                 headers: headers(returning)) { response in
            #expect(response.status == .badRequest && String(buffer: response.body).contains("not https://login.tickets.example"))
        }
        #expect(stub.posts.withLock { $0.count } == 1)

        // Bob's page says connected; the admin page shows who is; bob may not see it.
        let connected = try await client.execute(uri: "/ui/connections", method: .get, headers: headers(bob)) { String(buffer: $0.body) }
        #expect(connected.contains(#"<td class="state">connected</td>"#) && connected.contains("Disconnect"))
        try await client.execute(uri: "/ui/admin/connections", method: .get, headers: headers(alice)) { response in
            let body = String(buffer: response.body)
            #expect(response.status == .ok && body.contains("<td>bob</td><td><code>acme/tickets</code></td><td>connected</td>"))
            #expect(body.contains("<td>alice</td><td><code>acme/tickets</code></td><td>not connected</td>"))
        }
        try await client.execute(uri: "/ui/admin/connections", method: .get, headers: headers(bob)) { #expect($0.status == .forbidden) }

        // Connect without the CSRF token: refused.
        try await client.execute(uri: "/ui/connections/connect", method: .post, headers: headers(bob, form: true),
                                 body: formBody(["csrf": "forged", "server": "acme/tickets"])) { #expect($0.status == .forbidden) }
        // Disconnect: the refresh token revoked at the provider, the file gone.
        try await client.execute(uri: "/ui/connections/disconnect", method: .post, headers: headers(bob, form: true),
                                 body: formBody(["csrf": token, "server": "acme/tickets"])) { response in
            #expect(response.status == .seeOther && response.headers[.location] == "/ui/connections")
        }
        let revocation = try #require(stub.posts.withLock { $0.last })
        #expect(revocation.url == "https://login.tickets.example/revoke" && revocation.form["token"] == "bob-refresh-token"
            && revocation.form["token_type_hint"] == "refresh_token")
        #expect(store.read(user: "bob", server: "acme/tickets") == .none)
    }
    // No token, code or verifier in the audit log.
    let audit = g.auditLines.joined(separator: "\n")
    #expect(audit.contains("connected an account at acme/tickets") && audit.contains("disconnected the account at acme/tickets"))
    for secret in ["bob-access-token", "bob-refresh-token", "the-code", "code_verifier"] { #expect(!audit.contains(secret)) }
}
