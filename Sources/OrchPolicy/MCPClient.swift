/// An MCP client whose configuration file orch can write (docs/guide/clients.md, "Client configs").
public enum MCPClient: String, CaseIterable, Sendable, Hashable {
    case cline
    case claudeCode = "claude-code"
    case cursor
    case vscode
    case windsurf
    case claudeDesktop = "claude-desktop"

    /// The valid names, comma-separated, in the order docs/guide/clients.md lists them.
    public static var validNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// The message for a client name orch does not know, shared by the CLI and the REST API.
    public static func unknownMessage(_ name: String) -> String {
        let hint = Name.didYouMean(name, among: allCases.map(\.rawValue))
        return "unknown client \"\(name)\"\(hint); valid clients: \(validNames)"
    }

    /// A person's name for the client, for guidance text.
    public var displayName: String {
        switch self {
        case .cline: "Cline"
        case .claudeCode: "Claude Code"
        case .cursor: "Cursor"
        case .vscode: "VS Code"
        case .windsurf: "Windsurf"
        case .claudeDesktop: "Claude Desktop"
        }
    }

    /// Where the client reads its servers from, for guidance text (docs/guide/clients.md, "Client configs").
    public var configLocation: String {
        switch self {
        case .cline: "cline_mcp_settings.json (MCP Servers → Configure in Cline)"
        case .claudeCode: ".mcp.json at the project's root, or `claude mcp add-json`"
        case .cursor: ".cursor/mcp.json in a project, or ~/.cursor/mcp.json"
        case .vscode: ".vscode/mcp.json in a workspace (VS Code asks for the token)"
        case .windsurf: "~/.codeium/windsurf/mcp_config.json"
        case .claudeDesktop: "claude_desktop_config.json (Settings → Developer → Edit Config)"
        }
    }

    /// How the client writes "the value of environment variable VAR" inside a header, or nil when
    /// the client's document never carries the token in a header (VS Code prompts for it).
    public func environmentReference(_ variable: String) -> String? {
        switch self {
        case .cline, .cursor, .windsurf: "${env:\(variable)}"
        case .claudeCode, .claudeDesktop: "${\(variable)}"
        case .vscode: nil
        }
    }
}

/// Which gateway endpoint a client config points at.
public enum ClientTransport: String, CaseIterable, Sendable, Hashable {
    /// `/orgs/ORG/servers/SERVER/mcp`.
    case streamableHTTP = "streamable-http"
    /// The legacy HTTP+SSE endpoint, `/orgs/ORG/servers/SERVER/sse`.
    case sse

    public static var validNames: String { allCases.map(\.rawValue).joined(separator: ", ") }

    public static func unknownMessage(_ name: String) -> String {
        "unknown transport \"\(name)\"; valid transports: \(validNames)"
    }
}

/// How the bearer token appears in a client config.
public enum ClientToken: Sendable, Hashable {
    /// The token itself (the caller of the API, `--token-stdin`, or a key just minted).
    case value(String)
    /// A reference to an environment variable the client expands when it starts (`--token-env`).
    case environment(String)
    /// `<ORCH_TOKEN>`, for the person to replace.
    case placeholder
    /// No token at all: the client signs in itself, through the gateway's OAuth metadata (the
    /// `auth.oidc` issuers), as MCP clients with MCP authorization do.
    case oauth

    public static let placeholderText = "<ORCH_TOKEN>"

    /// True for a usable environment variable name: a letter or `_`, then letters, digits and `_`.
    /// Anything else could not be expanded by the clients (and could break out of `${…}`).
    public static func isValidVariable(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII, first == "_" || first.properties.isAlphabetic else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }

    /// True for a token that can travel in an HTTP header: printable ASCII without spaces.
    public static func isValidToken(_ token: String) -> Bool {
        !token.isEmpty && token.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7f }
    }
}
