import Hummingbird
import NIOCore
import OrchJSON

/// One JSON-RPC message from a client's POST body, read once.
struct IncomingMessage {
    let bytes: [UInt8]
    let message: JSONRPCMessage

    /// The body, bounded by `limit` (413 past it), parsed; or the JSON-RPC error to answer with 400.
    static func read(_ request: Request, limit: Int) async throws -> Result<IncomingMessage, JSONRPCReply> {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch {
            throw GatewayError.payloadTooLarge(limit)
        }
        let bytes = Array(buffer: body)
        guard let value = try? JSONValue.parse(bytes) else {
            return .failure(JSONRPCReply(JSONRPC.error(id: nil, code: JSONRPC.parseError, "Parse error: the body is not JSON")))
        }
        guard let message = JSONRPCMessage(value) else {
            let reason = value.arrayValue != nil ? "batches are not supported" : "not a JSON-RPC 2.0 request, notification or response"
            return .failure(JSONRPCReply(JSONRPC.error(id: value["id"], code: JSONRPC.invalidRequest, "Invalid Request: \(reason)")))
        }
        return .success(IncomingMessage(bytes: bytes, message: message))
    }
}

/// A JSON-RPC error the gateway answers a malformed message with.
struct JSONRPCReply: Error {
    let value: JSONValue
    init(_ value: JSONValue) { self.value = value }
}

/// What a client's `Accept` header allows for a reply.
struct AcceptedReplies {
    let json: Bool
    let sse: Bool

    init(_ header: String?) {
        let header = header ?? ""
        sse = header.contains("text/event-stream")
        json = header.isEmpty || header.contains("application/json") || header.contains("*/*") || !sse
    }
}
