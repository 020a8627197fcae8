public import Foundation
import OrchJSON

/// A value together with the place in orch.json it came from, for diagnostics.
public struct Located<Value: Sendable & Hashable>: Sendable, Hashable {
    public var value: Value
    public var path: String
}

/// A name and a value, kept in file order (env variables, headers).
public struct NameValue: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// orch.json, decoded and typed. Produced by `DocumentDecoder`, consumed by `PolicyCompiler`.
public struct Document: Sendable {
    public var gateway = GatewaySettings()
    public var auth = AuthSettings()
    public var roles: [RoleSpec] = []
    public var orgs: [OrgSpec] = []
    public var users: [UserSpec] = []
    public var tests: [TestSpec] = []
    /// The values `${env:…}` references put in (never their names' defaults, which are in the file).
    public var secretValues: Set<String> = []
}

public struct GatewaySettings: Sendable, Hashable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Base URL for client configs and endpoint lists, without a trailing slash.
    public var publicURL = "http://127.0.0.1:8080"
    /// False when `publicURL` was derived from `listen`: the gateway then uses the address it
    /// actually listens on (`orch serve --listen` may differ from the file).
    public var publicURLIsExplicit = false
    public var allowedOrigins: [String] = []
    /// Host names the gateway answers to besides `publicURL`'s host, `localhost` and IP
    /// addresses (a request naming another host is refused: DNS rebinding needs a name).
    public var allowedHosts: [String] = []
    /// Who may read `/metrics`; nil: anyone when the gateway listens on loopback, else admins.
    public var metrics: MetricsAccess? = nil
    /// `-` for standard output, else a path relative to orch.json's folder.
    public var audit = "-"
    /// Whether the web dashboard under `/ui/` is served.
    public var dashboard = true
    /// What a tool or prompt that does not match `orch.lock.json` gets.
    public var pinning: PinningMode = .off
    /// The folder of the users' own secrets (`${user:NAME}`), relative to orch.json's folder.
    public var secrets = "secrets"
    /// The keys the gateway seals state it hands out with (the `requestState` of relayed
    /// questions), each 32 bytes written in base64 (`${env:…}` expanded; never printed): the first
    /// seals, every one opens (the rest are previous keys, kept while a rotation goes round the
    /// replicas). Empty: a random key per process.
    public var stateKeys: [String] = []
    public var limits = Limits()
    /// The folder of the users' connected accounts (their OAuth tokens for `oauth` servers,
    /// sealed), relative to orch.json's folder or absolute.
    public var connections = "state/connections"
    /// The folder of the calls waiting for a role's approval and the decisions on them (sealed),
    /// relative to orch.json's folder or absolute.
    public var approvals = "state/approvals"

    public init() {}

    public var listen: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether `text` is an https:// URL, or an http:// one on loopback, without query, fragment or
    /// user info: where the gateway may send a token or a user's browser.
    public static func isSecureURL(_ text: String) -> Bool {
        guard DocumentDecoder.isHTTPURL(text, allowPath: true), let components = URLComponents(string: text) else { return false }
        if components.scheme?.lowercased() == "https" { return true }
        return isLoopback(components.host ?? "")
    }

    /// Whether `host` (a listen address) is a loopback one: only this machine can connect.
    public static func isLoopback(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return bare == "localhost" || bare == "::1" || bare.hasPrefix("127.")
    }

    /// Where a file that does not compile says to listen, read from its JSON alone: the gateway
    /// serves (not ready) at the address the file names while it waits for a valid one.
    public enum ListenAddress: Sendable, Equatable {
        /// `gateway.listen`, or the default when the file names none.
        case address(host: String, port: Int)
        /// `gateway.listen` is there but not `HOST:PORT`.
        case invalid(String)
        /// The file is not JSON (or not an object): where it would listen cannot be told.
        case unknown
    }

    public static func listenAddress(in bytes: [UInt8]) -> ListenAddress {
        guard let json = try? JSONValue.parse(bytes), json.objectValue != nil else { return .unknown }
        guard let listen = json["gateway"]?["listen"] else { return .address(host: GatewaySettings().host, port: GatewaySettings().port) }
        guard let text = listen.stringValue, let (host, port) = hostPort(text) else { return .invalid(listen.stringValue ?? listen.compact) }
        return .address(host: host, port: port)
    }

    /// Splits `HOST:PORT` or `[IPv6]:PORT`; nil when it is neither.
    public static func hostPort(_ text: String) -> (String, Int)? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return nil }
        }
        guard !host.isEmpty, !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber),
            let port = Int(portText), (0...65535).contains(port)
        else { return nil }
        return (String(host), port)
    }
}

