public import Foundation
public import OrchJSON

/// How a client config lists what a user reaches.
public enum ClientConfigMode: String, Sendable, CaseIterable {
    /// One entry per org, at the org's aggregated endpoint (`/orgs/ORG/mcp`): every server of the
    /// org the user reaches, behind one MCP server. The default.
    case perOrg = "per-org"
    /// One entry per server, at the server's own endpoint (`/orgs/ORG/servers/SERVER/mcp`).
    case perServer = "per-server"
}

/// A ready-to-paste MCP client configuration for one user (docs/guide/clients.md, "Client configs"): one entry per
/// org the user belongs to (or, per server, one per server the user may reach), each pointing at
/// the gateway's endpoint with `Authorization: Bearer TOKEN`. It is built from names and the
/// public URL only, so no upstream command, argument, env value, header or URL can reach it.
public struct ClientConfig: Sendable {
    /// One endpoint in the document.
    public struct Entry: Sendable, Hashable {
        /// The key in the client's server map: the org; per server `SERVER`, or `ORG-SERVER` when
        /// the user reaches servers of that name in more than one org.
        public let name: String
        public let org: String
        /// nil for the org's aggregated endpoint.
        public let server: String?
        /// `publicURL` + `/orgs/ORG/mcp` or `/orgs/ORG/servers/SERVER/mcp` (or `/sse`), or a
        /// toolset's `/orgs/ORG/toolsets/NAME/mcp`.
        public let url: String
        /// The toolset the entry is for.
        public var toolset: String? = nil
    }

    public let mode: ClientConfigMode
    public let client: MCPClient
    public let transport: ClientTransport
    public let token: ClientToken
    /// The user the document is for (VS Code's token prompt names them).
    public let user: String
    public let entries: [Entry]

    /// The document in the client's own format; `document.pretty` is what the CLI prints.
    public var document: JSONValue { ClientConfigFormat.document(self) }

    /// Whether the document holds the token. VS Code's never does: VS Code asks for it.
    public var holdsToken: Bool { client != .vscode }
}

/// Why a `--server` / `server=` selection cannot be used.
public enum ServerSelectionError: Error, Sendable, Hashable {
    /// The text is not `ORG/SERVER`.
    case notAServer(String)
    /// No such server in the file.
    case unknown(String)
    /// The server exists but the user (or key) may not connect to it; `reason` says why, as
    /// `Policy.describe` words it.
    case unreachable(String, reason: String)
}

extension Policy {
    /// The servers `user` may connect to at `time`, in file order: the server-level decision of
    /// docs/reference/orch-json.md "Decisions", with `key` (its scope and expiry) when one is given, narrowed further
    /// by `scope` when given (the scope of a key being minted, not yet in the file).
    public func reachableServers(user: UserID, key: KeyID? = nil, scope: [ScopeGlob]? = nil, at time: Date) -> [ServerID] {
        servers.map(\.id).filter { id in
            guard decide(user: user, server: id, tool: nil, key: key, at: time).allowed else { return false }
            guard let scope else { return true }
            let org = orgs[servers[id.index].org.index].name
            return scope.contains { $0.matches(org: org, server: servers[id.index].name) }
        }
    }

    /// The servers named by `selection` (`ORG/SERVER` each), in file order without repeats; each
    /// must be in `reachable`. Decisions for the error are taken with `key` at `time`.
    public func selectServers(
        _ selection: [String], reachable: [ServerID], user: UserID, key: KeyID? = nil, at time: Date
    ) -> Result<[ServerID], ServerSelectionError> {
        var chosen = Set<ServerID>()
        for text in selection {
            guard case .success(let target) = Target.parse(text), target.item == nil else { return .failure(.notAServer(text)) }
            guard let id = server(org: target.org, name: target.server) else { return .failure(.unknown(text)) }
            guard reachable.contains(id) else {
                let decision = decide(user: user, server: id, tool: nil, key: key, at: time)
                // Allowed by roles and key, so it is the extra scope that leaves it out.
                let reason = decision.allowed ? "outside the key's scope" : describe(decision.reason)
                return .failure(.unreachable(text, reason: reason))
            }
            chosen.insert(id)
        }
        return .success(reachable.filter(chosen.contains))
    }

