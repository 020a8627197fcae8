import HTTPTypes

/// The HTTP status of a JSON-RPC error answered to a 2026-07-28 request, whoever produced the error
/// (the gateway's checks, its decision, or an upstream): 400 for a request the client must change,
/// 404 for a method that is not there, 200 for the rest, which the body alone explains.
enum ModernErrorStatus {
    static func status(forCode code: Int64) -> HTTPResponse.Status {
        switch code {
        case JSONRPC.parseError, JSONRPC.invalidRequest, JSONRPC.invalidParams, JSONRPC.headerMismatch,
            JSONRPC.missingRequiredClientCapability, JSONRPC.unsupportedProtocolVersion:
            .badRequest
        case JSONRPC.methodNotFound: .notFound
        default: .ok
        }
    }
}