/// Who may read `/metrics`.
public enum MetricsAccess: String, Sendable, Hashable {
    /// No token.
    case open
    /// A valid key of a user with `admin: true`.
    case admin
}

/// `gateway.limits.perUser`: what one user may do per minute and at once, on each replica.
public struct PerUserLimits: Sendable, Hashable {
    /// Authenticated HTTP requests of any kind.
    public var requestsPerMinute: Int?
    /// `tools/call`s, on every endpoint and in both eras.
    public var toolCallsPerMinute: Int?
    /// `tools/call`s in flight at once.
    public var concurrentCalls: Int?

    public init(requestsPerMinute: Int? = nil, toolCallsPerMinute: Int? = nil, concurrentCalls: Int? = nil) {
        self.requestsPerMinute = requestsPerMinute
        self.toolCallsPerMinute = toolCallsPerMinute
        self.concurrentCalls = concurrentCalls
    }

    public var isEmpty: Bool { requestsPerMinute == nil && toolCallsPerMinute == nil && concurrentCalls == nil }
}

/// A server's `limits`: its calls in flight for all users together, and per-user rates of the
/// tools its globs match.
public struct ServerLimits: Sendable, Hashable {
    public struct ToolRate: Sendable, Hashable {
        public let glob: Glob
        public let callsPerMinute: Int

        public init(glob: Glob, callsPerMinute: Int) {
            self.glob = glob
            self.callsPerMinute = callsPerMinute
        }
    }

    public var concurrentCalls: Int?
    /// In orch.json's order; every glob that matches a tool applies.
    public var tools: [ToolRate] = []

    public init(concurrentCalls: Int? = nil, tools: [ToolRate] = []) {
        self.concurrentCalls = concurrentCalls
        self.tools = tools
    }

    public var isEmpty: Bool { concurrentCalls == nil && tools.isEmpty }
}

public struct Limits: Sendable, Hashable {
    public var perUser = PerUserLimits()
    public var maxBodyBytes = 4 << 20
    public var sessionIdleSeconds = 600
    /// How long a legacy session's id is good for, from its `initialize`.
    public var maxSessionSeconds = 86400
    /// Sessions one key may hold open on one server.
    public var maxSessionsPerKey = 32
    public var callTimeoutSeconds = 120
    /// Upstream processes the gateway runs at once (sessions and tool-catalog fetches).
    public var maxUpstreamProcesses = 256
    /// Connections one client address may hold at once (of the gateway's 1,024): a sixteenth, so
    /// that a few busy or hostile addresses leave most of them to everyone else.
    public var maxConnectionsPerClient = 64
    /// How long a connection with no request in progress (a new one, or one whose last response
    /// has ended) may take to deliver a complete request head.
    public var requestHeadSeconds = 10
    /// How long the gateway waits for a client's answers when a server asks for input during its
    /// call (a bridged elicitation, sampling or roots request).
    public var inputTimeoutSeconds = 300

    public init() {}
}

public struct RoleSpec: Sendable, Hashable {
    public var name: String
    public var path: String
    public var description: String?
    public var allow: [Rule] = []
    public var deny: [Rule] = []
}

public struct OrgSpec: Sendable, Hashable {
    public var name: String
    public var path: String
    public var displayName: String?
    public var members: [MemberSpec] = []
    public var teams: [TeamSpec] = []
    public var servers: [ServerSpec] = []
    /// `"toolsets"`: curated bundles of the org's tools, each an endpoint of its own.
    public var toolsets: [ToolsetSpec] = []

    public func toolset(named name: String) -> ToolsetSpec? { toolsets.first { $0.name == name } }
}

/// One of an org's `toolsets`: tools of several of its servers behind
/// `/orgs/ORG/toolsets/NAME/mcp`, named as on the org's endpoint (`PREFIX__NAME`). A toolset only
/// narrows what a caller sees there: each tool is still decided per caller, on its upstream name.
public struct ToolsetSpec: Sendable, Hashable {
    /// `SERVER:GLOB`: the tools of one server of the org whose upstream names match.
    public struct Entry: Sendable, Hashable {
        public var server: String
        public var tools: Glob
    }

    public var name: String
    public var path: String
    public var description: String?
    public var tools: [Entry] = []

    /// The servers it draws on, in the order first named.
    public var servers: [String] {
        tools.reduce(into: []) { names, entry in if !names.contains(entry.server) { names.append(entry.server) } }
    }

