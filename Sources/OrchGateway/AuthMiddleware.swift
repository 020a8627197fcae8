import Foundation
import Hummingbird
import OrchAuth
import OrchPolicy

/// Authenticates `Authorization: Bearer TOKEN`. An orch key costs one SHA-256 and one probe of
/// the key index, expiry on the clock; with `auth.oidc` issuers, any other token shaped like a
/// JWT is verified as one (`OIDCVerifier`) and names its user by a claim. Tokens in query strings
/// are never looked at. Failures are audited without the token.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    let gateway: Gateway

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let caller = try await authenticate(request, context: context)
        var context = context
        context.caller = caller
        return try await next(request, context)
    }

    func authenticate(_ request: Request, context: Context) async throws -> Caller {
        let start = ContinuousClock.now
        guard let policy = gateway.store.policy else { throw GatewayError.notReady() }
        let authorization = request.headers[.authorization]
        var result = Self.authenticate(authorization, policy: policy, signIns: gateway.signIns, at: gateway.clock.now())
        if case .failure(let refusal) = result, refusal.kind == "unknown", let token = Self.bearerToken(authorization),
            !policy.auth.issuers.isEmpty, OIDCVerifier.isJWT(token)
        {
            result = await gateway.verify(token, policy: policy)
            if case .success(let caller) = result { gateway.signIns.insert(KeyHash(token: token), caller) }
        }
        switch result {
        case .success(let caller):
            return caller
        case .failure(let refusal):
            gateway.metrics.authFailure(refusal.kind)
            let status = refusal.scope == nil ? 401 : 403
            gateway.auditor.record(context, request: request, caller: nil, decision: .deny, reason: refusal.reason, status: status, started: start,
                          user: refusal.user, key: refusal.key, issuer: refusal.issuer)
            let challenge = gateway.challenge(policy, path: request.uri.path, tokenSent: refusal.kind != "missing", scope: refusal.scope)
            if refusal.scope != nil { throw GatewayError.insufficientScope(refusal.reason, challenge: challenge) }
            throw GatewayError.unauthorized(refusal.reason, challenge: challenge)
        }
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

    /// The caller an `Authorization` header proves, on `policy` and the clock: a key, or a sign-in
    /// token verified before (`signIns`); no side effects. Any other token is "unknown" here.
    static func authenticate(_ authorization: String?, policy: Policy, signIns: SignIns, at now: Date) -> Result<Caller, Refusal> {
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
