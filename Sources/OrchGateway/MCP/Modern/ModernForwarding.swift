import OrchJSON

/// How a 2026-07-28 request crosses to a handshake-era upstream on a held leg, and how its reply
/// comes back: pure rewriting, no I/O.
enum ModernForwarding {
    /// The client's request as it goes upstream on a held leg: its bytes as they came, envelope
    /// included (a handshake-era server ignores `_meta` keys it does not know), with `upstreamID` in
    /// place of its id; nil when the id is not found once as written (then the message is encoded).
    static func splicedRequest(_ bytes: [UInt8], upstreamID: JSONValue) -> [UInt8]? {
        let ranges = JSONMemberScanner.topLevelValueRanges(of: "id", in: bytes)
        guard ranges.count == 1 else { return nil }
        return Array(bytes[..<ranges[0].lowerBound]) + MCPSession.encode(upstreamID) + Array(bytes[ranges[0].upperBound...])
    }

    /// The envelope's keys in a request's `params._meta`.
    static let envelopeKeys = [ModernProtocol.MetaKey.protocolVersion, ModernProtocol.MetaKey.clientCapabilities, ModernProtocol.MetaKey.clientInfo]

    /// A 2026-07-28 request for a server of the handshake era: the envelope taken out of
    /// `params._meta` (such a server's session has its version and capabilities from `initialize`,
    /// and Python SDK 2.x servers refuse the envelope on it), the rest of the bytes as they came.
    /// Nil when the bytes cannot be cut so (then the params are encoded again without it).
    static func withoutEnvelope(_ bytes: [UInt8]) -> [UInt8]? {
        JSONMemberScanner.removingMembers(envelopeKeys, at: ["params", "_meta"], in: bytes)
    }

    static func withoutEnvelope(_ params: JSONObject) -> JSONObject {
        guard case .object(var meta)? = params["_meta"] else { return params }
        for key in envelopeKeys { meta[key] = nil }
        var params = params
        params["_meta"] = .object(meta)
        return params
    }

    /// The upstream's reply (`value`, as `bytes`) for the modern client that sent its request with
    /// `id`, when its bytes can be kept: a result the era adds only `resultType` to (no cache fields
    /// to stamp, no `resultType` already), or an error whose code stays, with the client's id in
    /// place. Nil otherwise (then `reply` rewrites the value and it is encoded again).
    static func splicedReply(_ bytes: [UInt8], _ value: JSONValue, id: JSONValue, method: String) -> [UInt8]? {
        let ids = JSONMemberScanner.topLevelValueRanges(of: "id", in: bytes)
        guard ids.count == 1 else { return nil }
        var inserted: (at: Int, text: [UInt8])? = nil
        if case .object(let result)? = value["result"] {
            guard MCPMethod(rawValue: method)?.hasCacheFields != true, result["resultType"] == nil else { return nil }
            let results = JSONMemberScanner.topLevelValueRanges(of: "result", in: bytes)
            guard results.count == 1, bytes[results[0].lowerBound] == UInt8(ascii: "{") else { return nil }
            let member = #""resultType":"\#(ModernResultStamp.complete)""# + (result.isEmpty ? "" : ",")
            inserted = (results[0].lowerBound + 1, Array(member.utf8))
        } else if value["error"] == nil || (method == MCPMethod.resourcesRead.rawValue && value["error"]?["code"] == .integer(resourceNotFound)) {
            return nil
        }
        var edits: [(range: Range<Int>, text: [UInt8])] = [(ids[0], MCPSession.encode(id))]
        if let inserted { edits.append((inserted.at..<inserted.at, inserted.text)) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 32)
        var position = 0
        for edit in edits.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            out.append(contentsOf: bytes[position..<edit.range.lowerBound])
            out.append(contentsOf: edit.text)
            position = edit.range.upperBound
        }
        out.append(contentsOf: bytes[position...])
        return out
    }

    /// The `initialize` params a held leg opens with: the newest handshake version, no client
    /// capabilities (the server has no client to ask anything of), and the gateway as the client.
    static func initializeParams(clientVersion: String) -> JSONObject {
        [
            "protocolVersion": .string(JSONRPC.latestVersion),
            "capabilities": [:],
            "clientInfo": ["name": "mcp-orch", "version": .string(clientVersion)],
        ]
    }

    /// The upstream's reply to `method`, for the modern client that sent it with `id`: its own id
    /// back, a result stamped for the era, and the era's code for a resource that is not found
    /// (-32602 where handshake-era servers answer -32002).
    static func reply(_ reply: JSONValue, id: JSONValue, method: String, stamp: ModernResultStamp) -> JSONValue {
        guard case .object(var object) = reply else { return reply }
        object["id"] = id
        if case .object(let result) = object["result"] {
            object["result"] = .object(stamp.apply(to: result, method: method))
        } else if method == MCPMethod.resourcesRead.rawValue, case .object(var error) = object["error"],
            error["code"] == .integer(resourceNotFound)
        {
            error["code"] = .integer(JSONRPC.invalidParams)
            object["error"] = .object(error)
        }
        return .object(object)
    }

    /// The handshake era's "resource not found".
    static let resourceNotFound: Int64 = -32002

    /// The gateway's answer to `server/discover` from what the leg's server said at initialize (with
    /// `listChanged` on each of its lists, as every session's initialize result has it: the gateway
    /// itself announces a reload's changes, on a listen stream as on a session).
    static func discover(_ initialized: JSONObject, ttl: CacheTTL) -> DiscoverResult {
        DiscoverResult(
            capabilities: initialized["capabilities"]?.objectValue ?? [:],
            instructions: initialized["instructions"]?.stringValue,
            serverInfo: initialized["serverInfo"]?.objectValue ?? ["name": "mcp-orch", "version": "unknown"],
            ttl: ttl)
    }
}
