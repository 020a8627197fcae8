public import Foundation
import JWTKit
import OrchJSON
public import OrchPolicy
import Synchronization

/// A token of an `auth.oidc` issuer, verified, and the user of orch.json it names.
public struct VerifiedToken: Sendable, Hashable {
    /// The issuer's name in `auth.oidc`.
    public let issuer: String
    /// `sub`: with the issuer, what a session is bound to.
    public let subject: String
    public let user: UserID
    /// The value of the issuer's `userClaim` that named the user.
    public let claim: String
    /// `exp`: past it, the token and the sessions it opened are done.
    public let expires: Date
    public let scopes: [String]
}

/// Why a token was not accepted. The reasons are for the audit log and name no token.
public struct TokenRefusal: Error, Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Not a token the gateway accepts: 401 with `error="invalid_token"`.
        case invalid
        /// A valid token without a scope the issuer requires: 403 with `error="insufficient_scope"`.
        case insufficientScope(String)
        /// A valid token that names no user of the file, or a disabled one: 401.
        case noUser
    }

    public let kind: Kind
    public let reason: String
    /// The issuer's name in `auth.oidc`, once the token's `iss` is one of them.
    public var issuer: String?
    /// The user's name, for a disabled user.
    public var user: String?

    public static func invalid(_ reason: String, issuer: String? = nil) -> Self { .init(kind: .invalid, reason: reason, issuer: issuer) }
    public static func noUser(_ reason: String, issuer: String, user: String? = nil) -> Self {
        .init(kind: .noUser, reason: reason, issuer: issuer, user: user)
    }
    public static func insufficientScope(_ scope: String, issuer: String) -> Self {
        .init(kind: .insufficientScope(scope), reason: "the token lacks the scope \(scope)", issuer: issuer)
    }
}

/// Verifies bearer tokens that are not orch keys as JWTs of the issuers in `auth.oidc`
/// (docs/guide/single-sign-on.md): an asymmetric signature only (`none` and HMAC are refused before
/// any key is looked at, so no algorithm confusion), by a key of the issuer's JWKS found by `kid`;
/// the exact `iss`; an `aud` that names the gateway's resource (or the issuer's `audiences`);
/// `exp` and `nbf` with a small leeway; the issuer's required scopes; and exactly one user.
///
/// The JWKS of each issuer is fetched once and kept; a token signed by a `kid` it does not hold
/// makes it fetch again, at most once per `refreshInterval`.
public final class OIDCVerifier: Sendable {
    /// The signature algorithms accepted: RSA, RSA-PSS, ECDSA and EdDSA.
    public static let algorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

    private let fetcher: any KeyFetcher
    private let refreshInterval: Duration
    private let leeway: TimeInterval
    private let now: @Sendable () -> Date
    /// Told of every JWKS fetch: the issuer's name and whether it worked.
    private let onFetch: @Sendable (String, Bool) -> Void
    private let cache = Mutex<[String: CachedKeys]>([:])
    private let counters = Mutex<(verifications: Int, refreshes: Int)>((0, 0))

    private struct CachedKeys: Sendable {
        let source: OIDCIssuer.KeySource
        let issuer: String
        let keys: JWTKeyCollection
        let kids: Set<String>
        /// When an unknown `kid` last made the keys be fetched again; nil: only the first fetch.
        let refreshed: ContinuousClock.Instant?
    }

    public init(
        fetcher: any KeyFetcher, refreshInterval: Duration = .seconds(60), leeway: TimeInterval = 60,
        now: @escaping @Sendable () -> Date = { Date() }, onFetch: @escaping @Sendable (String, Bool) -> Void = { _, _ in }
    ) {
        self.fetcher = fetcher
        self.onFetch = onFetch
        self.refreshInterval = refreshInterval
        self.leeway = leeway
        self.now = now
    }

    /// Whether `token` is shaped like a JWS in compact form (three base64url parts): what is worth
    /// verifying once a token is no orch key.
    public static func isJWT(_ token: String) -> Bool {
        var dots = 0
        for byte in token.utf8 {
            if byte == UInt8(ascii: ".") {
                dots += 1
            } else if !(byte.isBase64URL) {
                return false
            }
        }
        return dots == 2
    }

