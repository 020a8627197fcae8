import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// Bearer tokens of an auth.oidc issuer through the whole gateway: the same decisions as a key,
// sessions bound to the sign-in, ended when its token expires or a reload takes the user away.
// Keys of an ES256 issuer made for each test (TestKey, FakeKeys in OIDCVerifierTests.swift); the
// end-to-end tests do the same against a real provider's RS256 tokens.

private let resource = "https://orch.example.com"

private func ssoPolicy(bobEmail: String = "bob@example.com") -> String {
    mcpPolicyJSON()
        .replacingOccurrences(of: #""version": 1,"#, with: """
            "version": 1,
            "auth": {"resource": "\(resource)", "oidc": {"sso": {"issuer": "https://id.example.com", "jwks": "https://id.example.com/keys", "scopes": ["mcp"]}}},
            """)
        .replacingOccurrences(of: #""bob": { "keys""#, with: #""bob": { "email": "\#(bobEmail)", "keys""#)
}

/// A gateway over `ssoPolicy()` whose issuer "sso" signs with `key`.
private func ssoGateway(_ key: TestKey, clock: WallClock = .system) throws -> TestGateway {
    let fetcher = FakeKeys()
    fetcher.set("sso", TestKey.jwks([key]))
    return try TestGateway(json: ssoPolicy(), keyFetcher: fetcher, clock: clock)
}

/// A token of the issuer for `email`, valid for `lifetime` seconds.
private func token(_ key: TestKey, sub: String = "u-1", email: String = "bob@example.com", scope: String = "openid mcp",
                   lifetime: TimeInterval = 600) async throws -> String {
    let now = Date().timeIntervalSince1970
    return try await key.sign([
        "iss": "https://id.example.com", "sub": .string(sub), "aud": .string(resource), "exp": .integer(Int64(now + lifetime)),
        "iat": .integer(Int64(now)), "email": .string(email), "scope": .string(scope),
    ])
}

@Test func aSignedInUserIsDecidedLikeTheirKeyAndTheirSessionIsBoundToTheSignIn() async throws {
    let key = TestKey(kid: "a")
    let g = try ssoGateway(key)
    let bob = try await token(key)
    try await g.test { client in
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(bob)) { response in
            #expect(response.status == .ok)
            #expect(response.json["user"] == "bob" && response.json["key"] == .null && response.json["signIn"] == ["issuer": "sso"])
        }
        let session = try await client.openSession(token: bob)
        #expect(try await client.call("echo", #"{"text":"hi"}"#, session: session, token: bob)["result"] != nil)
        // bob's role denies write_note, whatever he signed in with.
        #expect(try await client.call("write_note", #"{"name":"a","text":"b"}"#, session: session, token: bob)["error"] != nil)
        // Another subject, even with bob's email, and bob's own key do not reach the sign-in's session.
        let other = try await token(key, sub: "u-2")
        #expect(try await client.mcp(token: other, session: session, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).status == .notFound)
        #expect(try await client.mcp(token: Tokens.bob, session: session, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).status == .notFound)
        // A client config for a signed-in caller signs in itself; it never holds the token.
        try await client.execute(uri: "/api/v1/client-config?client=cursor", method: .get, headers: bearer(bob)) { response in
            #expect(response.status == .ok)
            #expect(!String(buffer: response.body).contains(bob))
        }
        try await client.execute(uri: "/api/v1/client-config?client=cursor&auth=token", method: .get, headers: bearer(bob)) { response in
            #expect(response.status == .badRequest)
        }
        // A token without the issuer's scope: 403 naming it.
        let narrow = try await token(key, scope: "openid")
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(narrow)) { response in
            #expect(response.status == .forbidden)
            #expect(response.json["error"]?["code"] == "insufficient_scope")
            #expect(response.headers[.wwwAuthenticate]?.contains(#"error="insufficient_scope", scope="mcp""#) == true)
        }
        // A token for nobody in the file: 401, and audited with its issuer.
        let stranger = try await token(key, email: "eve@example.com")
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(stranger)) { response in
            #expect(response.status == .unauthorized)
            #expect(response.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
        }
        // Keys keep working beside sign-ins.
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.json["key"]?["id"] == "laptop" && response.json["signIn"] == .null)
        }
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }
    for line in g.auditLines {
        #expect(!line.contains(bob) && !line.contains(bob.split(separator: ".")[2]))
    }
    let echo = try #require(records.first { $0["tool"] == "echo" })
    #expect(echo["user"] == "bob" && echo["issuer"] == "sso" && echo["key"] == .null)
    let refused = try #require(records.first { $0["status"] == 401 })
    #expect(refused["issuer"] == "sso" && refused["reason"] == "no user for sso email eve@example.com")
    let scope = try #require(records.first { $0["status"] == 403 && $0["method"] == "GET /api/v1/me" })
    #expect(scope["reason"] == "the token lacks the scope mcp")
    let metrics = String(decoding: g.gateway.metrics.render(), as: UTF8.self)
    #expect(metrics.contains(#"orch_jwt_verifications_total{issuer="sso",result="ok"}"#))
    #expect(metrics.contains(#"orch_jwt_verifications_total{issuer="sso",result="insufficient_scope"} 1"#))
    #expect(metrics.contains(#"orch_jwt_verifications_total{issuer="sso",result="no_user"} 1"#))
    #expect(metrics.contains(#"orch_jwks_refreshes_total{issuer="sso",result="ok"} 1"#))
}

@Test func aTokenIsVerifiedOnceUnderAPolicyAndAgainAfterAReload() async throws {
    let key = TestKey(kid: "a")
    let g = try ssoGateway(key)
    let bob = try await token(key)
    try await g.test { client in
        for _ in 0..<3 {
            try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(bob)) { #expect($0.status == .ok) }
        }
        #expect(g.gateway.signIns.count == 1)
        // bob loses his email: the reload drops what was verified, and the token names nobody now.
        ReloadWatcher.install(compile(ssoPolicy(bobEmail: "robert@example.com")), path: "test.json", gateway: g.gateway)
        #expect(g.gateway.signIns.count == 0)
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(bob)) { #expect($0.status == .unauthorized) }
    }
    let metrics = String(decoding: g.gateway.metrics.render(), as: UTF8.self)
    #expect(metrics.contains(#"orch_jwt_verifications_total{issuer="sso",result="ok"} 1"#))
    #expect(metrics.contains(#"orch_jwt_verifications_total{issuer="sso",result="no_user"} 1"#))
}

@Test func aSignInSessionEndsWhenItsLatestTokenExpiresOrAReloadTakesItsUserAway() async throws {
    let key = TestKey(kid: "a")
    // The gateway's clock is moved by hand, so a loaded machine cannot outrun a token's lifetime.
    let clock = ManualClock()
    let g = try ssoGateway(key, clock: clock.clock)
    try await g.test { client in
        // A token good for another minute: once the clock passes its exp, its session ends.
        let short = try await token(key, lifetime: 60)
        #expect(try await client.mcp(token: short, initializeBody).status == .ok)
        #expect(g.gateway.sessionCount == 1)
        clock.advance(by: 61)
        #expect(try await waitFor { g.gateway.sessionCount == 0 })
        // A newer token of the same sign-in carries the session on past the first one's expiry.
        let first = try await token(key, lifetime: 61 + 60)
        let session = try await client.openSession(token: first)
        let renewed = try await token(key, lifetime: 600)
        #expect(try await client.call("echo", #"{"text":"hi"}"#, session: session, token: renewed)["result"] != nil)
        clock.advance(by: 61)
        #expect(try await client.call("echo", #"{"text":"again"}"#, session: session, token: renewed)["result"] != nil)
        #expect(g.gateway.sessionCount == 1)
        // A reload that gives bob another email: the sign-in no longer names him, the session ends.
        ReloadWatcher.install(compile(ssoPolicy(bobEmail: "robert@example.com")), path: "test.json", gateway: g.gateway)
        #expect(try await waitFor { g.gateway.sessionCount == 0 })
        #expect(try await client.mcp(token: renewed, session: session, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).status == .unauthorized)
    }
    let ends = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["method"] == "session end" }.compactMap { $0["reason"]?.stringValue }
    #expect(ends.first?.hasPrefix("its sso sign-in expired at ") == true, "\(ends)")
    #expect(ends.last == "its user bob was removed, disabled or no longer signs in so, by a policy reload", "\(ends)")
}
