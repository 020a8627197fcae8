import Foundation
import Hummingbird
import OrchPolicy

/// The router's authentication: every request that reaches a protected route carries a caller
/// proved by the gateway's `Authenticator`; a refusal is counted and audited (without the token)
/// and answered 401 (403 for a missing scope) with the challenge that says where to sign in.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    let gateway: Gateway

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let caller = try await authenticate(request, context: context)
        var context = context
        context.caller = caller
        if let refusal = gateway.limiter.admitRequest(user: caller.userName, caller.policy.settings.limits.perUser) {
            gateway.metrics.limited(refusal.limit)
            // A Streamable HTTP POST gets its answer in JSON-RPC, which needs the message's id.
            guard request.method == .post, request.uri.path.hasSuffix("/mcp") else {
                gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: refusal.message, status: 429, started: .now)
                throw GatewayError.limited(refusal)
            }
            context.limited = refusal
        }
        return try await next(request, context)
    }

    func authenticate(_ request: Request, context: Context) async throws -> Caller {
        let start = ContinuousClock.now
        guard let policy = gateway.store.policy else { throw GatewayError.notReady() }
        switch await gateway.authenticator.authenticate(request.headers[.authorization], policy: policy) {
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
}
