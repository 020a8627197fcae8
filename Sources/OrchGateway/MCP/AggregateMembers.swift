import Foundation
import Hummingbird
import NIOCore
import OrchJSON
import OrchPolicy
import Synchronization

/// What the aggregated endpoints' merged lists and routed calls work on, in either era: the
/// servers in scope, the names exposed for their tools and prompts, and a way to ask each server.
/// A handshake-era client has an `AggregateSession` (its members are sessions of its own); a
/// 2026-07-28 client has its key's `HeldLegMembers` (the key's held legs, one per server).
protocol AggregateMembers: Sendable {
    /// Which aggregated endpoint.
    var view: AggregateView { get }
    /// The aggregated session, for the audit log (none in 2026-07-28).
    var sessionID: String? { get }
    var names: AggregateNames { get }
    /// The servers of the endpoint's scope the caller may connect to, in policy order.
    func scoped(_ caller: Caller) -> [AggregateScope.Server]
    /// The upstream session that serves `server` for the client, started on first use.
    func member(_ server: ResolvedServer, _ request: Request, _ context: GatewayContext, timeout: TimeAmount) async throws -> MCPSession
    /// Sends `method` to `member` on the gateway's behalf and waits for the reply (a timeout or an
    /// ended member gives an error reply, as for any request).
    func ask(_ member: MCPSession, method: String, params: JSONObject, timeout: TimeAmount, transform: (@Sendable (JSONValue) -> JSONValue)?) async -> JSONValue
    /// Tells the client something of the gateway's own (a server left out of a list), where the
    /// era has a way to.
    func log(_ level: AggregateSession.Level, _ text: String)
}

extension AggregateMembers {
    /// The org of `/orgs/{org}/mcp` (and of its toolsets); nil on `/mcp`, where names carry their org.
    var org: String? { view.org }

    /// The endpoint the members are behind.
    var endpoint: String { view.endpoint }

    /// A request of the gateway's own on `member`, under `id`, its reply taken from a queue of its own.
    func ask(_ member: MCPSession, id: JSONValue, method: String, params: JSONObject, timeout: TimeAmount,
             transform: (@Sendable (JSONValue) -> JSONValue)?) async -> JSONValue {
        let message = JSONRPC.request(id: id, method: method, params: params)
        let queue = member.makeQueue()
        member.forward(request: MCPSession.encode(message), id: id, method: method, params: params,
                       target: .response(queue, interim: false), timeout: timeout, hooks: ReplyHooks(transform: transform))
        guard case .message(let bytes) = await queue.next(), let reply = try? JSONRPC.parse(bytes) else {
            return JSONRPC.error(id: id, code: JSONRPC.internalError, "no reply")
        }
        return reply
    }
}

/// Which aggregated endpoint a request is on: every org's (`/mcp`), one org's (`/orgs/ORG/mcp`), or
/// one toolset of an org (`/orgs/ORG/toolsets/NAME/mcp`, its tools only).
struct AggregateView: Hashable, Sendable {
    let org: String?
    let toolset: String?

    init(org: String?, toolset: String? = nil) {
        self.org = org
        self.toolset = org == nil ? nil : toolset
    }

    var endpoint: String {
        guard let org else { return "/mcp" }
        return toolset.map { "/orgs/\(org)/toolsets/\($0)/mcp" } ?? "/orgs/\(org)/mcp"
    }

    /// A toolset's endpoint serves tools only.
    var toolsOnly: Bool { toolset != nil }
}

/// The servers an aggregated endpoint's scope (one org, every org, or a toolset) holds for a
/// caller, worked out once per policy and credential: every list and call is routed through them
/// (a key's expiry is checked on every request before this).
final class AggregateScope: Sendable {
    /// A server of the scope, and how its names and URIs begin.
    struct Server: Sendable {
        let server: ResolvedServer
        /// The org part of names on `/mcp`; nil on `/orgs/{org}/mcp`.
        let org: String?
        let prefix: String
        /// `ORG__PREFIX__` or `PREFIX__`: what its names start with.
        let head: String
        /// On a toolset's endpoint, the globs of the upstream tool names it holds of this server.
        let tools: [Glob]?

