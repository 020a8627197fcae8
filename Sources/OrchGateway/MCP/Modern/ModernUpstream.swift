import OrchJSON

/// How the gateway speaks to a server of the 2026-07-28 era on a session of the handshake era's
/// client (or on a held leg): what it adds to requests, answers itself, and keeps from the client.
enum ModernUpstream {
    /// The envelope for requests of a session that speaks 2026-07-28 to its server: the version,
    /// and the client's capabilities and identity from its `initialize`.
    static func envelope(initialize params: JSONObject) -> JSONObject {
        var envelope: JSONObject = [
            ModernProtocol.MetaKey.protocolVersion: .string(ModernProtocol.version),
            ModernProtocol.MetaKey.clientCapabilities: params["capabilities"] ?? [:],
        ]
        if let info = params["clientInfo"], info.objectValue != nil { envelope[ModernProtocol.MetaKey.clientInfo] = info }
        return envelope
    }

    /// `params` with `envelope` in its `_meta`, unless it carries one already (a 2026-07-28
    /// client's own request).
    static func enveloped(_ params: JSONObject, _ envelope: JSONObject) -> JSONObject? {
        var meta = params["_meta"]?.objectValue ?? [:]
        guard meta[ModernProtocol.MetaKey.protocolVersion] == nil else { return nil }
        for (key, value) in envelope { meta[key] = value }
        var params = params
        params["_meta"] = .object(meta)
        return params
    }

    /// Methods the 2026-07-28 era removed that a handshake-era client still sends: the gateway
    /// answers them itself (an empty result) rather than the server refusing them.
    static func answersLocally(_ method: String) -> Bool {
        method == "ping" || method == "logging/setLevel"
    }

    /// Notifications of a handshake-era client that a 2026-07-28 server has no use for.
    static func dropsNotification(_ method: String?) -> Bool {
        method == "notifications/initialized"
    }

    /// The client's `initialize` answered from the server's `server/discover` result: the version
    /// the client asked for when the gateway speaks it, the server's capabilities (with
    /// `listChanged` on each list, as every session's initialize has it), instructions and identity.
    static func initializeResult(_ discover: JSONObject, requested: String?) -> JSONObject {
        let version = requested.flatMap { JSONRPC.supportedVersions.contains($0) ? $0 : nil } ?? JSONRPC.latestVersion
        var capabilities = discover["capabilities"]?.objectValue ?? [:]
        for field in ["tools", "prompts", "resources"] {
            guard case .object(var capability)? = capabilities[field] else { continue }
            capability["listChanged"] = true
            capabilities[field] = .object(capability)
        }
        var result: JSONObject = [
            "protocolVersion": .string(version),
            "capabilities": .object(capabilities),
            "serverInfo": discover["_meta"]?[ModernProtocol.MetaKey.serverInfo] ?? ["name": "unknown", "version": "unknown"],
        ]
        if let instructions = discover["instructions"]?.stringValue { result["instructions"] = .string(instructions) }
        return result
    }

    /// The `subscriptions/listen` the gateway sends a 2026-07-28 server when a session opens, so the
    /// server's list changes reach the session as a handshake-era server's would, and again each
    /// time the resources the session subscribed to change (`resources`, named when the server
    /// offers subscriptions).
    static func listen(id: JSONValue, capabilities: JSONObject, resources: [String] = [], envelope: JSONObject) -> JSONValue {
        var notifications: JSONObject = [:]
        if capabilities["tools"] != nil { notifications["toolsListChanged"] = true }
        if capabilities["prompts"] != nil { notifications["promptsListChanged"] = true }
        if capabilities["resources"] != nil { notifications["resourcesListChanged"] = true }
        if capabilities["resources"]?["subscribe"] == true, !resources.isEmpty { notifications["resourceSubscriptions"] = .strings(resources) }
        return JSONRPC.request(id: id, method: MCPMethod.subscriptionsListen.rawValue,
                               params: ["notifications": .object(notifications), "_meta": .object(envelope)])
    }
}
