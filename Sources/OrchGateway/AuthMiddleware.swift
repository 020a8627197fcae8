import Foundation
import Hummingbird
import OrchPolicy

/// Authenticates `Authorization: Bearer TOKEN`: one SHA-256 and one probe of the key index, expiry
/// on the clock. Tokens in query strings are never looked at. Failures are audited without the token.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    let gateway: Gateway

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let caller = try authenticate(request, context: context)
        var context = context
        context.caller = caller
        return try await next(request, context)
    }

    func authenticate(_ request: Request, context: Context) throws -> Caller {
        let start = ContinuousClock.now
        guard let policy = gateway.store.policy else { throw GatewayError.notReady() }
        switch Self.authenticate(request.headers[.authorization], policy: policy) {
        case .success(let caller):
            return caller
        case .failure(let refusal):
            gateway.metrics.authFailure(refusal.kind)
            gateway.audit(context, request: request, caller: nil, decision: "deny", reason: refusal.reason, status: 401, started: start,
                          user: refusal.user, key: refusal.key)
            throw GatewayError.unauthorized(
                refusal.reason, challenge: gateway.challenge(policy, path: request.uri.path, tokenSent: refusal.kind != "missing"))
        }
    }

    /// Why a token was refused: the audit's reason, the metric's kind, and whose key it was.
    struct Refusal: Error {
        let reason: String
        let kind: String
        var user: String? = nil
        var key: String? = nil
    }

    /// The caller an `Authorization` header proves, on `policy` and the clock; no side effects.
    static func authenticate(_ authorization: String?, policy: Policy) -> Result<Caller, Refusal> {
        guard let token = bearerToken(authorization) else { return .failure(Refusal(reason: "missing bearer token", kind: "missing")) }
        guard let keyID = policy.key(forToken: token) else { return .failure(Refusal(reason: "unknown token", kind: "unknown")) }
        let key = policy.key(keyID)
        let user = policy.user(key.user)
        if key.isExpired(at: Date()) {
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
