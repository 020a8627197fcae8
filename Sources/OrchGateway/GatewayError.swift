public import Hummingbird
public import OrchJSON
import NIOHTTP1

/// An error the gateway answers with: a status, a stable code and a message, rendered in one place
/// as `{"error":{"code","message"}}`.
public struct GatewayError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    public static func badRequest(_ message: String) -> Self { .init(.badRequest, code: "bad_request", message) }
    public static func unauthorized(_ message: String, challenge: String = "Bearer realm=\"orch\"") -> Self {
        .init(.unauthorized, code: "unauthorized", message, headers: [.wwwAuthenticate: challenge])
    }
    public static func forbidden(_ message: String) -> Self { .init(.forbidden, code: "forbidden", message) }
    /// A valid single sign-on token without a scope its issuer requires (RFC 6750).
    public static func insufficientScope(_ message: String, challenge: String) -> Self {
        .init(.forbidden, code: "insufficient_scope", message, headers: [.wwwAuthenticate: challenge])
    }
    public static func notFound(_ message: String = "not found") -> Self { .init(.notFound, code: "not_found", message) }
    /// A session id the gateway does not hold (never issued, ended, or another key's): the client
    /// starts over, as the hint says.
    static func unknownSession(_ hint: String = "initialize again") -> Self { .notFound("unknown or ended session: \(hint)") }
    public static func payloadTooLarge(_ limit: Int) -> Self {
        .init(.contentTooLarge, code: "payload_too_large", "request body is larger than \(limit) bytes")
    }
    public static func tooManySessions(_ message: String) -> Self { .init(.tooManyRequests, code: "too_many_sessions", message) }
    public static func upstreamUnavailable(_ message: String) -> Self { .init(.badGateway, code: "upstream_unavailable", message) }
    public static func timeout(_ message: String) -> Self { .init(.gatewayTimeout, code: "timeout", message) }
    public static func internalError(_ message: String = "internal error") -> Self { .init(.internalServerError, code: "internal", message) }
    /// The gateway-wide cap on upstream processes is reached: try again shortly.
    static func processLimit(_ limit: Int) -> Self {
        .init(.serviceUnavailable, code: "unavailable", "the gateway runs its maximum of \(limit) upstream processes; retry later",
              headers: [.retryAfter: "5"])
    }
    /// The gateway is stopping: no new session.
    /// Over a limit (`Limiter`): 429 with `Retry-After`.
    static func limited(_ refusal: Limiter.Refusal) -> Self {
        .init(.tooManyRequests, code: "rate_limited", refusal.message, headers: [.retryAfter: String(refusal.retryAfterSeconds)])
    }

    static func shuttingDown() -> Self { .init(.serviceUnavailable, code: "unavailable", "the gateway is shutting down") }
    public static func notReady() -> Self { .init(.serviceUnavailable, code: "unavailable", "no policy is loaded yet") }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = Response.json(["error": ["code": .string(code), "message": .string(message)]], status: status)
        response.headers.append(contentsOf: headers)
        return response
    }

    /// Any error as a gateway error: Hummingbird's own (unknown route, body too large, bad method)
    /// keep their status with our code; a request the HTTP parser could not read to its end (its
    /// connection closed mid-body: the client hung up, or sent its body too slowly and was cut off)
    /// is the client's 400; anything else is a 500 that reveals nothing.
    static func from(_ error: any Error, maxBodyBytes: Int) -> GatewayError {
        if let error = error as? GatewayError { return error }
        if error is HTTPParserError { return .badRequest("the request could not be read to its end") }
        if let error = error as? HTTPError {
            switch error.status {
            case .notFound: return .notFound()
            case .contentTooLarge: return .payloadTooLarge(maxBodyBytes)
            case .unauthorized: return .unauthorized(error.body ?? "unauthorized")
            case .forbidden: return .forbidden(error.body ?? "forbidden")
            case .methodNotAllowed: return .init(.methodNotAllowed, code: "bad_request", "method not allowed")
            case let status where status.code < 500: return .init(status, code: "bad_request", error.body ?? status.reasonPhrase)
            default: return .internalError()
            }
        }
        return .internalError()
    }
}

extension Response {
    /// A JSON response (compact, `application/json`).
    public static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.compact)))
    }

    /// A JSON response whose body is already encoded.
    static func json(encoded body: ByteBuffer, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: body))
    }
}
