import HTTPTypes

/// What the gateway knows of MCP 2026-07-28, the era in which every request carries its own
/// protocol version and client capabilities (no `initialize`, no `Mcp-Session-Id`).
enum ModernProtocol {
    /// Versions served with the per-request envelope, newest first.
    static let versions = ["2026-07-28"]
    /// The version the gateway speaks to servers of this era.
    static let version = "2026-07-28"

    /// Every version the gateway speaks, as `server/discover` lists them: the modern ones first, then
    /// those reached through `initialize`, newest first.
    static let discoverableVersions = versions + JSONRPC.supportedVersions.sorted(by: >)

    /// Whether `version` is reached through `initialize` (any other value, known or not, is read the
    /// modern way, so that a version the gateway does not serve is told so with the list it does).
    static func isLegacy(_ version: String) -> Bool {
        JSONRPC.supportedVersions.contains(version)
    }

    /// Keys of the request envelope in `params._meta` and of the result's `_meta`.
    enum MetaKey {
        static let protocolVersion = "io.modelcontextprotocol/protocolVersion"
        static let clientCapabilities = "io.modelcontextprotocol/clientCapabilities"
        static let clientInfo = "io.modelcontextprotocol/clientInfo"
        static let serverInfo = "io.modelcontextprotocol/serverInfo"
        /// The listen request's id, on every frame of its stream.
        static let subscriptionID = "io.modelcontextprotocol/subscriptionId"
    }

    /// The prefix of the headers that mirror a tool's arguments (`Mcp-Param-Region`).
    static let paramHeaderPrefix = "Mcp-Param-"
}

extension HTTPField.Name {
    static let mcpMethod = HTTPField.Name("Mcp-Method")!
    static let mcpName = HTTPField.Name("Mcp-Name")!
}

/// The MCP methods whose handling differs by era. Methods not named here (tasks, extensions, a
/// server's own) are read like any other and decided as usual.
enum MCPMethod: String, Sendable, CaseIterable {
    // `init(rawValue:)` compares the cases in this order: the most common comes first.
    case toolsCall = "tools/call"
    case discover = "server/discover"
    case subscriptionsListen = "subscriptions/listen"
    case toolsList = "tools/list"
    case promptsList = "prompts/list"
    case promptsGet = "prompts/get"
    case resourcesList = "resources/list"
    case resourceTemplatesList = "resources/templates/list"
    case resourcesRead = "resources/read"
    case complete = "completion/complete"
    // Removed in 2026-07-28.
    case initialize
    case ping
    case setLoggingLevel = "logging/setLevel"
    case resourcesSubscribe = "resources/subscribe"
    case resourcesUnsubscribe = "resources/unsubscribe"

    /// Methods of the handshake era that 2026-07-28 no longer has: a modern request for one is -32601.
    var isRemovedInModernEra: Bool {
        switch self {
        case .initialize, .ping, .setLoggingLevel, .resourcesSubscribe, .resourcesUnsubscribe: true
        default: false
        }
    }

    /// Whether the 2026-07-28 result of this method carries `cacheScope` and `ttlMs`.
    var hasCacheFields: Bool {
        switch self {
        case .discover, .toolsList, .promptsList, .resourcesList, .resourceTemplatesList, .resourcesRead: true
        default: false
        }
    }

    /// The parameter a modern request mirrors in its `Mcp-Name` header, for the methods that have one.
    var nameParameter: String? {
        switch self {
        case .toolsCall, .promptsGet: "name"
        case .resourcesRead: "uri"
        default: nil
        }
    }
}
