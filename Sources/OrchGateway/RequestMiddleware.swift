import Hummingbird
import Logging
import OrchPolicy

/// Outermost: turns every error into the JSON error shape and records the request's metrics.
struct RequestMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    let gateway: Gateway

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            // Bodies are bounded before anything reads them; handlers that read a body without a
            // length collect it with the same bound.
            if let length = request.headers[.contentLength].flatMap(Int.init), length > gateway.maxBodyBytes {
                throw GatewayError.payloadTooLarge(gateway.maxBodyBytes)
            }
            response = try await next(request, context)
        } catch {
            let gatewayError = GatewayError.from(error, maxBodyBytes: gateway.maxBodyBytes)
            if gatewayError.status == .internalServerError {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            }
            response = try gatewayError.response(from: request, context: context)
        }
        gateway.metrics.request(
            route: context.endpointPath ?? "unmatched", method: request.method.rawValue, status: response.status.code,
            duration: ContinuousClock.now - start)
        return response
    }
}

/// A request carrying an `Origin` not in `gateway.allowedOrigins` gets 403; requests without one
/// (every non-browser client) pass.
struct OriginMiddleware: RouterMiddleware {
    typealias Context = GatewayContext
    let gateway: Gateway

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let origin = request.headers[.origin] {
            let allowed = gateway.store.policy?.settings.allowedOrigins ?? []
            if !allowed.contains("*") && !allowed.contains(origin) && !Self.isSameOrigin(origin, request) {
                gateway.auditor.record(context, request: request, caller: nil, decision: .deny, reason: "origin \(origin) is not allowed", status: 403, started: .now)
                throw GatewayError.forbidden("origin \(origin) is not allowed")
            }
        }
        return try await next(request, context)
    }

    /// A request from a page of the gateway itself (the dashboard's forms and scripts): its origin
    /// names the host the request was sent to.
    static func isSameOrigin(_ origin: String, _ request: Request) -> Bool {
        guard let host = request.head.authority else { return false }
        return origin == "http://" + host || origin == "https://" + host
    }
}
