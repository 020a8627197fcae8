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
        case allowedByRule(Policy.RoleGrant, rule: Int, server: ServerID, item: Item?)
        /// A deny rule of a held role matched (rule = index into the role's `deny`).
        case deniedByRule(Policy.RoleGrant, rule: Int, server: ServerID, item: Item?)
        case noAllowRule(UserID, server: ServerID, item: Item?)
        case notMember(UserID, OrgID)
        case hiddenByServerFilter(ServerID, item: Item)
        case outsideKeyScope(KeyID, server: ServerID, item: Item?)
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
    /// Decides for compiled ids: the request path. `item == nil` asks whether the user may connect
    /// to the server at all; otherwise the tool, prompt or resource. Steps: the user and key, the
    /// server, the roles held in its org; then for an item, deny rules (whole-server or of its
    /// kind) win, an allow rule (whole-server or of its kind) must match, the server's filter of
    /// that kind must let it through, and the key's scope must cover it.
    public func decide(user: UserID, server: ServerID, item: Item?, key: KeyID?, at time: Date) -> Decision {
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
        if let item {
            for grant in grants {
                let rules = servers[server.index].rulesByRole[grant.role.index]
                for entry in rules.deny where entry.denies(item.kind, item.name) {
                    return .deny(.deniedByRule(grant, rule: entry.index, server: server, item: item))
                }
                if allowedBy == nil, let entry = rules.allow.first(where: { $0.allows(item.kind, item.name) }) {
                    allowedBy = (grant, entry.index)
                }
            }
            guard let (grant, rule) = allowedBy else { return .deny(.noAllowRule(user, server: server, item: item)) }
            if servers[server.index].filters[item.kind.rawValue].hides(item.name) {
                return .deny(.hiddenByServerFilter(server, item: item))
            }
            if let key, let scope = keys[key.index].scope {
                let orgName = orgs[org.index].spec.name
                let serverName = servers[server.index].spec.name
                if !scope.contains(where: { $0.matches(org: orgName, server: serverName, item.kind, item.name) }) {
                    return .deny(.outsideKeyScope(key, server: server, item: item))
                }
            }
            return .allow(.allowedByRule(grant, rule: rule, server: server, item: item))
        }

        for grant in grants {
            let rules = servers[server.index].rulesByRole[grant.role.index]
            for entry in rules.deny where entry.deniesWholeServer {
                return .deny(.deniedByRule(grant, rule: entry.index, server: server, item: nil))
            }
            if allowedBy == nil, let entry = rules.allow.first { allowedBy = (grant, entry.index) }
        }
        guard let (grant, rule) = allowedBy else { return .deny(.noAllowRule(user, server: server, item: nil)) }
        if let key, let scope = keys[key.index].scope {
            let orgName = orgs[org.index].spec.name
            let serverName = servers[server.index].spec.name
            if !scope.contains(where: { $0.matches(org: orgName, server: serverName) }) {
                return .deny(.outsideKeyScope(key, server: server, item: nil))
            }
        }
        return .allow(.allowedByRule(grant, rule: rule, server: server, item: nil))
    }

    /// A tool decision (`tool == nil`: may the user connect to the server).
    public func decide(user: UserID, server: ServerID, tool: String?, key: KeyID?, at time: Date) -> Decision {
        decide(user: user, server: server, item: tool.map { Item(.tool, $0) }, key: key, at: time)
    }

    /// Whether the user (with this key) may use some item of `kind` on the server: they may connect,
    /// a held role allows the whole server or some item of that kind, no deny rule takes every item
    /// of it, the server's filter of that kind does not hide everything, and the key's scope covers
    /// the whole server or some item of that kind. It decides `resources/templates/list` and the
    /// completion of a resource template, which name no single resource.
    public func grantsSome(_ kind: ItemKind, user: UserID, server: ServerID, key: KeyID?, at time: Date) -> Bool {
        guard decide(user: user, server: server, item: nil, key: key, at: time).allowed else { return false }
        let s = servers[server.index]
        if s.filters[kind.rawValue].hidesEverything { return false }
        var granted = false
        for grant in users[user.index].grants(in: s.org) {
            let rules = s.rulesByRole[grant.role.index]
            if rules.deny.contains(where: { $0.deniesEvery(kind) }) { return false }
            if rules.allow.contains(where: { $0.grantsSome(kind) }) { granted = true }
        }
        guard granted else { return false }
        if let key, let scope = keys[key.index].scope {
            let orgName = orgs[s.org.index].spec.name
            return scope.contains { $0.matches(org: orgName, server: s.spec.name) && ($0.item == nil || $0.item!.kind == kind) }
        }
        return true
    }

    /// Everything that decides the items of `kind` a user (with this key) may use on a server, as
    /// comparable text: the server's filter of that kind, the deciding rules of each role held,
    /// and the key's scope entries for the server. Where two policies give equal bases (and the
    /// user may connect under both), they decide every item of that kind alike: a reload that
    /// leaves it unchanged changes nothing a live session sees of that kind.
    public func basis(of kind: ItemKind, user: UserID, server: ServerID, key: KeyID?) -> [String] {
        let s = servers[server.index]
        let filter = s.filters[kind.rawValue]
        var basis = ["filter allow \(filter.allow?.map(\.pattern) ?? ["(all)"]) deny \(filter.deny.map(\.pattern))"]
        for grant in users[user.index].grants(in: s.org) {
            let role = roles[grant.role.index].spec
            let (allow, deny) = s.rulesByRole[grant.role.index].deciding(kind)
            basis += allow.map { "allow \(role.allow[$0.index].text)" } + deny.map { "deny \(role.deny[$0.index].text)" }
        }
        if let key, let scope = keys[key.index].scope {
            let orgName = orgs[s.org.index].spec.name
            basis += scope.filter { $0.matches(org: orgName, server: s.spec.name) && ($0.item == nil || $0.item!.kind == kind) }
                .map { "scope \($0.text)" }
        } else {
            basis.append("unscoped")
        }
        return basis
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
        return decide(user: user, server: server, item: target.item, key: key, at: time)
    }

    /// The reason as a sentence naming the role and rule, or what is missing.
    public func describe(_ reason: Decision.Reason) -> String {
        func via(_ grant: RoleGrant) -> String {
            "role \(roles[grant.role.index].name)" + (grant.team.map { " (team \($0))" } ?? "")
        }
        func what(_ server: ServerID, _ item: Item?) -> String {
            item.map { "\(serverPath(server)):\($0)" } ?? serverPath(server)
        }
        switch reason {
        case .allowedByRule(let grant, let rule, _, _):
            return "\(via(grant)) allows \"\(roles[grant.role.index].spec.allow[rule].text)\""
        case .deniedByRule(let grant, let rule, _, let item):
            let text = roles[grant.role.index].spec.deny[rule].text
            return item == nil ? "\(via(grant)) denies \"\(text)\", the whole server" : "\(via(grant)) denies \"\(text)\""
        case .noAllowRule(let user, let server, let item):
            let held = users[user.index].grants(in: servers[server.index].org).map { roles[$0.role.index].name }
            var unique: [String] = []
            for r in held where !unique.contains(r) { unique.append(r) }
            return "no role of \(users[user.index].name) allows \(what(server, item)) (roles: \(unique.joined(separator: ", ")))"
        case .notMember(let user, let org):
            return "\(users[user.index].name) is not a member of \(orgs[org.index].name)"
        case .hiddenByServerFilter(let server, let item):
            let field = item.kind.plural
            return "server \(serverPath(server)) hides \(item) (\(servers[server.index].spec.filter(item.kind).hiding(item.name, field: field) ?? "\(field) filter"))"
        case .outsideKeyScope(let key, let server, let item):
            return "key \(keys[key.index].spec.id) is scoped to \(keys[key.index].spec.scope?.map(\.text).joined(separator: ", ") ?? ""), which does not include \(what(server, item))"
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
