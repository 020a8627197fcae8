public import Foundation

/// The answer to "may this user (with this key) use this server or tool now?", with the reason.
/// Reasons hold indexes, not text, so deciding allocates nothing; `Policy.describe` renders them.
public struct Decision: Sendable, Hashable {
    public let allowed: Bool
    public let reason: Reason

    static func allow(_ reason: Reason) -> Decision { Decision(allowed: true, reason: reason) }
    static func deny(_ reason: Reason) -> Decision { Decision(allowed: false, reason: reason) }

    public enum Reason: Sendable, Hashable {
        /// An allow rule of a held role matched (rule = index into the role's `allow`).
        case allowedByRule(Policy.RoleGrant, rule: Int, server: ServerID, tool: String?)
        /// A deny rule of a held role matched (rule = index into the role's `deny`).
        case deniedByRule(Policy.RoleGrant, rule: Int, server: ServerID, tool: String?)
        case noAllowRule(UserID, server: ServerID, tool: String?)
        case notMember(UserID, OrgID)
        case hiddenByServerFilter(ServerID, tool: String)
        case outsideKeyScope(KeyID, server: ServerID, tool: String?)
        case userDisabled(UserID)
        case keyNotOfUser(KeyID, UserID)
        case keyExpired(KeyID)
        case serverDisabled(ServerID)
        case unknownUser(String)
        case unknownKey(String)
        case unknownServer(String)
    }
}

extension Policy {
    /// Decides for compiled ids: the request path. `tool == nil` asks whether the user may connect
    /// to the server at all. Follows DESIGN.md "Decisions" step by step.
    public func decide(user: UserID, server: ServerID, tool: String?, key: KeyID?, at time: Date) -> Decision {
        // Fields are read through the arrays rather than copied out whole, so that a decision
        // retains little and allocates nothing.
        if users[user.index].disabled { return .deny(.userDisabled(user)) }
        if let key {
            if keys[key.index].user != user { return .deny(.keyNotOfUser(key, user)) }
            if let expires = keys[key.index].expires, time >= expires { return .deny(.keyExpired(key)) }
        }
        if servers[server.index].disabled { return .deny(.serverDisabled(server)) }
        let org = servers[server.index].org
        let grants = users[user.index].grants(in: org)
        if grants.isEmpty { return .deny(.notMember(user, org)) }

        var allowedBy: (Policy.RoleGrant, Int)? = nil
        if let tool {
            for grant in grants {
                let rules = servers[server.index].rulesByRole[grant.role.index]
                for entry in rules.deny where entry.matches(tool) {
                    return .deny(.deniedByRule(grant, rule: entry.index, server: server, tool: tool))
                }
                if allowedBy == nil, let entry = rules.allow.first(where: { $0.matches(tool) }) {
                    allowedBy = (grant, entry.index)
                }
            }
            guard let (grant, rule) = allowedBy else { return .deny(.noAllowRule(user, server: server, tool: tool)) }
            if servers[server.index].filter.hides(tool) { return .deny(.hiddenByServerFilter(server, tool: tool)) }
            if let key, let scope = keys[key.index].scope {
                let orgName = orgs[org.index].spec.name
                let serverName = servers[server.index].spec.name
                if !scope.contains(where: { $0.matches(org: orgName, server: serverName, tool: tool) }) {
                    return .deny(.outsideKeyScope(key, server: server, tool: tool))
                }
            }
            return .allow(.allowedByRule(grant, rule: rule, server: server, tool: tool))
        }

        for grant in grants {
            let rules = servers[server.index].rulesByRole[grant.role.index]
            for entry in rules.deny where entry.coversWholeServer {
                return .deny(.deniedByRule(grant, rule: entry.index, server: server, tool: nil))
            }
            if allowedBy == nil, let entry = rules.allow.first { allowedBy = (grant, entry.index) }
        }
        guard let (grant, rule) = allowedBy else { return .deny(.noAllowRule(user, server: server, tool: nil)) }
        if let key, let scope = keys[key.index].scope {
            let orgName = orgs[org.index].spec.name
            let serverName = servers[server.index].spec.name
            if !scope.contains(where: { $0.matches(org: orgName, server: serverName) }) {
                return .deny(.outsideKeyScope(key, server: server, tool: nil))
            }
        }
        return .allow(.allowedByRule(grant, rule: rule, server: server, tool: nil))
    }

