import Foundation
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Synchronization
import Testing

// The ends of a connect flow and the token endpoint, without a network.

private let key = Data((0..<32).map { UInt8($0 &+ 40) }).base64EncodedString()
private let seal = StateSeal(keys: [key])
private let target = ConnectionTarget(
    resource: "https://mcp.tickets.example/mcp",
    authorizationServer: AuthorizationServer(
        issuer: "https://login.tickets.example", authorizationEndpoint: "https://login.tickets.example/authorize?tenant=a+b",
        tokenEndpoint: "https://login.tickets.example/token", revocationEndpoint: nil, scopesSupported: nil, sendsIssuer: true),
    scopes: ["tickets:read", "offline_access"])

private func state(user: String = "bob", session: String = ConnectState.session("session-of-bob"), expires: Int64 = 2_000) -> ConnectState {
    ConnectState(user: user, session: session, server: "acme/tickets", issuer: "https://login.tickets.example", verifier: "v" + String(repeating: "x", count: 42),
                 redirectURI: "https://orch.example/ui/oauth/callback", expires: expires)
}

@Test func pkceIsS256OfARandomVerifier() {
    // As Python's hashlib and base64.urlsafe_b64encode compute it.
    #expect(PKCE.challenge("dBjftJeZ4CVP-mJ92K9dAc2mkeRfmjXcXM4TUWfX7WAJj4") == "OHzcmAbAnExLMl7ONpcP0Hr2YE07NGIFIuf9dF3bEAQ")
    let a = PKCE.verifier(), b = PKCE.verifier()
    #expect(a.count == 43 && a != b && a.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
}

@Test func theAuthorizationRequestCarriesPKCETheStateAndTheResource() throws {
    let text = ConnectFlow.authorizationURL(target, client: .init(id: "orch gateway", secret: "never-sent"), state: "STATE", verifier: "dBjftJeZ4CVP-mJ92K9dAc2mkeRfmjXcXM4TUWfX7WAJj4",
                                            redirectURI: "https://orch.example/ui/oauth/callback", sendResource: true)
    let url = try #require(URLComponents(string: text))
    let items = Dictionary(uniqueKeysWithValues: (url.queryItems ?? []).map { ($0.name, $0.value ?? "") })
    #expect(url.host == "login.tickets.example" && url.path == "/authorize")
    #expect(items == [
        "tenant": "a+b", "response_type": "code", "client_id": "orch gateway", "redirect_uri": "https://orch.example/ui/oauth/callback", "state": "STATE",
        "code_challenge": "OHzcmAbAnExLMl7ONpcP0Hr2YE07NGIFIuf9dF3bEAQ", "code_challenge_method": "S256", "scope": "tickets:read offline_access",
        "resource": "https://mcp.tickets.example/mcp",
    ])
    #expect(!text.contains("never-sent"))
    // The endpoint's own query is kept as written; a + in a value of ours is encoded.
    #expect(text.hasPrefix("https://login.tickets.example/authorize?tenant=a+b&response_type=code&client_id=orch%20gateway&"))
    #expect(ConnectFlow.authorizationURL(target, client: .init(id: "a+b", secret: nil), state: "S", verifier: "v", redirectURI: "https://r.example",
                                         sendResource: false).contains("client_id=a%2Bb&"))
    let withoutResource = ConnectFlow.authorizationURL(target, client: .init(id: "c", secret: nil), state: "S", verifier: "v", redirectURI: "https://r.example",
                                                       sendResource: false)
    #expect(!withoutResource.contains("resource="))
}

@Test func aStateIsSealedAndOpensOnlyWhereItWasMade() {
    let sealed = state().sealed(seal)
    #expect(sealed.hasPrefix("orcho1."))
    #expect(!sealed.contains("bob") && !sealed.contains("xxxx"))
    #expect(ConnectState(sealed: sealed, seal) == state())
    #expect(ConnectState(sealed: sealed, StateSeal(keys: [key, Data(repeating: 1, count: 32).base64EncodedString()])) == state())
    #expect(ConnectState(sealed: sealed, StateSeal(keys: [Data(repeating: 1, count: 32).base64EncodedString()])) == nil)
    var changed = Array(sealed.utf8)
    changed[changed.count - 3] = changed[changed.count - 3] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
    #expect(ConnectState(sealed: String(decoding: changed, as: UTF8.self), seal) == nil)
    // A session id's seal (another purpose) is not a state.
    #expect(ConnectState(sealed: seal.seal(Array("{}".utf8), purpose: "s1."), seal) == nil)
}