    /// Whether it holds `tool` (an upstream name) of `server`.
    public func includes(server: String, tool: String) -> Bool {
        tools.contains { $0.server == server && $0.tools.matches(tool) }
    }
}

public struct MemberSpec: Sendable, Hashable {
    public var user: Located<String>
    public var roles: [Located<String>]
}

public struct TeamSpec: Sendable, Hashable {
    public var name: String
    public var path: String
    public var members: [Located<String>] = []
    public var roles: [Located<String>] = []
}

public struct ServerSpec: Sendable, Hashable {
    public enum Transport: Sendable, Hashable {
        case stdio(command: String, args: [String], env: [NameValue], cwd: String?)
        case remote(url: String, kind: RemoteKind, headers: [NameValue])
    }

    public enum RemoteKind: String, Sendable, Hashable {
        case streamableHTTP = "streamable-http"
        case sse
    }

    /// The MCP era the gateway speaks to the server in: `auto` asks it once (`server/discover`) and
    /// remembers the answer.
    public enum UpstreamProtocol: String, Sendable, Hashable, CaseIterable {
        case auto
        case modern = "2026-07-28"
        case legacy
    }

    public var name: String
    public var org: String
    public var path: String
    public var description: String?
    public var disabled = false
    public var timeoutSeconds: Int?
    public var tools = NameFilter()
    public var prompts = NameFilter()
    public var resources = NameFilter()
    /// With every `${env:…}` expanded: holds secrets, never printed.
    public var transport: Transport
    /// The first part of its tools' and prompts' names on the aggregated endpoints.
    public var prefix: String? = nil
    /// `"protocol"`: the era to speak to it in (default `auto`).
    public var upstreamProtocol: UpstreamProtocol = .auto
    /// `"stateful": true`: its processes keep state a new one would not have (a browser, a shell),
    /// so a replica that does not hold a session of it refuses the session (404) rather than
    /// re-create it.
    public var stateful = false
    /// `"limits"`: its concurrency cap and per-tool rates.
    public var limits = ServerLimits()
    /// `"oauth"` (remote servers only): each user's own OAuth grant, sent upstream as their token.
    public var oauth: OAuthSpec? = nil
    /// `"approve"`: tools that run only once a person approves each call, in orch.json's order.
    public var approve: [ApprovalRule] = []
    /// `"overrides"`: its tools' names and descriptions as clients see them, and hidden tools.
    public var overrides = ToolOverrides()
    /// The secrets its `env`, `headers` and `url` take from the calling user (`${user:NAME}`): a
    /// per-user server, whose `env`, `headers` and `url` values are then templates to render with
    /// the caller's values (`resolved`).
    public var userSecrets: [String] = []

    /// `prefix`, or the server's name.
    public var exposedPrefix: String { prefix ?? name }

    /// The server as one user runs it: each `${user:NAME}` of its `env`, `headers` and `url`
    /// replaced by that user's value (a server with no user secret as it is).
    public func resolved(_ secrets: [String: String]) -> ServerSpec {
        guard !userSecrets.isEmpty else { return self }
        var copy = self
        let render = { (text: String) in UserSecrets.render(text) { secrets[$0] ?? "" } }
        switch transport {
        case .stdio(let command, let args, let env, let cwd):
            copy.transport = .stdio(command: command, args: args, env: env.map { NameValue(name: $0.name, value: render($0.value)) }, cwd: cwd)
        case .remote(let url, let kind, let headers):
            copy.transport = .remote(url: render(url), kind: kind, headers: headers.map { NameValue(name: $0.name, value: render($0.value)) })
        }
        return copy
    }
}

/// One of a server's `approve` rules: each call of a tool it names waits for a person's approval,
/// the caller's own (`by: "caller"`, asked through their client) or someone else's who holds a
/// role in the org (`by: "role:NAME"`, on the dashboard), for at most `timeoutSeconds`.
public struct ApprovalRule: Sendable, Hashable, CustomStringConvertible {
    public enum Approver: Sendable, Hashable, CustomStringConvertible {
        case caller
        case role(String)

        public var description: String {
            switch self {
            case .caller: "caller"
            case .role(let name): "role:" + name
            }
        }
    }

    public var tools: [Glob]
    public var by: Approver
    public var timeoutSeconds: Int
    /// Argument names whose values the question shows as `•••`.
    public var redact: [String]
    /// Where the rule is in orch.json.
    public var path: String

