import OrchJSON

/// What an aggregated session keeps of the client's `initialize` params, to repeat to each server
/// behind it when that server starts: `protocolVersion`, `capabilities` and `clientInfo`, the
/// parts a server reads. The rest (`_meta`, fields of other protocol versions) concerns that one
/// request. Kept encoded, so a session holds exactly the bytes measured against the bound.
struct ClientInitialize: Sendable {
    /// The most the kept params may take, encoded: far above what a client sends (a few hundred
    /// bytes), small enough that a key's `maxSessionsPerKey` sessions stay small.
    static let maxBytes = 16 * 1024
    static let keptFields = ["protocolVersion", "capabilities", "clientInfo"]

    private let encoded: [UInt8]

    /// No params: what a session holds before its client's `initialize`.
    static let none = ClientInitialize(encoded: MCPSession.encode(.object([:])))

    private init(encoded: [UInt8]) { self.encoded = encoded }

    /// The kept part of `params`; the JSON-RPC error to answer with 400 when it is past `maxBytes`.
    static func keep(_ params: JSONObject, id: JSONValue) -> Result<ClientInitialize, JSONRPCReply> {
        var kept = JSONObject()
        for field in keptFields {
            if let value = params[field] { kept[field] = value }
        }
        let encoded = MCPSession.encode(.object(kept))
        guard encoded.count <= maxBytes else {
            return .failure(JSONRPCReply(JSONRPC.error(
                id: id, code: JSONRPC.invalidParams,
                "initialize params too large: protocolVersion, capabilities and clientInfo take \(encoded.count) bytes, more than the \(maxBytes) an aggregated session keeps")))
        }
        return .success(ClientInitialize(encoded: encoded))
    }

    /// The kept params, for a server's `initialize`.
    var params: JSONObject { (try? JSONValue.parse(encoded))?.objectValue ?? [:] }
}
