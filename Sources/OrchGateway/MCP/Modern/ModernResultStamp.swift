import OrchJSON

/// What a result forwarded from an upstream gets before it goes to a 2026-07-28 caller: the fields
/// that era requires of every result, whatever era the upstream spoke.
struct ModernResultStamp: Sendable, Equatable {
    /// The longest a client may keep a cacheable result (the gateway's catalog bound).
    let ttlBound: CacheTTL
    /// The gateway's identity, stamped in `_meta` where the result has none; nil leaves `_meta` alone.
    let serverInfo: JSONObject?

    static let complete = "complete"
    static let inputRequired = "input_required"

    /// `result` for a modern caller of `method`:
    /// - `resultType: "complete"` when it has none (a legacy upstream never sends one);
    /// - for the methods whose result has cache fields, unless it asks for input: `cacheScope:
    ///   "private"` (the gateway decides per caller, whatever the upstream said) and `ttlMs` no longer
    ///   than the upstream's own or the bound; an upstream `ttlMs` that is not a non-negative integer
    ///   counts as 0, a missing one as the bound;
    /// - `serverInfo` in `_meta` when the result's `_meta` has none (an upstream's own is kept; a
    ///   `_meta` that is not an object is left as it is).
    func apply(to result: JSONObject, method: String) -> JSONObject {
        var result = result
        if result["resultType"] == nil || result["resultType"] == .null { result["resultType"] = .string(Self.complete) }
        if MCPMethod(rawValue: method)?.hasCacheFields == true, result["resultType"] != .string(Self.inputRequired) {
            result["cacheScope"] = .string(CacheTTL.scope)
            result["ttlMs"] = .integer(min(upstreamTTL(result["ttlMs"]), ttlBound).milliseconds)
        }
        if let serverInfo {
            switch result["_meta"] {
            case nil, .null?:
                result["_meta"] = [ModernProtocol.MetaKey.serverInfo: .object(serverInfo)]
            case .object(var meta)? where meta[ModernProtocol.MetaKey.serverInfo] == nil || meta[ModernProtocol.MetaKey.serverInfo] == .null:
                meta[ModernProtocol.MetaKey.serverInfo] = .object(serverInfo)
                result["_meta"] = .object(meta)
            default: break
            }
        }
        return result
    }

    private func upstreamTTL(_ value: JSONValue?) -> CacheTTL {
        guard let value else { return ttlBound }
        switch value {
        case .integer(let number) where number >= 0: return CacheTTL(milliseconds: number)
        case .real(let number) where number >= 0 && number.rounded() == number:
            return number >= 9.0e18 ? ttlBound : CacheTTL(milliseconds: Int64(number))
        case .number(let text) where !text.hasPrefix("-") && !text.contains(where: { ".eE".contains($0) }):
            return ttlBound  // an integer past Int64: longer than any bound
        default: return CacheTTL(milliseconds: 0)
        }
    }
}
