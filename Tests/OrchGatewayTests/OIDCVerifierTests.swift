import Foundation
import JWTKit
import OrchAuth
import OrchJSON
import OrchPolicy
import Synchronization
import Testing

// OIDC tokens verified against the issuers of orch.json, with keys made for each test (ES256).

private let resource = "https://orch.example.com"

private let policyText = """
    {"version": 1,
     "auth": {"resource": "\(resource)", "oidc": {
        "sso": {"issuer": "https://id.example.com", "jwks": "https://id.example.com/keys", "scopes": ["mcp"]},
        "gh": {"issuer": "https://gh.example.com", "jwks": "https://gh.example.com/keys", "userClaim": "sub", "audiences": ["orch-cli"]}}},
     "roles": {"all": {"allow": ["*"]}},
     "orgs": {"acme": {"members": {"bob": "all", "cid": "all"}, "servers": {"notes": {"command": "x"}}}},
     "users": {"bob": {"email": "bob@example.com", "identities": ["gh:4242"]},
               "cid": {"email": "cid@example.com", "disabled": true}}}
    """

private func compiledPolicy() throws -> Policy {
    let result = PolicyCompiler.compile(Array(policyText.utf8), options: CompileOptions(environment: [:]))
    return try #require(result.policy, "\(result.diagnostics)")
}

/// Serves JWKS documents the test sets, counting fetches.
final class FakeKeys: KeyFetcher, Sendable {
    private let documents = Mutex<[String: String]>([:])
    private let count = Mutex(0)

    func set(_ issuer: String, _ jwks: String) { documents.withLock { $0[issuer] = jwks } }
    var fetches: Int { count.withLock { $0 } }

    func jwks(for issuer: OIDCIssuer, folder: String) async throws -> String {
        count.withLock { $0 += 1 }
        guard let text = documents.withLock({ $0[issuer.name] }) else { throw URLError(.fileDoesNotExist) }
        return text
    }
}

/// A signing key and its JWKS entry.
struct TestKey {
    let kid: String
    let key = ES256PrivateKey()

    var jwk: JSONValue {
        let (x, y) = key.publicKey.parameters!
        return ["kty": "EC", "crv": "P-256", "kid": .string(kid), "alg": "ES256", "use": "sig", "x": .string(x), "y": .string(y)]
    }

    static func jwks(_ keys: [TestKey]) -> String { JSONValue.object(["keys": .array(keys.map(\.jwk))]).compact }

    /// A token of `claims`, signed by this key (or, with `kid`, claiming another key's id).
    func sign(_ claims: JSONValue, kid: String? = nil) async throws -> String {
        let keys = await JWTKeyCollection().add(ecdsa: key, kid: JWKIdentifier(string: kid ?? self.kid))
        return try await keys.sign(Claims(json: claims), kid: JWKIdentifier(string: kid ?? self.kid))
    }
}

/// Any claims, as JSON.
struct Claims: JWTPayload {
    let json: JSONValue
    init(json: JSONValue) { self.json = json }
    init(from decoder: any Decoder) throws { json = .null }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (name, value) in json.objectValue ?? [:] {
            let key = Key(stringValue: name)
            switch value {
            case .string(let s): try container.encode(s, forKey: key)
            case .integer(let i): try container.encode(i, forKey: key)
            case .real(let d): try container.encode(d, forKey: key)
            case .bool(let b): try container.encode(b, forKey: key)
            case .array(let items): try container.encode(items.compactMap(\.stringValue), forKey: key)
            default: break
            }
        }
    }
    func verify(using algorithm: some JWTAlgorithm) async throws {}
    struct Key: CodingKey {
        let stringValue: String
        init(stringValue: String) { self.stringValue = stringValue }
        var intValue: Int? { nil }
        init?(intValue: Int) { nil }
    }
}

private func base64URL(_ text: String) -> String {
    Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
}

private let now = Date(timeIntervalSince1970: 1_800_000_000)