@Test func aCallbackIsCheckedBeforeItsCodeIsUsed() {
    let used = UsedStates()
    let session = ConnectState.session("session-of-bob")
    func check(_ query: [String: String], user: String = "bob", session: String = session, now: Int64 = 1_000, sendsIssuer: Bool = true)
        -> Result<(state: ConnectState, code: String), ConnectFlow.Refusal>
    {
        ConnectFlow.check(query: query, seal: seal, user: user, session: session, now: now, sendsIssuer: { _ in sendsIssuer },
                          firstUse: { used.firstUse($0, expires: $1, now: now) })
    }
    func refusal(_ result: Result<(state: ConnectState, code: String), ConnectFlow.Refusal>) -> ConnectFlow.Refusal? {
        if case .failure(let refusal) = result { return refusal }
        return nil
    }
    let good = state().sealed(seal)
    let iss = "https://login.tickets.example"
    #expect(refusal(check(["code": "c"])) == .unknownState)
    #expect(refusal(check(["state": "orcho1.nonsense", "code": "c"])) == .unknownState)
    #expect(refusal(check(["state": good, "code": "c", "iss": iss], now: 2_000)) == .expired)
    // Another browser session, or another user, finishing this flow: refused, and the state stays usable.
    #expect(refusal(check(["state": good, "code": "c", "iss": iss], session: ConnectState.session("session-of-eve"))) == .anotherSession)
    #expect(refusal(check(["state": good, "code": "c", "iss": iss], user: "eve")) == .anotherSession)
    // RFC 9207: iss must be the issuer's; without one, refused when the server says it sends it.
    #expect(refusal(check(["state": state(expires: 1_500).sealed(seal), "code": "c", "iss": "https://evil.example"])) ==
        .wrongIssuer(expected: iss, got: "https://evil.example"))
    #expect(refusal(check(["state": state(expires: 1_501).sealed(seal), "code": "c"])) == .wrongIssuer(expected: iss, got: nil))
    if case .success(let (opened, code)) = check(["state": state(expires: 1_502).sealed(seal), "code": "c2"], sendsIssuer: false) {
        #expect(opened.expires == 1_502 && code == "c2")
    } else {
        Issue.record("a callback without iss from a server that does not send it was refused")
    }
    #expect(refusal(check(["state": state(expires: 1_503).sealed(seal), "error": "access_denied", "error_description": "The user said no"])) ==
        .provider(error: "access_denied", description: "The user said no"))
    #expect(refusal(check(["state": state(expires: 1_504).sealed(seal), "iss": iss])) == .noCode)
    // The good one, once.
    if case .success(let (opened, code)) = check(["state": good, "code": "the-code", "iss": iss]) {
        #expect(opened == state() && code == "the-code")
    } else {
        Issue.record("the good callback was refused")
    }
    #expect(refusal(check(["state": good, "code": "the-code", "iss": iss])) == .replayed)
    #expect(ConnectFlow.Refusal.provider(error: "access_denied", description: nil).description == "The authorization server refused: access_denied")
}

/// A token endpoint that answers from a list and keeps what it was sent.
private final class FakeTokenEndpoint: Sendable {
    let answers: Mutex<[(Int, String)]>
    let requests = Mutex<[(headers: [(String, String)], body: String)]>([])

    init(_ answers: [(Int, String)]) { self.answers = Mutex(answers) }

    var post: TokenEndpoint.Post {
        { _, headers, body in
            self.requests.withLock { $0.append((headers, body)) }
            let (status, text) = self.answers.withLock { $0.removeFirst() }
            return (status, Array(text.utf8))
        }
    }