    /// Tokens verified (with any outcome) and JWKS fetches, for metrics.
    public var verifications: Int { counters.withLock { $0.verifications } }
    public var refreshes: Int { counters.withLock { $0.refreshes } }

    /// Verifies `token` under `policy`; `resource` is the URL a token's `aud` must name when the
    /// issuer gives no `audiences` (`auth.resource`, else the gateway's public URL); `folder` is
    /// orch.json's, for JWKS files.
    public func verify(_ token: String, policy: Policy, resource: String, folder: String) async -> Result<VerifiedToken, TokenRefusal> {
        counters.withLock { $0.verifications += 1 }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Self.json(parts[0]), let claims = Self.json(parts[1]) else {
            return .failure(.invalid("not a JWT"))
        }
        guard let algorithm = header["alg"]?.stringValue, Self.algorithms.contains(algorithm) else {
            return .failure(.invalid("algorithm \(header["alg"]?.stringValue ?? "missing") is not accepted (asymmetric signatures only)"))
        }
        guard let iss = claims["iss"]?.stringValue, let issuer = policy.auth.issuers.first(where: { $0.issuer == iss }) else {
            return .failure(.invalid("issuer \(claims["iss"]?.stringValue ?? "missing") is not in auth.oidc"))
        }
        let kid = header["kid"]?.stringValue
        do {
            let keys = try await keys(for: issuer, kid: kid, folder: folder)
            _ = try await keys.verify(token, as: SignatureOnly.self)
        } catch let refusal as TokenRefusal {
            return .failure(refusal)
        } catch {
            return .failure(.invalid("the signature does not verify with \(issuer.name)'s keys", issuer: issuer.name))
        }
        return check(claims, issuer: issuer, policy: policy, resource: resource)
    }

    /// The claims of a token whose signature holds.
    private func check(_ claims: JSONValue, issuer: OIDCIssuer, policy: Policy, resource: String) -> Result<VerifiedToken, TokenRefusal> {
        let time = now()
        let name = issuer.name
        guard let exp = claims["exp"]?.doubleValue else { return .failure(.invalid("no exp", issuer: name)) }
        let expires = Date(timeIntervalSince1970: exp)
        if time.timeIntervalSince(expires) > leeway { return .failure(.invalid("expired at \(Timestamp.format(expires))", issuer: name)) }
        if let nbf = claims["nbf"]?.doubleValue, Date(timeIntervalSince1970: nbf).timeIntervalSince(time) > leeway {
            return .failure(.invalid("not valid before \(Timestamp.format(Date(timeIntervalSince1970: nbf)))", issuer: name))
        }
        let audiences = claims["aud"].map { $0.stringValue.map { [$0] } ?? $0.arrayValue?.compactMap(\.stringValue) ?? [] } ?? []
        let accepted = issuer.audiences ?? [resource]
        // `https://orch.example.com/` and `https://orch.example.com` name one resource: clients
        // (the MCP SDKs among them) normalize a URL with an empty path to `/` before asking for it.
        let names = Set(accepted.map(Self.withoutTrailingSlash))
        guard audiences.contains(where: { names.contains(Self.withoutTrailingSlash($0)) }) else {
            return .failure(.invalid("audience \(audiences.joined(separator: ", ")) is not \(accepted.joined(separator: " or "))", issuer: name))
        }
        guard let subject = claims["sub"]?.stringValue, !subject.isEmpty else { return .failure(.invalid("no sub", issuer: name)) }
        let scopes = Self.scopes(claims)
        if let missing = issuer.scopes.first(where: { !scopes.contains($0) }) { return .failure(.insufficientScope(missing, issuer: name)) }
        guard let value = claims[issuer.userClaim]?.stringValue, !value.isEmpty else {
            return .failure(.noUser("the token has no \(issuer.userClaim)", issuer: name))
        }
        if issuer.userClaim == "email" {
            // Verified is the JSON true, or no claim at all (issuers such as Entra ID send none);
            // "false", 0, "true" or null are not.
            if let verified = claims["email_verified"], verified != .bool(true) {
                return .failure(.noUser("\(name) has not verified the email \(value) (email_verified is \(verified.compact), not true)", issuer: name))
            }
            if !issuer.mayAssert(email: value) {
                return .failure(.noUser("\(name) may not assert the email \(value) (its emailDomains are \(issuer.emailDomains?.joined(separator: ", ") ?? ""))", issuer: name))
            }
        }
        guard let user = policy.user(issuer: name, claim: value) else {
            return .failure(.noUser("no user for \(name) \(issuer.userClaim) \(value)", issuer: name))
        }
        let userName = policy.user(user).name
        if policy.user(user).spec.disabled { return .failure(.noUser("user \(userName) is disabled", issuer: name, user: userName)) }
        return .success(VerifiedToken(issuer: name, subject: subject, user: user, claim: value, expires: expires, scopes: scopes))
    }

