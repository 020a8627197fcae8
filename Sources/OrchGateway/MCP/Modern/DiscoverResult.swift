import OrchJSON

/// The gateway's own answer to a 2026-07-28 `server/discover`, in the reference server's shape:
/// `cacheScope`, `capabilities`, `instructions` (when there are any), `resultType`,
/// `supportedVersions`, `ttlMs`, and the server's identity in `_meta`.
struct DiscoverResult: Sendable, Equatable {
    /// The endpoint's capabilities (for the aggregated endpoint, the union of its servers').
    let capabilities: JSONObject
    var instructions: String?
    /// `name`, `version` and the optional fields of an MCP `Implementation`.
    let serverInfo: JSONObject
    /// How long a client may keep the answer: the catalog's bound.
    let ttl: CacheTTL

    var json: JSONObject {
        var result: JSONObject = [
            "cacheScope": .string(CacheTTL.scope),
            "capabilities": .object(capabilities),
        ]
        if let instructions { result["instructions"] = .string(instructions) }
        result["resultType"] = .string(ModernResultStamp.complete)
        result["supportedVersions"] = .strings(ModernProtocol.discoverableVersions)
        result["ttlMs"] = .integer(ttl.milliseconds)
        result["_meta"] = [ModernProtocol.MetaKey.serverInfo: .object(serverInfo)]
        return result
    }
}
