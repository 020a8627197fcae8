import HTTPTypes
import OrchJSON

/// Why a 2026-07-28 request is answered by the gateway without being decided or forwarded. Each kind
/// gives the JSON-RPC error and the HTTP status the reference server answers it with.
enum ModernRefusal: Error, Sendable, Equatable {
    /// A GET, DELETE or other non-POST: the modern era has one POST per request and no streams to open.
    case methodNotAllowed
    /// A batch, a posted response, or anything else that is not one request or notification.
    case invalidBody
    /// `params._meta` is missing or is not an object.
    case envelopeNotAnObject
    /// `params._meta` lacks one or both of the required envelope keys (in this order).
    case missingEnvelopeKeys([String])
    /// The headers disagree with the body, or a routing header is repeated.
    case headerMismatch(HeaderMismatch)
    /// The version named is not one the gateway serves with the envelope.
    case unsupportedVersion(requested: String, supported: [String])
    /// A handshake-era method (`ping`, `initialize`, …) sent as a modern request.
    case removedMethod(String)

    var code: Int64 {
        switch self {
        case .methodNotAllowed, .invalidBody: JSONRPC.invalidRequest
        case .envelopeNotAnObject, .missingEnvelopeKeys: JSONRPC.invalidParams
        case .headerMismatch: JSONRPC.headerMismatch
        case .unsupportedVersion: JSONRPC.unsupportedProtocolVersion
        case .removedMethod: JSONRPC.methodNotFound
        }
    }

    var message: String {
        switch self {
        case .methodNotAllowed: "Method not allowed: a 2026-07-28 request is a POST"
        case .invalidBody: "Body must be a single JSON-RPC request or notification object"
        case .envelopeNotAnObject:
            "params._meta must be an object carrying the required '\(ModernProtocol.MetaKey.protocolVersion)' and "
                + "'\(ModernProtocol.MetaKey.clientCapabilities)' envelope keys"
        case .missingEnvelopeKeys(let keys): "params._meta is missing the required envelope key(s): " + keys.joined(separator: ", ")
        case .headerMismatch(let mismatch): mismatch.message
        case .unsupportedVersion: "Unsupported protocol version"
        case .removedMethod: "Method not found"
        }
    }

    /// The error's `data`, for the kinds that carry one.
    var data: JSONValue? {
        switch self {
        case .unsupportedVersion(let requested, let supported): ["supported": .strings(supported), "requested": .string(requested)]
        case .removedMethod(let method): .string(method)
        default: nil
        }
    }

    var status: HTTPResponse.Status {
        self == .methodNotAllowed ? .methodNotAllowed : ModernErrorStatus.status(forCode: code)
    }

    /// The JSON-RPC error answering the request `id` (null when there is none, as for a notification);
    /// nil for `methodNotAllowed`, answered with its status and `Allow: POST` alone.
    func reply(id: JSONValue?) -> JSONValue? {
        if self == .methodNotAllowed { return nil }
        var error: JSONObject = ["code": .integer(code), "message": .string(message)]
        if let data { error["data"] = data }
        return ["jsonrpc": "2.0", "id": id ?? .null, "error": .object(error)]
    }
}