    /// The client config for `user`: one entry per org of `reachable` (`.perOrg`), or one per
    /// server of `servers` (default: all of `reachable`). A selection of servers is always per
    /// server. Entry names are chosen among all of `reachable`, so a server keeps its name
    /// whichever subset is asked for.
    /// `toolset`: one entry per org of `reachable` that has a toolset of that name, at its endpoint
    /// (named NAME, or ORG-NAME when several orgs have it). `search`: the aggregated and toolset
    /// endpoints in search mode (`?tools=search`); per server there is none.
    public func clientConfig(
        user: UserID, client: MCPClient, transport: ClientTransport = .streamableHTTP, token: ClientToken,
        reachable: [ServerID], servers selected: [ServerID]? = nil, publicURL: String? = nil, mode: ClientConfigMode = .perOrg,
        toolset: String? = nil, search: Bool = false
    ) -> ClientConfig {
        let base = publicURL ?? settings.publicURL
        let query = search ? "?tools=search" : ""  // not on a server's own endpoint
        if let toolset {
            let withIt = toolsetOrgs(toolset, reachable: reachable)
            let entries = withIt.map { org in
                ClientConfig.Entry(name: withIt.count == 1 ? toolset : "\(org)-\(toolset)", org: org, server: nil,
                                   url: Endpoints.toolsetURL(publicURL: base, org: org, toolset: toolset) + query, toolset: toolset)
            }
            return ClientConfig(mode: .perOrg, client: client, transport: .streamableHTTP, token: token, user: users[user.index].name, entries: entries)
        }
        if mode == .perOrg && selected == nil {
            var entries: [ClientConfig.Entry] = []
            for id in reachable {
                let org = orgs[servers[id.index].org.index].name
                guard !entries.contains(where: { $0.org == org }) else { continue }
                let urls = Endpoints.orgURLs(publicURL: base, org: org)
                entries.append(ClientConfig.Entry(name: org, org: org, server: nil, url: (transport == .sse ? urls.sse : urls.streamableHTTP) + query))
            }
            return ClientConfig(mode: .perOrg, client: client, transport: transport, token: token, user: users[user.index].name, entries: entries)
        }
        let names = ClientConfig.entryNames(reachable.map { (org: orgs[servers[$0.index].org.index].name, server: servers[$0.index].name) })
        let wanted = Set(selected ?? reachable)
        var entries: [ClientConfig.Entry] = []
        for (id, name) in zip(reachable, names) where wanted.contains(id) {
            let org = orgs[servers[id.index].org.index].name
            let server = servers[id.index].name
            let urls = Endpoints.urls(publicURL: base, org: org, server: server)
            let url = transport == .sse ? urls.sse : urls.streamableHTTP
            entries.append(ClientConfig.Entry(name: name, org: org, server: server, url: url))
        }
        return ClientConfig(mode: .perServer, client: client, transport: transport, token: token, user: users[user.index].name, entries: entries)
    }
}

extension Policy {
    /// The orgs of `reachable`, in file order, that have a toolset named `name`.
    public func toolsetOrgs(_ name: String, reachable: [ServerID]) -> [String] {
        var found: [String] = []
        for id in reachable {
            let org = orgs[servers[id.index].org.index]
            if org.spec.toolset(named: name) != nil, !found.contains(org.name) { found.append(org.name) }
        }
        return found
    }

    /// Cursor takes an MCP server's name and each of its tool names together within
    /// `cursorNameLimit` characters. For each entry of `config`, the tools past it: their names
    /// from `lock` (what each server listed when pinned, shown as its overrides say and kept to a
    /// toolset's), and without pins the servers whose names alone leave fewer than 16 characters.
    public func cursorNameWarnings(_ config: ClientConfig, lock: PinLock?) -> [String] {
        var warnings: [String] = []
        for entry in config.entries {
            let org = orgs.first { $0.name == entry.org }
            let toolset = entry.toolset.flatMap { org?.spec.toolset(named: $0) }
            for id in org?.servers ?? [] {
                let server = servers[id.index]
                if let only = entry.server, only != server.name { continue }
                if let toolset, !toolset.servers.contains(server.name) { continue }
                let head = entry.server == nil ? server.spec.exposedPrefix + ExposedName.separator : ""
                guard let pinned = lock?.servers[serverPath(id)] else {
                    let room = ClientConfig.cursorNameLimit - entry.name.count - head.count
                    if room < 16 {
                        warnings.append("cursor: \(entry.name) and \(head.isEmpty ? server.name : head)… leave \(max(room, 0)) characters for tool names within Cursor's \(ClientConfig.cursorNameLimit): shorten the server's prefix (or override long tool names)")
                    }
                    continue
                }
                for name in pinned.tools.keys.sorted() {
                    guard toolset?.includes(server: server.name, tool: name) ?? true,
                        let shown = server.spec.overrides.apply(["name": .string(name)])?["name"]?.stringValue,
                        let exposed = head.isEmpty ? shown : ExposedName.make(prefix: server.spec.exposedPrefix, name: shown)
                    else { continue }
                    let length = entry.name.count + exposed.count
                    if length > ClientConfig.cursorNameLimit {
                        warnings.append("cursor: \(entry.name) + \(exposed) is \(length) characters, past Cursor's \(ClientConfig.cursorNameLimit): set a shorter prefix for \(serverPath(id)) or override the name of \(name)")
                    }
                }
            }
        }
        return warnings
    }
}

extension ClientConfig {
    /// What Cursor holds an MCP server's name and a tool's name to, together.
    public static let cursorNameLimit = 60

    /// Entry names for servers in order: `SERVER` when no other server in the list has that name,
    /// else `ORG-SERVER`. Should two names still collide (org `a` server `b-c` beside org `a-b`
    /// server `c`, or a server literally named like another's `ORG-SERVER`), later ones get `-2`,
    /// `-3`…, so every entry keeps a distinct, stable name.
    static func entryNames(_ servers: [(org: String, server: String)]) -> [String] {
        var count: [String: Int] = [:]
        for s in servers { count[s.server, default: 0] += 1 }
        var names = servers.map { count[$0.server] == 1 ? $0.server : "\($0.org)-\($0.server)" }
        // A short name that equals another server's full name yields to the full form too.
        var uses: [String: Int] = [:]
        for name in names { uses[name, default: 0] += 1 }
        for i in names.indices where uses[names[i]]! > 1 && names[i] == servers[i].server {
            names[i] = "\(servers[i].org)-\(servers[i].server)"
        }
        var taken = Set<String>()
        for i in names.indices {
            var candidate = names[i]
            var n = 2
            while taken.contains(candidate) {
                candidate = "\(names[i])-\(n)"
                n += 1
            }
            names[i] = candidate
            taken.insert(candidate)
        }
        return names
    }
}