    public static let defaultTimeoutSeconds = 300

    public init(tools: [Glob], by: Approver, timeoutSeconds: Int = Self.defaultTimeoutSeconds, redact: [String] = [], path: String = "") {
        self.tools = tools
        self.by = by
        self.timeoutSeconds = timeoutSeconds
        self.redact = redact
        self.path = path
    }

    public func matches(tool: String) -> Bool { tools.contains { $0.matches(tool) } }

    /// `merge_*, drop_* by caller within 300 s` (with `, redacting password` when it redacts).
    public var description: String {
        tools.map(\.pattern).joined(separator: ", ") + " by \(by) within \(timeoutSeconds) s"
            + (redact.isEmpty ? "" : ", redacting " + redact.joined(separator: ", "))
    }
}

extension ServerSpec {
    /// The `approve` rules a call of `tool` must satisfy, the caller's first, then the roles'.
    public func approvals(tool: String) -> [ApprovalRule] {
        let matching = approve.filter { $0.matches(tool: tool) }
        return matching.filter { $0.by == .caller } + matching.filter { $0.by != .caller }
    }
}

/// A server's `oauth` block: connected accounts. Each user signs in at the server's authorization
/// server once (on the dashboard), and the gateway sends that user's own access token upstream,
/// refreshed as it expires; a user with no working connection is refused with where to connect.
public struct OAuthSpec: Sendable, Hashable {
    /// The gateway's client at the authorization server, registered there beforehand; the secret
    /// (for a confidential client) came through `${env:…}` and is never printed.
    public var client: OIDCIssuer.Client
    public var scopes: [String] = []
    /// The authorization server's issuer URL, pinned; nil: the one the server's protected-resource
    /// metadata names.
    public var authorizationServer: String? = nil
    /// The resource the tokens are for (RFC 8707); nil: the `resource` of the server's metadata.
    public var resource: String? = nil
    /// Whether `resource` is sent in the authorization and token requests (Entra ID refuses it).
    public var sendResource = true

    public init(client: OIDCIssuer.Client) {
        self.client = client
    }
}

extension ServerSpec {
    /// The server's filter of one kind: `tools`, `prompts` or `resources`.
    public func filter(_ kind: ItemKind) -> NameFilter {
        switch kind {
        case .tool: tools
        case .prompt: prompts
        case .resource: resources
        }
    }
}

/// A server's filter of one kind (tools, prompts or resources), applied to everyone: an item is
/// hidden when its name (a resource's URI) matches a deny glob, or when `allow` is given and it
/// matches none.
public struct NameFilter: Sendable, Hashable {
    public var allow: [Glob]? = nil
    public var deny: [Glob] = []

    public var isEmpty: Bool { allow == nil && deny.isEmpty }

    /// True when the filter hides `name`. Allocates nothing.
    public func hides(_ name: String) -> Bool {
        if deny.contains(where: { $0.matches(name) }) { return true }
        if let allow { return !allow.contains(where: { $0.matches(name) }) }
        return false
    }

    /// True when the filter hides every name.
    public var hidesEverything: Bool {
        deny.contains(where: \.matchesEverything) || allow?.isEmpty == true
    }

    /// Why the filter (the server's `field`: tools, prompts or resources) hides `name`, or nil
    /// when it lets it through.
    public func hiding(_ name: String, field: String) -> String? {
        if let glob = deny.first(where: { $0.matches(name) }) { return "\(field).deny \"\(glob)\"" }
        if let allow, !allow.contains(where: { $0.matches(name) }) { return "no \(field).allow glob" }
        return nil
    }
}

public struct UserSpec: Sendable, Hashable {
    public var name: String
    public var path: String
    public var displayName: String?
    public var email: String?
    /// `identities`: who the user is at the `auth.oidc` issuers.
    public var identities: [Located<UserIdentity>] = []
    public var disabled = false
    public var admin = false
    public var keys: [KeySpec] = []
}

public struct KeySpec: Sendable, Hashable {
    public var id: String
    public var path: String
    public var hash: KeyHash
    public var created: Date?
    public var expires: Date?
    public var scope: [ScopeGlob]?
    public var description: String?
}

public struct TestSpec: Sendable, Hashable {
    public var path: String
    public var user: Located<String>
    public var key: Located<String>?
    public var at: Date?
    public var allow: [Located<Target>] = []
    public var deny: [Located<Target>] = []
    /// Tools that must require approval (an `approve` rule of their server names them).
    public var approve: [Located<Target>] = []
}