    func form(_ index: Int) -> [String: String] {
        let body = requests.withLock { $0[index].body }
        return Dictionary(uniqueKeysWithValues: body.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
            return (parts[0], parts.count > 1 ? parts[1] : "")
        })
    }

    func header(_ index: Int, _ name: String) -> String? { requests.withLock { $0[index].headers.first { $0.0 == name }?.1 } }
}

@Test func theTokenEndpointExchangesACodeAndARefreshTokenAndSaysWhyNot() async throws {
    let fake = FakeTokenEndpoint([
        (200, #"{"access_token": "at-1", "token_type": "bearer", "expires_in": 3600, "refresh_token": "rt-1", "scope": "tickets:read"}"#),
        (200, #"{"access_token": "at-2", "token_type": "Bearer", "expires_in": "60"}"#),
        (400, #"{"error": "invalid_grant", "error_description": "refresh token revoked"}"#),
        (200, #"{"token_type": "Bearer"}"#),
        (200, #"{"access_token": "at-3", "token_type": "mac"}"#),
        (502, "<html>bad gateway</html>"),
    ])
    let endpoint = TokenEndpoint(url: "https://login.tickets.example/token", client: .init(id: "orch+gw", secret: "s:cr&t"), post: fake.post)
    let first = try await endpoint.exchange(code: "the+code", redirectURI: "https://orch.example/ui/oauth/callback", verifier: "ver", resource: "https://mcp.tickets.example/mcp")
    #expect(first == IssuedTokens(accessToken: "at-1", tokenType: "Bearer", expiresIn: 3600, refreshToken: "rt-1", scope: "tickets:read"))
    #expect(fake.form(0) == ["grant_type": "authorization_code", "code": "the+code", "redirect_uri": "https://orch.example/ui/oauth/callback",
                             "code_verifier": "ver", "resource": "https://mcp.tickets.example/mcp", "client_id": "orch+gw"])
    // The secret as HTTP Basic over the form-encoded id and secret, never in the form.
    #expect(fake.header(0, "Authorization") == "Basic " + Data("orch%2Bgw:s%3Acr%26t".utf8).base64EncodedString())
    #expect(!fake.requests.withLock { $0[0].body }.contains("cr"))
    let second = try await endpoint.refresh("rt-1", resource: nil)
    #expect(second == IssuedTokens(accessToken: "at-2", tokenType: "Bearer", expiresIn: 60, refreshToken: nil, scope: nil))
    #expect(fake.form(1) == ["grant_type": "refresh_token", "refresh_token": "rt-1", "client_id": "orch+gw"])
    await #expect(throws: TokenEndpointError(description: "the token endpoint answered 400 (invalid_grant: refresh token revoked)", code: "invalid_grant")) {
        try await endpoint.refresh("rt-1", resource: nil)
    }
    await #expect(throws: TokenEndpointError(description: "the token endpoint's answer has no access_token", code: nil)) {
        try await endpoint.refresh("rt-1", resource: nil)
    }
    await #expect(throws: TokenEndpointError(description: "the token endpoint issued a mac token, not a Bearer one", code: nil)) {
        try await endpoint.refresh("rt-1", resource: nil)
    }
    await #expect(throws: TokenEndpointError(description: "the token endpoint answered 502", code: nil)) { try await endpoint.refresh("rt-1", resource: nil) }
    // Everything but RFC 3986's unreserved ASCII is percent-encoded, other scripts' letters too.
    #expect(TokenEndpoint.formEncode("aZ09-._~ é+/=&") == "aZ09-._~%20%C3%A9%2B%2F%3D%26")
    // A public client: no Authorization header.
    let publicClient = FakeTokenEndpoint([(200, #"{"access_token": "p"}"#)])
    _ = try await TokenEndpoint(url: "https://l.example/token", client: .init(id: "pub", secret: nil), post: publicClient.post)
        .exchange(code: "c", redirectURI: "https://r.example", verifier: "v", resource: nil)
    #expect(publicClient.header(0, "Authorization") == nil && publicClient.form(0)["client_id"] == "pub" && publicClient.form(0)["resource"] == nil)
}