    static func withoutTrailingSlash(_ audience: String) -> String {
        audience.hasSuffix("/") ? String(audience.dropLast()) : audience
    }

    /// `scope` (space-separated) or `scp` (a list, or space-separated).
    static func scopes(_ claims: JSONValue) -> [String] {
        for name in ["scope", "scp"] {
            if let text = claims[name]?.stringValue { return text.split(separator: " ").map(String.init) }
            if let list = claims[name]?.arrayValue { return list.compactMap(\.stringValue) }
        }
        return []
    }

    /// The issuer's keys, holding `kid` when they can: fetched on first use, and again for an
    /// unknown `kid` once the last fetch is older than the refresh interval.
    private func keys(for issuer: OIDCIssuer, kid: String?, folder: String) async throws -> JWTKeyCollection {
        let cached = cache.withLock { $0[issuer.name] }.flatMap { $0.source == issuer.keys && $0.issuer == issuer.issuer ? $0 : nil }
        if let cached, kid.map(cached.kids.contains) ?? true { return cached.keys }
        if let cached, let refreshed = cached.refreshed, ContinuousClock.now - refreshed < refreshInterval {
            throw TokenRefusal.invalid(
                "\(issuer.name) has no key \(kid ?? "") (its keys were fetched again \(Int((ContinuousClock.now - refreshed).components.seconds)) s ago)",
                issuer: issuer.name)
        }
        counters.withLock { $0.refreshes += 1 }
        let text: String
        do {
            text = try await fetcher.jwks(for: issuer, folder: folder)
        } catch {
            onFetch(issuer.name, false)
            throw TokenRefusal.invalid("\(issuer.name)'s keys cannot be fetched: \(error)", issuer: issuer.name)
        }
        onFetch(issuer.name, true)
        let keys = JWTKeyCollection()
        var kids: Set<String> = []
        guard let entries = (try? JSONValue.parse(text))?["keys"]?.arrayValue else {
            throw TokenRefusal.invalid("\(issuer.name)'s keys are not a JWKS", issuer: issuer.name)
        }
        // Only keys that sign asymmetrically (RSA, EC, OKP) and have a kid; any other (a symmetric
        // "oct" key, a key jwt-kit cannot read) is skipped.
        for entry in entries where ["RSA", "EC", "OKP"].contains(entry["kty"]?.stringValue ?? "") {
            guard let kid = entry["kid"]?.stringValue, let jwk = try? JWK(json: entry.compact), (try? await keys.add(jwk: jwk)) != nil else { continue }
            kids.insert(kid)
        }
        let refreshed: ContinuousClock.Instant? = cached == nil ? nil : .now
        cache.withLock { $0[issuer.name] = CachedKeys(source: issuer.keys, issuer: issuer.issuer, keys: keys, kids: kids, refreshed: refreshed) }
        if let kid, !kids.contains(kid) { throw TokenRefusal.invalid("\(issuer.name) has no key \(kid)", issuer: issuer.name) }
        return keys
    }

    /// A JWT part decoded from base64url and parsed.
    static func json(_ part: Substring) -> JSONValue? {
        var base64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { return nil }
        return try? JSONValue.parse([UInt8](data))
    }
}

/// What jwt-kit decodes after checking the signature: nothing; the claims are checked above.
private struct SignatureOnly: JWTPayload {
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {}
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

extension UInt8 {
    /// A letter, digit, `-` or `_`.
    fileprivate var isBase64URL: Bool {
        (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) || (0x30...0x39).contains(self) || self == 0x2D || self == 0x5F
    }
}
