import OrchJSON

/// How a 2026-07-28 request crosses to a handshake-era upstream on a held leg, and how its reply
/// comes back: pure rewriting, no I/O.
enum ModernForwarding {
    /// The envelope keys of a modern request's `params._meta`: they describe the client to the
    /// gateway, which answers for it upstream (the leg was initialized with its own), so they are
    /// not forwarded. Other `_meta` keys (`progressToken`, a task's) go on as they are.
    static let envelopeKeys: Set<String> = [
        ModernProtocol.MetaKey.protocolVersion, ModernProtocol.MetaKey.clientCapabilities,
        ModernProtocol.MetaKey.clientInfo, ModernProtocol.MetaKey.logLevel,
    ]

    /// `params` without the envelope (and without `_meta` when nothing else was in it).
    static func upstreamParams(_ params: JSONObject) -> JSONObject {
        guard case .object(var meta) = params["_meta"] else { return params }
        var params = params
        for key in envelopeKeys { meta[key] = nil }
        params["_meta"] = meta.isEmpty ? nil : .object(meta)
        return params
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
