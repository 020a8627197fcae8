import ArgumentParser
import Foundation
import OrchJSON
import OrchPolicy

struct ClientConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client-config",
        abstract: "Print a user's MCP client configuration for the servers they may reach.",
        discussion: """
            Clients: \(MCPClient.validNames). The document goes to stdout as pretty JSON, one \
            entry per org the user reaches servers in (named ORG, at the org's one endpoint \
            /orgs/ORG/mcp, which carries all of them); with --per-server (or --server), one entry \
            per server (named SERVER, or ORG-SERVER when the user reaches servers of that name in \
            several orgs) at the server's own endpoint. Each points at the gateway's publicURL with \
            `Authorization: Bearer TOKEN`. No upstream command, argument, env, header or URL is ever \
            written. Where each client keeps its file: docs/guide/clients.md, "Client configs".

            The token: --token-stdin reads it from standard input and writes it in; --token-env VAR \
            writes the client's reference to environment variable VAR instead (VS Code always asks \
            for the token in a prompt); with neither, the document carries the placeholder \
            \(ClientToken.placeholderText) and stderr says how to fill it. A token on stdin that is \
            one of the user's keys narrows the servers to that key's scope, as --key does.

            --merge-into FILE merges the entries into the client's own file instead of printing \
            the document: each is added to its servers map, or replaces the entry of the same name; \
            every other entry and key is kept, and a missing file and its folders are created.

            Examples:
              orch client-config --user bob --client cursor --token-env ORCH_TOKEN --merge-into ~/.cursor/mcp.json
              orch client-config --user bob --client claude-code --token-env ORCH_TOKEN > .mcp.json
              printf %s "$TOKEN" | orch client-config --user bob --client cline --token-stdin
              orch client-config --user bob --client cursor --server acme/notes --transport sse
              orch client-config --user bob --client cline --per-server
            """
    )

    @OptionGroup var options: ConfigOption
    @Argument(help: ArgumentHelp("The orch.json.", valueName: "FILE")) var file: String?
    @Option(help: "The user the config is for.") var user: String
    @Option(help: ArgumentHelp("The client: \(MCPClient.validNames).", valueName: "CLIENT")) var client: String
    @Option(name: .customLong("server"), help: ArgumentHelp("Only this server, ORG/SERVER (repeatable; entries per server).", valueName: "ORG/SERVER"))
    var servers: [String] = []
    @Flag(help: "One entry per server at its own endpoint, instead of one per org.") var perServer = false
    @Option(help: ArgumentHelp("One entry at this toolset's endpoint (/orgs/ORG/toolsets/NAME/mcp) of each org the user reaches that has it.", valueName: "NAME"))
    var toolset: String?
    @Flag(help: "Search mode: the endpoints list find_tools and call_tool instead of every tool (for clients that cap tool counts).") var search = false
    @Option(help: ArgumentHelp("The gateway endpoint: streamable-http (/mcp) or sse (/sse).", valueName: "TRANSPORT"))
    var transport: String = ClientTransport.streamableHTTP.rawValue
    @Option(help: ArgumentHelp("List only what this key of the user may reach (its scope and expiry apply).", valueName: "ID"))
    var key: String?
    @Option(help: ArgumentHelp("Write a reference to environment variable VAR instead of the token.", valueName: "VAR"))
    var tokenEnv: String?
    @Flag(help: "Read the token from standard input and write it into the config.") var tokenStdin = false
    @Option(help: ArgumentHelp("token (the default: a bearer token in the file) or oauth (no token: the client signs in through the gateway's auth.oidc issuers).", valueName: "AUTH"))
    var auth: String = "token"
    @Option(help: ArgumentHelp("Merge the entries into this client config file (created if missing) instead of printing the document.", valueName: "FILE"))
    var mergeInto: String?

    func validate() throws {
        if MCPClient(rawValue: client) == nil { throw ValidationError(MCPClient.unknownMessage(client)) }
        if ClientTransport(rawValue: transport) == nil { throw ValidationError(ClientTransport.unknownMessage(transport)) }
        if tokenEnv != nil && tokenStdin { throw ValidationError("give --token-env or --token-stdin, not both") }
        if auth != "token" && auth != "oauth" { throw ValidationError("unknown --auth \"\(auth)\"; use token or oauth") }
        if auth == "oauth" && (tokenEnv != nil || tokenStdin) { throw ValidationError("--auth oauth writes no token: leave out --token-env and --token-stdin") }
        if let tokenEnv, !ClientToken.isValidVariable(tokenEnv) {
            throw ValidationError("--token-env \(tokenEnv) is not an environment variable name (letters, digits and '_', not starting with a digit)")
        }
        if toolset != nil, perServer || !servers.isEmpty { throw ValidationError("--toolset is an endpoint of its own: leave out --per-server and --server") }
        if toolset != nil, transport != ClientTransport.streamableHTTP.rawValue { throw ValidationError("a toolset's endpoint speaks streamable-http only") }
        if search, perServer || !servers.isEmpty { throw ValidationError("--search applies to the aggregated and toolset endpoints: leave out --per-server and --server") }
        for s in servers {
            guard case .success(let target) = Target.parse(s), target.item == nil else {
                throw ValidationError("--server \(s) is not ORG/SERVER")
            }
        }
    }

    func run() throws {
        let loaded = try options.load(positional: file, toleratingUnsetVariables: true)
        let policy = loaded.policy
        guard let userID = policy.user(named: user) else { throw Self.fail("no user \(user) in \(loaded.path)" + policy.userSuggestion(for: user)) }
        var keyID: KeyID? = nil
        if let key {
            guard let id = policy.key(user: userID, id: key) else { throw Self.fail("user \(user) has no key \"\(key)\" in \(loaded.path)") }
            keyID = id
        }
        var token = ClientToken.placeholder
        if let tokenEnv { token = .environment(tokenEnv) }
        if auth == "oauth" {
            guard !policy.auth.issuers.isEmpty else {
                throw Self.fail("--auth oauth needs auth.oidc issuers in \(loaded.path): without them the client has nowhere to sign in")
            }
            token = .oauth
        }
        if tokenStdin {
            let (text, owned) = try readToken(policy: policy, user: userID, path: loaded.path)
            token = .value(text)
            if let owned {
                if let keyID, keyID != owned {
                    throw Self.fail("the token on stdin is key \"\(policy.key(owned).spec.id)\", not --key \(key ?? "")")
                }
                keyID = owned
            }
        }
        let now = Date()
        if policy.user(userID).spec.disabled { throw Self.fail("user \(user) is disabled: no client could use a config for them") }
        if let keyID, policy.key(keyID).isExpired(at: now) {
            let k = policy.key(keyID)
            throw Self.fail("key \(k.spec.id) of \(user) expired at \(k.spec.expires.map(Timestamp.format) ?? "?"): no client could use it")
        }

        let reachable = policy.reachableServers(user: userID, key: keyID, at: now)
        var selected: [ServerID]? = nil
        if !servers.isEmpty {
            switch policy.selectServers(servers, reachable: reachable, user: userID, key: keyID, at: now) {
            case .success(let ids): selected = ids
            case .failure(.notAServer(let text)): throw Self.fail("--server \(text) is not ORG/SERVER")
            case .failure(.unknown(let text)): throw Self.fail("no server \(text) in \(loaded.path)")
            case .failure(.unreachable(let text, let reason)): throw Self.fail("\(user) may not use \(text): \(reason)")
            }
        }
        if let toolset, policy.toolsetOrgs(toolset, reachable: reachable).isEmpty {
            throw Self.fail("no org \(user) reaches servers in has a toolset \(toolset) in \(loaded.path)")
        }
        let config = policy.clientConfig(
            user: userID, client: MCPClient(rawValue: client)!, transport: ClientTransport(rawValue: transport)!,
            token: token, reachable: reachable, servers: selected, mode: perServer ? .perServer : .perOrg, toolset: toolset, search: search)
        if config.client == .cursor, !search {
            let lockPath = URL(fileURLWithPath: loaded.path).deletingLastPathComponent().appendingPathComponent(PinLock.fileName).path
            let lock = FileManager.default.contents(atPath: lockPath).flatMap { try? PinLock.parse(String(decoding: $0, as: UTF8.self)) }
            for warning in policy.cursorNameWarnings(config, lock: lock) { Console.error("orch: warning: " + warning) }
        }
        if let mergeInto {
            try Self.merge(config, into: mergeInto)
        } else {
            Console.out(config.document.pretty)
        }
        let hint = ["keys", "new"] + [file ?? options.config].compactMap { $0 } + ["--user", user, "--client", client]
            + (transport == ClientTransport.sse.rawValue ? ["--transport", transport] : []) + (perServer ? ["--per-server"] : [])
            + (toolset.map { ["--toolset", $0] } ?? []) + (search ? ["--search"] : [])
            + ["--write"] + (mergeInto.map { ["--merge-into", $0] } ?? [])
        for line in Self.guidance(config, mint: hint, policyPath: loaded.path) { Console.error(line) }
    }

    /// Merges the config into a client's file (`--merge-into`) and says what changed.
    static func merge(_ config: ClientConfig, into path: String) throws {
        do {
            let merge = try ClientConfigMerge.prepare(config, into: path)
            try merge.write()
            for line in merge.report { Console.error(line) }
        } catch {
            throw fail(error.message)
        }
    }

    /// The token on stdin, and the key of `user` it is, if it is one. A key of another user is an
    /// error; a token the file does not know yet is only a warning, since it may be about to be added.
    private func readToken(policy: Policy, user: UserID, path: String) throws -> (String, KeyID?) {
        let input = FileHandle.standardInput.readDataToEndOfFile()
        let text = String(decoding: input, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw Self.fail("no token on stdin") }
        guard ClientToken.isValidToken(text) else { throw Self.fail("the token on stdin has spaces or control characters") }
        guard let key = policy.key(forToken: text) else {
            Console.error("orch: warning: the token on stdin is no key in \(path); the gateway refuses it until its hash (orch keys hash) is added to users.\(self.user).keys")
            return (text, nil)
        }
        guard policy.key(key).user == user else { throw Self.fail("the token on stdin is a key of another user, not \(self.user)") }
        return (text, key)
    }

    static func fail(_ message: String) -> ExitCode {
        Console.error("orch: \(message)")
        return ExitCode(2)
    }

    /// What the person still has to do with the document, for stderr. `mint`: the arguments of
    /// the `orch keys new` that would mint a key and write this config with it.
    static func guidance(_ config: ClientConfig, mint: [String] = [], policyPath: String = "orch.json") -> [String] {
        var lines: [String] = []
        if config.entries.isEmpty {
            lines.append("orch: \(config.user) may reach no server; the config lists none")
        }
        let client = config.client
        switch (config.token, client) {
        case (.placeholder, .vscode):
            lines.append("orch: VS Code asks for \(config.user)'s orch token (input \"orch-token\") the first time it starts one of these servers, and keeps it in its secret storage")
        case (.placeholder, _):
            lines.append("orch: replace \(ClientToken.placeholderText) with \(config.user)'s orch token, or run again with --token-stdin (the token on standard input) or --token-env VAR (\(client.displayName) reads it from $VAR)")
            let command = (["orch"] + mint).map(shellWord).joined(separator: " ")
            lines.append("orch: no token yet? `\(command)` mints a key, adds it to \(policyPath) and \(mint.contains("--merge-into") ? "merges" : "prints") this config with it")
        case (.environment(let variable), .vscode):
            lines.append("orch: VS Code does not take the token from $\(variable) here: it asks for it (input \"orch-token\") the first time it starts one of these servers, and keeps it in its secret storage")
        case (.environment(let variable), .claudeDesktop):
            lines.append("orch: set \(variable) in the environment Claude Desktop starts from; AUTH_HEADER reads \"Bearer ${\(variable)}\", and where Claude Desktop passes env values unexpanded, write the token there instead")
        case (.environment(let variable), _):
            lines.append("orch: \(client.displayName) reads the token from $\(variable) (\(client.environmentReference(variable) ?? "")): set \(variable) in the environment it starts from")
        case (.value, .vscode):
            lines.append("orch: VS Code asks for \(config.user)'s orch token (input \"orch-token\") the first time it starts one of these servers, and keeps it in its secret storage; the file never holds it")
        case (.value, _):
            break
        case (.oauth, _):
            lines.append("orch: no token in the file: \(client.displayName) signs in itself through the gateway's OAuth metadata (auth.oidc); a client without MCP authorization needs a token config instead")
        }
        return lines
    }
}

/// `word` as a shell reads it back: as it is when it has no special characters, else single-quoted.
func shellWord(_ word: String) -> String {
    let plain = !word.isEmpty && word.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_./=:@%+~".unicodeScalars.contains($0)) }
    return plain ? word : "'" + word.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
}
