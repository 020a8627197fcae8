import Foundation
import OrchJSON
import OrchPolicy

/// Why a caller's view of an endpoint has no tools, worked out from the policy alone (nothing asks
/// an upstream just to explain): told as `instructions` at `initialize` and in `server/discover`,
/// and by `/api/v1/tools` in `errors`. An MCP client otherwise shows an empty list and no reason.
extension Gateway {
    /// The reason `caller` sees no tool on an endpoint of `servers` (those of it the caller
    /// reaches; for a toolset, `toolset` names it); nil when some server may show the caller one.
    func emptyView(_ caller: Caller, servers: [ServerID], toolset: String? = nil) -> String? {
        Self.emptyView(caller.policy, user: caller.user, key: caller.key, servers: servers, toolset: toolset, at: clock.now())
    }

    static func emptyView(_ policy: Policy, user: UserID, key: KeyID?, servers: [ServerID], toolset: String?, at now: Date) -> String? {
        let userName = policy.user(user).name
        guard !servers.isEmpty else {
            return "No tools here for \(userName): " + (toolset.map { "no server of toolset \($0) is granted to them" } ?? "no server here is granted to them")
                + ". An admin grants servers in orch.json (roles and memberships)."
        }
        guard !servers.contains(where: { policy.grantsSome(.tool, user: user, server: $0, key: key, at: now) }) else { return nil }
        let filtered = servers.filter { policy.server($0).spec.tools.hidesEverything }
        if filtered.count == servers.count {
            return "No tools here for \(userName): the tools filter of \(Self.list(servers.map(policy.serverPath))) in orch.json hides every tool."
        }
        let scoped = key.map { policy.key($0).spec.scope != nil } ?? false
        return "No tools here for \(userName): \(scoped ? "the key's scope and " : "")their roles grant no tool of \(Self.list(servers.map(policy.serverPath))) (only prompts or resources, or nothing). An admin grants tools in orch.json."
    }

    /// Why `credential`'s view of the endpoint `view` has no tools under `policy`; nil when it
    /// has some (or names no one).
    static func emptyView(_ policy: Policy, _ credential: Credential, user name: String, view: AggregateView, at now: Date) -> String? {
        guard let (user, key) = credential.resolve(in: policy, user: name, at: now) else { return nil }
        let toolset = view.toolset.flatMap { t in policy.orgs.first { $0.name == view.org }?.spec.toolset(named: t) }
        let reach = AggregateScope.reach(policy, user: user, key: key, org: view.org, at: now)
        let servers = policy.servers.map(\.id).filter { id in
            reach.contains(policy.serverPath(id)) && (view.toolset == nil || toolset?.servers.contains(policy.server(id).name) == true)
        }
        return emptyView(policy, user: user, key: key, servers: servers, toolset: view.toolset, at: now)
    }

    private static func list(_ names: [String]) -> String {
        names.count <= 5 ? names.joined(separator: ", ") : names.prefix(5).joined(separator: ", ") + " and \(names.count - 5) more"
    }
}

enum Instructions {
    /// `reply` (an `initialize` result) with `extra` before the server's own instructions.
    static func adding(_ extra: String?, to reply: [UInt8]) -> [UInt8] {
        guard let extra, case .object(var object)? = try? JSONRPC.parse(reply), case .object(var result)? = object["result"] else { return reply }
        result["instructions"] = .string(joined(extra, result["instructions"]?.stringValue))
        object["result"] = .object(result)
        return MCPSession.encode(.object(object))
    }

    static func joined(_ first: String?, _ second: String?) -> String {
        [first, second].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "\n")
    }
}
