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
        func refuse(_ reason: String, _ kind: String, user: String? = nil, key: String? = nil) -> GatewayError {
            gateway.metrics.authFailure(kind)
            gateway.audit(context, request: request, caller: nil, decision: "deny", reason: reason, status: 401, started: start, user: user, key: key)
            return .unauthorized(reason)
        }
        guard let token = Self.bearerToken(request.headers[.authorization]) else {
            throw refuse("missing bearer token", "missing")
        }
        guard let keyID = policy.key(forToken: token) else { throw refuse("unknown token", "unknown") }
        let key = policy.key(keyID)
        let user = policy.user(key.user)
        if key.isExpired(at: Date()) {
            throw refuse("key \(key.spec.id) expired at \(key.spec.expires.map(Timestamp.format) ?? "")", "expired", user: user.name, key: key.spec.id)
        }
        if user.spec.disabled {
            throw refuse("user \(user.name) is disabled", "disabled", user: user.name, key: key.spec.id)
        }
        return Caller(policy: policy, user: key.user, key: keyID)
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
