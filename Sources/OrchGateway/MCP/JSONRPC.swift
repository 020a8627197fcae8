import OrchJSON

/// What a JSON-RPC message is, read once so routing needs no second parse.
enum JSONRPCMessage {
    case request(id: JSONValue, method: String, params: JSONObject)
    case notification(method: String, params: JSONObject)
    case response(id: JSONValue)

    /// nil when the value is not a JSON-RPC 2.0 object of any of the three kinds.
    init?(_ value: JSONValue) {
        guard case .object(let object) = value, object["jsonrpc"] == "2.0" else { return nil }
        if let method = object["method"]?.stringValue {
            if let id = object["id"] {
                guard Self.isValidID(id) else { return nil }
                self = .request(id: id, method: method, params: object["params"]?.objectValue ?? [:])
            } else {
                self = .notification(method: method, params: object["params"]?.objectValue ?? [:])
            }
        } else if let id = object["id"], object["result"] != nil || object["error"] != nil {
            self = .response(id: id)
        } else {
            return nil
        }
    }

    static func isValidID(_ id: JSONValue) -> Bool {
        switch id {
        case .string, .integer, .real, .number: true
        default: false
        }
    }
}

enum JSONRPC {
    /// How deep an MCP message may nest, either way. A message is relayed as it came (or re-encoded
    /// when the gateway filters it), so this bounds only the gateway's own reading of it: well past
    /// any tool schema or argument seen in use, far from the stack of any thread that reads one.
    static let maxDepth = 128

    /// What the gateway reads an MCP message with: numbers of any size kept exactly as written,
    /// nesting up to `maxDepth`, repeated keys refused (a key read one way here and another way by
    /// the client or server would let a call be decided on one name and run under another).
    static let messageLimits = JSONParseLimits(maxDepth: maxDepth, exactNumbers: true)

    static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try JSONValue.parse(bytes, limits: messageLimits)
    }

    static let parseError: Int64 = -32700
    static let invalidRequest: Int64 = -32600
    static let methodNotFound: Int64 = -32601
    static let invalidParams: Int64 = -32602
    static let internalError: Int64 = -32603
    static let requestTimeout: Int64 = -32001
    /// Over a limit of `gateway.limits` or a server's `limits` (`CallGuard.limitReply`).
    static let limited: Int64 = -32000
    /// The request was cancelled (the code the SDKs use for it).
    static let requestCancelled: Int64 = -32800
    /// A 2026-07-28 request's HTTP headers disagree with its body, or one is missing or repeated.
    static let headerMismatch: Int64 = -32020
    /// A 2026-07-28 request lacks a client capability the server needs for it.
    static let missingRequiredClientCapability: Int64 = -32021
    /// A 2026-07-28 request names a protocol version the gateway does not serve.
    static let unsupportedProtocolVersion: Int64 = -32022

    static func error(id: JSONValue?, code: Int64, _ message: String) -> JSONValue {
        ["jsonrpc": "2.0", "id": id ?? .null, "error": ["code": .integer(code), "message": .string(message)]]
    }

    static func error(id: JSONValue?, code: Int64, _ message: String, data: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id ?? .null, "error": ["code": .integer(code), "message": .string(message), "data": data]]
    }

    /// A request as the gateway forwards it with params of its own (a name or URI rewritten).
    static func request(id: JSONValue, method: String, params: JSONObject) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "method": .string(method), "params": .object(params)]
    }

    /// The key under which a request id is remembered: its compact JSON (`1` and `"1"` differ).
    static func key(_ id: JSONValue) -> String {
        switch id {
        case .integer(let number): String(number)
        case .string(let text): "\"" + text + "\""  // never equal to a number's key
        default: id.compact
        }
    }

    static func discoverRefusal(_ id: JSONValue) -> JSONValue {
        error(id: id, code: methodNotFound, "Method not found: server/discover (use initialize)")
    }

    /// Protocol versions the gateway speaks downstream (MCP-Protocol-Version header), newest first:
    /// a list, since a few short strings are compared faster than one is hashed (each request asks).
    static let supportedVersions = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"]
    /// The newest of them (the versions are dates).
    static let latestVersion = supportedVersions.max()!
}

extension JSONRPCMessage {
    var method: String? {
        switch self {
        case .request(_, let method, _), .notification(let method, _): method
        case .response: nil
        }
    }
}
