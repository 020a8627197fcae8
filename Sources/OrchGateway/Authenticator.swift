import Foundation
import OrchAuth
import OrchPolicy

/// What a request's `Authorization: Bearer TOKEN` proves, on the running policy and the clock: the
/// gateway's one authenticator, asked by the router's middleware, the NIO fast path and the
/// dashboard alike. An orch key costs one SHA-256 and one probe of the key index, with its expiry
/// on the clock; with `auth.oidc` issuers, any other token shaped like a JWT is verified as one
/// (`OIDCVerifier`, keys fetched and kept per issuer), names its user by a claim, and is kept in
/// `signIns` so that it is verified once. Tokens in query strings are never looked at.
final class Authenticator: Sendable {
    let store: PolicyStore
    /// Sign-in tokens verified under the running policy.
    let signIns: SignIns
    let clock: WallClock
    private let verifier: OIDCVerifier
    private let metrics: GatewayMetrics
    /// The resource a sign-in token must be issued for under a policy (`auth.resource`, else the
    /// public URL, which is known once the server is bound).
    private let resource: @Sendable (Policy) -> String

    init(store: PolicyStore, signIns: SignIns, clock: WallClock, verifier: OIDCVerifier, metrics: GatewayMetrics,
         resource: @escaping @Sendable (Policy) -> String) {
        self.store = store
        self.signIns = signIns
        self.clock = clock
        self.verifier = verifier
        self.metrics = metrics
        self.resource = resource
    }

    /// Why a token was refused: the audit's reason, the metric's kind, and whose key it was.
    struct Refusal: Error {
        let reason: String
        let kind: String
        var user: String? = nil
        var key: String? = nil
        /// The `auth.oidc` issuer of a refused token, when it names one of them.
        var issuer: String? = nil
        /// The scope a valid token lacks: 403, not 401.
        var scope: String? = nil
    }

    /// The caller `authorization` proves without verifying anything new (no I/O): a key, or a
    /// sign-in token verified before; any other token is "unknown". Nil while no policy runs.
    func known(_ authorization: String?) -> Result<Caller, Refusal>? {
        store.policy.map { Self.known(authorization, policy: $0, signIns: signIns, at: clock.now()) }
    }

    /// The caller `authorization` proves under `policy`, verifying (and keeping) a sign-in token
    /// not seen before.
    func authenticate(_ authorization: String?, policy: Policy) async -> Result<Caller, Refusal> {
        let result = Self.known(authorization, policy: policy, signIns: signIns, at: clock.now())
        guard case .failure(let refusal) = result, refusal.kind == "unknown", let token = Self.bearerToken(authorization),
            !policy.auth.issuers.isEmpty, OIDCVerifier.isJWT(token)
        else { return result }
        let verified = await verify(token, policy: policy)
        if case .success(let caller) = verified { signIns.insert(KeyHash(token: token), caller) }
        return verified
    }

    /// A bearer token that is no orch key, verified as a JWT of an `auth.oidc` issuer: the caller
    /// it names, or why not. Counted by issuer and outcome.
    func verify(_ token: String, policy: Policy) async -> Result<Caller, Refusal> {
        let folder = URL(fileURLWithPath: store.source).deletingLastPathComponent().path
        let outcome = await verifier.verify(token, policy: policy, resource: resource(policy), folder: folder)
        switch outcome {
        case .success(let token):
            metrics.tokenVerified(issuer: token.issuer, result: "ok")
            return .success(Caller(policy: policy, user: token.user, issuer: token.issuer, subject: token.subject, claim: token.claim,
                                   expires: token.expires))
        case .failure(let refusal):
            let (kind, scope): (String, String?) = switch refusal.kind {
            case .invalid: ("invalid_token", nil)
            case .insufficientScope(let scope): ("insufficient_scope", scope)
            case .noUser: ("no_user", nil)
            }
            metrics.tokenVerified(issuer: refusal.issuer, result: kind)
            return .failure(Refusal(reason: refusal.reason, kind: kind, user: refusal.user, issuer: refusal.issuer, scope: scope))
        }
    }

    /// The caller an `Authorization` header proves, on `policy` and the clock: a key, or a sign-in
    /// token verified before (`signIns`); no side effects. Any other token is "unknown" here.
    static func known(_ authorization: String?, policy: Policy, signIns: SignIns, at now: Date) -> Result<Caller, Refusal> {
        guard let token = bearerToken(authorization) else { return .failure(Refusal(reason: "missing bearer token", kind: "missing")) }
        let hash = KeyHash(token: token)
        guard let keyID = policy.key(hash: hash) else {
            if let caller = signIns.caller(hash, policy: policy, at: now) { return .success(caller) }
            return .failure(Refusal(reason: "unknown token", kind: "unknown"))
        }
        let key = policy.key(keyID)
        let user = policy.user(key.user)
        if key.isExpired(at: now) {
            return .failure(Refusal(reason: "key \(key.spec.id) expired at \(key.spec.expires.map(Timestamp.format) ?? "")", kind: "expired",
                                    user: user.name, key: key.spec.id))
        }
        if user.spec.disabled {
            return .failure(Refusal(reason: "user \(user.name) is disabled", kind: "disabled", user: user.name, key: key.spec.id))
        }
        return .success(Caller(policy: policy, user: key.user, key: keyID))
    }

    /// The token of an `Authorization: Bearer …` header (scheme case-insensitive), or nil.
    static func bearerToken(_ header: String?) -> String? {
        // Byte comparisons: this runs on every request, and Foundation's case folding and
        // character sets cost more than the SHA-256 that follows.
        guard let header else { return nil }
        let bytes = header.utf8
        let scheme = "bearer ".utf8
        guard bytes.count > scheme.count,
            zip(bytes, scheme).allSatisfy({ (byte, expected) in ((0x41...0x5A).contains(byte) ? byte | 0x20 : byte) == expected })
        else { return nil }
        let rest = bytes.dropFirst(scheme.count)
        guard let start = rest.firstIndex(where: { $0 != 0x20 && $0 != 0x09 }),
            let end = rest.lastIndex(where: { $0 != 0x20 && $0 != 0x09 })
        else { return nil }
        return String(Substring(header.utf8[start...end]))
    }
}
