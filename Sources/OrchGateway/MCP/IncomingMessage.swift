import Glibc
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
        let value: JSONValue
        do {
            value = try JSONRPC.parse(bytes)
        } catch {
            // The id, when one can be found, lets the client match the refusal to its request.
            let id = JSONMemberScanner.topLevelValues(of: "id", in: bytes).first.flatMap { JSONRPCMessage.isValidID($0) ? $0 : nil }
            let why = "Parse error: the body is not JSON the gateway can forward: \(error.message) (line \(error.line), column \(error.column))"
            return .failure(JSONRPCReply(JSONRPC.error(id: id, code: JSONRPC.parseError, why)))
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
        // Byte searches: this runs on every request, and String.contains works on characters.
        var header = header ?? ""
        let (sse, json, any) = header.withUTF8 { bytes in
            (bytes.contains("text/event-stream"), bytes.contains("application/json"), bytes.contains("*/*"))
        }
        self.sse = sse
        self.json = header.isEmpty || json || any || !sse
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// Whether the ASCII `needle` occurs in these bytes.
    func contains(_ needle: StaticString) -> Bool {
        let length = needle.utf8CodeUnitCount
        guard length > 0, count >= length else { return length == 0 }
        let pattern = needle.utf8Start
        let first = pattern[0]
        var index = 0
        while index <= count - length {
            if self[index] == first, memcmp(baseAddress! + index, pattern, length) == 0 { return true }
            index += 1
        }
        return false
    }
}