private func claims(_ extra: JSONObject = [:], iss: String = "https://id.example.com") -> JSONValue {
    var object: JSONObject = [
        "iss": .string(iss), "sub": "u-1", "aud": .string(resource), "exp": .integer(Int64(now.timeIntervalSince1970) + 600),
        "iat": .integer(Int64(now.timeIntervalSince1970)), "email": "Bob@Example.com", "scope": "openid mcp",
    ]
    for (key, value) in extra { object[key] = value }
    return .object(object)
}

private func verifier(_ keys: FakeKeys) -> OIDCVerifier { OIDCVerifier(fetcher: keys, now: { now }) }

@Test func aSignedTokenOfAKnownIssuerNamesItsUser() async throws {
    let policy = try compiledPolicy()
    let fetcher = FakeKeys(), key = TestKey(kid: "a")
    fetcher.set("sso", TestKey.jwks([key]))
    let v = verifier(fetcher)
    let verified = try await v.verify(try await key.sign(claims()), policy: policy, resource: resource, folder: "/").get()
    #expect(verified.user == policy.user(named: "bob"))
    #expect(verified.issuer == "sso" && verified.subject == "u-1" && verified.scopes == ["openid", "mcp"] && verified.claim == "Bob@Example.com")
    // By sub, at an issuer that names users so, with its own audience.
    fetcher.set("gh", TestKey.jwks([key]))
    let gh = try await key.sign(claims(["sub": "4242", "aud": ["orch-cli"]], iss: "https://gh.example.com"))
    #expect(try await v.verify(gh, policy: policy, resource: resource, folder: "/").get().user == policy.user(named: "bob"))
    #expect(fetcher.fetches == 2 && v.verifications == 2)
}

@Test func tokensThatNameNoUserOrTheWrongPlaceAreRefused() async throws {
    let policy = try compiledPolicy()
    let fetcher = FakeKeys(), key = TestKey(kid: "a")
    fetcher.set("sso", TestKey.jwks([key]))
    let v = verifier(fetcher)
    func outcome(_ c: JSONValue) async throws -> TokenRefusal? {
        if case .failure(let refusal) = await v.verify(try await key.sign(c), policy: policy, resource: resource, folder: "/") { return refusal }
        return nil
    }
    #expect(try await outcome(claims(["email": "eve@example.com"])) == .noUser("no user for sso email eve@example.com", issuer: "sso"))
    #expect(try await outcome(claims(["email": "cid@example.com"])) == .noUser("user cid is disabled", issuer: "sso", user: "cid"))
    #expect(try await outcome(claims(["email_verified": false])) == .noUser("sso has not verified the email Bob@Example.com (email_verified is false, not true)", issuer: "sso"))
    // Only the JSON true (or no claim at all) is verified.
    for (value, text) in [(JSONValue.string("false"), #""false""#), (.integer(0), "0"), (.string("true"), #""true""#), (.integer(1), "1")] {
        #expect(try await outcome(claims(["email_verified": value]))
            == .noUser("sso has not verified the email Bob@Example.com (email_verified is \(text), not true)", issuer: "sso"))
    }
    #expect(try await outcome(claims(["email_verified": true])) == nil)
    // The resource with a trailing slash (as the MCP SDKs ask for it) is the resource.
    #expect(try await outcome(claims(["aud": .string(resource + "/")])) == nil)
    #expect(try await outcome(claims(["aud": .string(resource + "/x")])) != nil)
    #expect(try await outcome(claims(["aud": "https://other.example.com"]))
        == .invalid("audience https://other.example.com is not \(resource)", issuer: "sso"))
    // An issuer not in auth.oidc is named by no issuer of the file.
    #expect(try await outcome(claims(iss: "https://evil.example.com")) == .invalid("issuer https://evil.example.com is not in auth.oidc"))
    #expect(try await outcome(claims(["exp": .integer(Int64(now.timeIntervalSince1970) - 120)])) == .invalid("expired at 2027-01-15T07:58:00Z", issuer: "sso"))
    // Within the leeway an expiry or a start still passes.
    #expect(try await outcome(claims(["exp": .integer(Int64(now.timeIntervalSince1970) - 30)])) == nil)
    #expect(try await outcome(claims(["nbf": .integer(Int64(now.timeIntervalSince1970) + 300)])) == .invalid("not valid before 2027-01-15T08:05:00Z", issuer: "sso"))
    let scope = try await outcome(claims(["scope": "openid"]))
    #expect(scope == .insufficientScope("mcp", issuer: "sso") && scope?.reason == "the token lacks the scope mcp")
}

