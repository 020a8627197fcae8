import OrchJSON

/// The six clients' document shapes, exactly as the "Client configs" of docs/guide/clients.md gives them. Each entry is built
/// from the entry's name and gateway URL and the token text: nothing else goes in.
enum ClientConfigFormat {
    static func document(_ config: ClientConfig) -> JSONValue {
        switch config.client {
        case .vscode: return vscode(config)
        case .cline, .claudeCode, .cursor, .windsurf, .claudeDesktop:
            var servers = JSONObject()
            for entry in config.entries { servers[entry.name] = self.entry(entry, config) }
            return ["mcpServers": .object(servers)]
        }
    }

    /// `Bearer TOKEN`, `Bearer ${env:VAR}` / `Bearer ${VAR}`, or `Bearer <ORCH_TOKEN>`.
    static func authorization(_ config: ClientConfig) -> String {
        switch config.token {
        case .value(let token): "Bearer \(token)"
        case .environment(let variable): "Bearer \(config.client.environmentReference(variable) ?? ClientToken.placeholderText)"
        case .placeholder: "Bearer \(ClientToken.placeholderText)"
        case .oauth: ""
        }
    }

    private static func entry(_ entry: ClientConfig.Entry, _ config: ClientConfig) -> JSONValue {
        // With OAuth the client signs in itself: no header at all.
        let oauth = config.token == .oauth
        let headers: JSONValue = ["Authorization": .string(authorization(config))]
        let sse = config.transport == .sse
        /// The fields in order, `headers` left out with OAuth.
        func fields(_ pairs: [(String, JSONValue)]) -> JSONValue {
            .object(JSONObject(pairs.filter { !(oauth && $0.0 == "headers") }))
        }
        switch config.client {
        case .cline:
            return fields([
                ("type", sse ? "sse" : "streamableHttp"), ("url", .string(entry.url)), ("headers", headers),
                ("disabled", false), ("timeout", 60), ("autoApprove", []),
            ])
        case .claudeCode:
            return fields([("type", sse ? "sse" : "http"), ("url", .string(entry.url)), ("headers", headers)])
        case .cursor:
            // Cursor has no type field: it tells Streamable HTTP from SSE by talking to the URL.
            return fields([("url", .string(entry.url)), ("headers", headers)])
        case .windsurf:
            return fields([("serverUrl", .string(entry.url)), ("headers", headers)])
        case .claudeDesktop:
            // Claude Desktop starts only stdio servers, so the mcp-remote bridge carries the header.
            // The header text sits in env (mcp-remote expands ${AUTH_HEADER} in its arguments)
            // because some launchers split arguments at the space in "Bearer TOKEN". With OAuth,
            // mcp-remote runs the sign-in itself.
            var args: [JSONValue] = ["-y", "mcp-remote", .string(entry.url)]
            if !oauth { args += ["--header", "Authorization:${AUTH_HEADER}"] }
            // mcp-remote tries Streamable HTTP first by default; the legacy endpoint only speaks SSE.
            if sse { args += ["--transport", "sse-only"] }
            if oauth { return ["command": "npx", "args": .array(args)] }
            return ["command": "npx", "args": .array(args), "env": ["AUTH_HEADER": .string(authorization(config))]]
        case .vscode:
            return nil  // built by `vscode(_:)`
        }
    }

    static let vscodeInput = "orch-token"

    /// VS Code asks for the token once (the `orch-token` input) and keeps it in its secret store,
    /// so `.vscode/mcp.json` can be committed: the document never holds the token, not even as the
    /// prompt's `default`. An environment variable is named in the prompt's description.
    private static func vscode(_ config: ClientConfig) -> JSONValue {
        var description = "orch token for \(config.user)"
        if case .environment(let variable) = config.token { description += " (the value of $\(variable))" }
        let input: JSONObject = [
            "type": "promptString", "id": .string(vscodeInput), "description": .string(description), "password": true,
        ]
        var servers = JSONObject()
        for entry in config.entries {
            if config.token == .oauth {
                // VS Code signs in through the gateway's OAuth metadata itself.
                servers[entry.name] = ["type": config.transport == .sse ? "sse" : "http", "url": .string(entry.url)]
                continue
            }
            servers[entry.name] = [
                "type": config.transport == .sse ? "sse" : "http", "url": .string(entry.url),
                "headers": ["Authorization": .string("Bearer ${input:\(vscodeInput)}")],
            ]
        }
        if config.token == .oauth { return ["servers": .object(servers)] }
        return ["inputs": [.object(input)], "servers": .object(servers)]
    }
}