    /// Decides by names, as the CLI and the file's `tests` ask: an unknown user, key or server is a
    /// deny that says so.
    public func decide(user name: String, target: Target, key keyName: String? = nil, at time: Date) -> Decision {
        // Step 1 (user, then key) answers before an unknown server does, as in the id-based path.
        guard let user = userIndex[name] else { return .deny(.unknownUser(name)) }
        if users[user.index].disabled { return .deny(.userDisabled(user)) }
        var key: KeyID? = nil
        if let keyName {
            guard let k = self.key(user: user, id: keyName) else { return .deny(.unknownKey(keyName)) }
            if keys[k.index].isExpired(at: time) { return .deny(.keyExpired(k)) }
            key = k
        }
        guard let server = server(org: target.org, name: target.server) else {
            return .deny(.unknownServer(target.serverID))
        }
        return decide(user: user, server: server, tool: target.tool, key: key, at: time)
    }

    /// The reason as a sentence naming the role and rule, or what is missing.
    public func describe(_ reason: Decision.Reason) -> String {
        func via(_ grant: RoleGrant) -> String {
            "role \(roles[grant.role.index].name)" + (grant.team.map { " (team \($0))" } ?? "")
        }
        func what(_ server: ServerID, _ tool: String?) -> String {
            tool.map { "\(serverPath(server)):\($0)" } ?? serverPath(server)
        }
        switch reason {
        case .allowedByRule(let grant, let rule, _, _):
            return "\(via(grant)) allows \"\(roles[grant.role.index].spec.allow[rule].text)\""
        case .deniedByRule(let grant, let rule, _, let tool):
            let text = roles[grant.role.index].spec.deny[rule].text
            return tool == nil ? "\(via(grant)) denies \"\(text)\", the whole server" : "\(via(grant)) denies \"\(text)\""
        case .noAllowRule(let user, let server, let tool):
            let held = users[user.index].grants(in: servers[server.index].org).map { roles[$0.role.index].name }
            var unique: [String] = []
            for r in held where !unique.contains(r) { unique.append(r) }
            return "no role of \(users[user.index].name) allows \(what(server, tool)) (roles: \(unique.joined(separator: ", ")))"
        case .notMember(let user, let org):
            return "\(users[user.index].name) is not a member of \(orgs[org.index].name)"
        case .hiddenByServerFilter(let server, let tool):
            return "server \(serverPath(server)) hides \(tool) (\(servers[server.index].spec.tools.hiding(tool) ?? "tools filter"))"
        case .outsideKeyScope(let key, let server, let tool):
            return "key \(keys[key.index].spec.id) is scoped to \(keys[key.index].spec.scope?.map(\.text).joined(separator: ", ") ?? ""), which does not include \(what(server, tool))"
        case .userDisabled(let user):
            return "user \(users[user.index].name) is disabled"
        case .keyNotOfUser(let key, let user):
            return "key \(keys[key.index].spec.id) does not belong to \(users[user.index].name)"
        case .keyExpired(let key):
            return "key \(keys[key.index].spec.id) expired at \(keys[key.index].spec.expires.map(Timestamp.format) ?? "?")"
        case .serverDisabled(let server):
            return "server \(serverPath(server)) is disabled"
        case .unknownUser(let name):
            return "no user \(name)"
        case .unknownKey(let name):
            return "no key \(name) for this user"
        case .unknownServer(let name):
            return "no server \(name)"
        }
    }
}