@Test func noneAndSymmetricAlgorithmsAreRefusedWhateverTheKey() async throws {
    let policy = try compiledPolicy()
    let fetcher = FakeKeys(), key = TestKey(kid: "a")
    fetcher.set("sso", TestKey.jwks([key]))
    let v = verifier(fetcher)
    let body = base64URL(claims().compact)
    let none = base64URL(#"{"alg":"none","typ":"JWT","kid":"a"}"#) + "." + body + "."
    #expect(await v.verify(none, policy: policy, resource: resource, folder: "/") == .failure(.invalid("algorithm none is not accepted (asymmetric signatures only)")))
    // HS256 keyed with the public key, the classic confusion: refused before any key is used.
    let hmac = await JWTKeyCollection().add(hmac: HMACKey(from: TestKey.jwks([key])), digestAlgorithm: .sha256, kid: "a")
    let forged = try await hmac.sign(Claims(json: claims()), kid: "a")
    #expect(await v.verify(forged, policy: policy, resource: resource, folder: "/") == .failure(.invalid("algorithm HS256 is not accepted (asymmetric signatures only)")))
    // A token signed by another key under the known kid.
    let impostor = TestKey(kid: "a")
    #expect(await v.verify(try await impostor.sign(claims()), policy: policy, resource: resource, folder: "/")
        == .failure(.invalid("the signature does not verify with sso's keys", issuer: "sso")))
    #expect(await v.verify("not.a.jwt", policy: policy, resource: resource, folder: "/") == .failure(.invalid("not a JWT")))
}

@Test func anUnknownKidFetchesTheKeysOnceAndNotAgainWithinTheInterval() async throws {
    let policy = try compiledPolicy()
    let fetcher = FakeKeys(), first = TestKey(kid: "k1"), rotated = TestKey(kid: "k2"), unknown = TestKey(kid: "k3")
    fetcher.set("sso", TestKey.jwks([first]))
    let v = verifier(fetcher)
    #expect((try? await v.verify(try await first.sign(claims()), policy: policy, resource: resource, folder: "/").get()) != nil)
    #expect(fetcher.fetches == 1)
    // The provider rotates in k2: a token signed with it makes the gateway fetch once more.
    fetcher.set("sso", TestKey.jwks([first, rotated]))
    #expect((try? await v.verify(try await rotated.sign(claims()), policy: policy, resource: resource, folder: "/").get()) != nil)
    #expect(fetcher.fetches == 2)
    // Another unknown kid within the interval is refused without fetching again.
    let refused = await v.verify(try await unknown.sign(claims()), policy: policy, resource: resource, folder: "/")
    guard case .failure(let refusal) = refused, refusal.kind == .invalid else {
        Issue.record("an unknown kid was accepted: \(refused)")
        return
    }
    #expect(refusal.reason.hasPrefix("sso has no key k3"))
    #expect(fetcher.fetches == 2 && v.refreshes == 2)
    // Known keys keep working without a fetch.
    #expect((try? await v.verify(try await first.sign(claims()), policy: policy, resource: resource, folder: "/").get()) != nil)
    #expect(fetcher.fetches == 2)
}

@Test func onlyJWTShapedTokensAreWorthVerifying() {
    #expect(OIDCVerifier.isJWT("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"))
    #expect(OIDCVerifier.isJWT("a.b."))
    #expect(!OIDCVerifier.isJWT("orch_AbCdEf-_0123456789"))
    #expect(!OIDCVerifier.isJWT("a.b.c.d"))
    #expect(!OIDCVerifier.isJWT("a.b c.d"))
    #expect(!OIDCVerifier.isJWT("a+b.c/d.e="))
}