        /// Whether the view holds the server's tool `upstream` (every tool, outside a toolset).
        func holds(tool upstream: String) -> Bool { tools?.contains { $0.matches(upstream) } ?? true }
    }

    let view: AggregateView
    private let cache = Mutex<(policy: Policy, caller: Credential, servers: [Server])?>(nil)

    init(_ view: AggregateView) { self.view = view }

    func servers(_ caller: Caller, gateway: Gateway) -> [Server] {
        let policy = caller.policy
        if let cached = cache.withLock({ $0 }), cached.policy === policy, cached.caller == caller.credential { return cached.servers }
        let resolver = gateway.resolver
        let org = view.org
        let toolset = view.toolset.flatMap { name in
            policy.orgs.first { $0.name == org }?.spec.toolset(named: name)
        }
        let servers = gateway.reachableServers(caller).compactMap { id -> Server? in
            let server = policy.server(id)
            let orgName = policy.org(server.org).name
            guard org == nil || org == orgName, let resolved = resolver.find(caller, org: orgName, name: server.name) else { return nil }
            var globs: [Glob]? = nil
            if view.toolset != nil {
                // A toolset gone in a reload holds nothing.
                globs = toolset?.tools.filter { $0.server == server.name }.map(\.tools) ?? []
                if globs?.isEmpty == true { return nil }
            }
            let orgPart = org == nil ? orgName : nil
            let prefix = server.spec.exposedPrefix
            return Server(server: resolved, org: orgPart, prefix: prefix,
                          head: (orgPart.map { $0 + ExposedName.separator } ?? "") + prefix + ExposedName.separator, tools: globs)
        }
        cache.withLock { $0 = (policy, caller.credential, servers) }
        return servers
    }

    /// The servers (`ORG/SERVER`) `user` (with `key`) may connect to in `policy`, within `org` when
    /// there is one: what a reload compares to tell whether an aggregated endpoint's scope changed.
    static func reach(_ policy: Policy, user: UserID, key: KeyID?, org: String?, at time: Date) -> Set<String> {
        var paths: Set<String> = []
        for membership in policy.user(user).memberships {
            let orgName = policy.org(membership.org).name
            guard org == nil || org == orgName else { continue }
            for server in policy.org(membership.org).servers where policy.decide(user: user, server: server, tool: nil, key: key, at: time).allowed {
                paths.insert(orgName + "/" + policy.server(server).name)
            }
        }
        return paths
    }
}

extension Policy {
    /// `AggregateScope.reach` of whoever `credential` names now (empty when it names no one).
    func reach(_ credential: Credential, user name: String, org: String?, at time: Date) -> Set<String> {
        guard let (user, key) = credential.resolve(in: self, user: name, at: time) else { return [] }
        return AggregateScope.reach(self, user: user, key: key, org: org, at: time)
    }
}

/// The exposed names of an aggregated endpoint's tools and prompts, made as lists come back and
/// read when a call names one.
final class AggregateNames: Sendable {
    private let tables = Mutex((tools: ExposedNames(), prompts: ExposedNames()))
    /// Search mode's index of the tools list, for the policy it was made under.
    private let search = Mutex<(policy: Policy, made: ContinuousClock.Instant, index: SearchIndex)?>(nil)

    func searchIndex(policy: Policy, maxAge: Duration) -> SearchIndex? {
        search.withLock { kept in
            guard let kept, kept.policy === policy, ContinuousClock.now - kept.made < maxAge else { return nil }
            return kept.index
        }
    }

    func keep(_ index: SearchIndex, policy: Policy) {
        search.withLock { $0 = (policy, .now, index) }
    }

    /// A tools list changed: the next search lists again.
    func forgetSearch() { search.withLock { $0 = nil } }

    func expose(_ name: String, _ kind: ItemKind, server: String, org: String?, prefix: String) -> String? {
        tables.withLock { tables in
            kind == .prompt ? tables.prompts.expose(name, server: server, org: org, prefix: prefix)
                : tables.tools.expose(name, server: server, org: org, prefix: prefix)
        }
    }

    func origin(of exposed: String, kind: ItemKind) -> ExposedNames.Origin? {
        tables.withLock { kind == .prompt ? $0.prompts.origin(of: exposed) : $0.tools.origin(of: exposed) }
    }
}