@Test func anIssuerMayAssertOnlyTheEmailDomainsItNames() async throws {
    let text = """
        {"version": 1,
         "auth": {"resource": "\(resource)", "oidc": {
            "acme": {"issuer": "https://id.acme.example", "jwks": "https://id.acme.example/keys", "emailDomains": ["Acme.example"]},
            "partner": {"issuer": "https://id.partner.example", "jwks": "https://id.partner.example/keys", "emailDomains": ["partner.example"]}}},
         "roles": {"all": {"allow": ["*"]}},
         "orgs": {"acme": {"members": {"bob": "all", "pat": "all"}, "servers": {"notes": {"command": "x"}}}},
         "users": {"bob": {"email": "bob@acme.example"}, "pat": {"email": "pat@partner.example"}}}
        """
    let result = PolicyCompiler.compile(Array(text.utf8), options: CompileOptions(environment: [:]))
    let policy = try #require(result.policy, "\(result.diagnostics)")
    #expect(!result.diagnostics.contains { $0.message.contains("emailDomains") })
    let fetcher = FakeKeys(), key = TestKey(kid: "a")
    fetcher.set("acme", TestKey.jwks([key]))
    fetcher.set("partner", TestKey.jwks([key]))
    let v = verifier(fetcher)
    func user(_ email: String, at issuer: String) async throws -> Result<String, TokenRefusal> {
        let token = try await key.sign(claims(["email": .string(email), "scope": "openid"], iss: "https://id.\(issuer).example"))
        return await v.verify(token, policy: policy, resource: resource, folder: "/").map { policy.user($0.user).name }
    }
    #expect(try await user("bob@ACME.example", at: "acme") == .success("bob"))
    #expect(try await user("pat@partner.example", at: "partner") == .success("pat"))
    // The partner's provider claims an acme address, and acme's a partner one: neither maps.
    #expect(try await user("bob@acme.example", at: "partner")
        == .failure(.noUser("partner may not assert the email bob@acme.example (its emailDomains are partner.example)", issuer: "partner")))
    #expect(try await user("pat@partner.example", at: "acme")
        == .failure(.noUser("acme may not assert the email pat@partner.example (its emailDomains are acme.example)", issuer: "acme")))
    // A subdomain is another domain.
    #expect(try await user("bob@x.acme.example", at: "acme") != .success("bob"))
}

@Test func severalIssuersMappingByEmailWithoutDomainsAreWarnedAbout() throws {
    func diagnostics(_ acme: String, _ partner: String) -> [String] {
        let text = """
            {"version": 1, "auth": {"oidc": {
                "acme": {"issuer": "https://id.acme.example"\(acme)},
                "partner": {"issuer": "https://id.partner.example"\(partner)},
                "gh": {"issuer": "https://gh.example.com", "userClaim": "sub", "emailDomains": ["x.example"]}}},
             "roles": {}, "orgs": {}, "users": {}}
            """
        return PolicyCompiler.compile(Array(text.utf8), options: CompileOptions(environment: [:])).diagnostics
            .filter { $0.path.contains("emailDomains") || $0.message.contains("domain") }.map { "\($0.severity) \($0.path): \($0.message)" }
    }
    func warning(_ open: String) -> String {
        "warning auth.oidc.\(open): the issuers acme, partner map users by email, and \(open) may assert any domain: it can sign in as any user by their email; give each issuer \"emailDomains\""
    }
    let ignored = "warning auth.oidc.gh.emailDomains: applies only when userClaim is email (it is sub)"
    #expect(Set(diagnostics("", "")) == [warning("acme"), ignored])
    #expect(Set(diagnostics(#", "emailDomains": ["acme.example"]"#, "")) == [warning("partner"), ignored])
    #expect(Set(diagnostics(#", "emailDomains": ["acme.example"]"#, #", "emailDomains": ["partner.example", "bad domain"]"#))
        == [ignored, "error auth.oidc.partner.emailDomains[1]: \"bad domain\" is not a domain name (as in user@DOMAIN, e.g. acme.example)"])
}
