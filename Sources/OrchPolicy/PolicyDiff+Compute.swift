import Foundation

extension PolicyDiff {
    /// The changes from `old` to `new`. Each list is in name order, so that the same two files
    /// always give the same output.
    public init(old: Policy, new: Policy) {
        users = Self.userChanges(old, new)
        keys = Self.keyChanges(old, new)
        servers = Self.serverChanges(old, new)
        roles = Self.roleChanges(old, new)
        teams = Self.teamChanges(old, new)
    }

    private static func union(_ a: [String], _ b: [String]) -> [String] { Set(a + b).sorted() }

    // MARK: users

    private static func userChanges(_ old: Policy, _ new: Policy) -> [UserChange] {
        union(old.users.map(\.name), new.users.map(\.name)).compactMap { name in
            let oldID = old.user(named: name), newID = new.user(named: name)
            let before = oldID.map(old.reach) ?? Reach(), after = newID.map(new.reach) ?? Reach()
            var servers: [ServerAccess] = []
            var rules: [RuleAccess] = []
            for server in union(Array(before.servers.keys), Array(after.servers.keys)) {
                switch (before.servers[server], after.servers[server]) {
                case (nil, let via?):
                    servers.append(ServerAccess(server: server, gained: true, via: via, now: nil))
                case (let via?, nil):
                    let now = newID.map { _ in new.describe(new.decide(user: name, target: Reach.target(server), at: Date()).reason) }
                    servers.append(ServerAccess(server: server, gained: false, via: via, now: now))
                default:
                    let was = before.rules[server] ?? [:], isNow = after.rules[server] ?? [:]
                    for rule in Set(was.keys).union(isNow.keys).sorted() where (was[rule] == nil) != (isNow[rule] == nil) {
                        let added = was[rule] == nil
                        let access: Access
                        switch (rule.effect, added) {
                        case (.allow, true): access = .gained
                        case (.allow, false): access = .lost
                        // A deny rule matters where an allow rule reaches: the new ones for a deny
                        // taken away, the old ones for a deny put in.
                        case (.deny, false): access = rule.overlapsAnAllow(in: isNow.keys) ? .gained : .none
                        case (.deny, true): access = rule.overlapsAnAllow(in: was.keys) ? .lost : .none
                        }
                        rules.append(RuleAccess(server: server, effect: rule.effect, rule: rule.text, added: added, access: access, via: (added ? isNow[rule] : was[rule]) ?? []))
                    }
                }
            }
            let wasAdmin = oldID.map { old.user($0).spec.admin } ?? false, isAdmin = newID.map { new.user($0).spec.admin } ?? false
            let admin = wasAdmin == isAdmin ? nil : ValueChange(old: wasAdmin, new: isAdmin)
            guard !servers.isEmpty || !rules.isEmpty || admin != nil else { return nil }
            let change: Change = oldID == nil ? .added : newID == nil ? .removed : .changed
            return UserChange(user: name, change: change, servers: servers, rules: rules, admin: admin)
        }
    }

    // MARK: keys

    private static func keyChanges(_ old: Policy, _ new: Policy) -> [KeyChange] {
        func keys(_ policy: Policy, _ user: String) -> [String: KeySpec] {
            guard let id = policy.user(named: user) else { return [:] }
            return Dictionary(policy.user(id).keys.map { (policy.key($0).spec.id, policy.key($0).spec) }) { first, _ in first }
        }
        var changes: [KeyChange] = []
        for user in union(old.users.map(\.name), new.users.map(\.name)) {
            let was = keys(old, user), isNow = keys(new, user)
            for id in union(Array(was.keys), Array(isNow.keys)) {
                let a = was[id], b = isNow[id]
                let change: Change = a == nil ? .added : b == nil ? .removed : .changed
                let key = KeyChange(
                    user: user, key: id, change: change,
                    scope: ValueChange(old: a?.scope?.map(\.text), new: b?.scope?.map(\.text)),
                    expires: ValueChange(old: a?.expires, new: b?.expires),
                    tokenReplaced: a != nil && b != nil && a!.hash != b!.hash)
                if change != .changed || key.scopeChanged || key.expiresChanged || key.tokenReplaced { changes.append(key) }
            }
        }
        return changes
    }

    // MARK: servers

    private static func serverChanges(_ old: Policy, _ new: Policy) -> [ServerChange] {
        func servers(_ policy: Policy) -> [String: ServerSpec] {
            Dictionary(policy.serverIDs.map { (policy.serverPath($0), policy.server($0).spec) }) { first, _ in first }
        }
        let was = servers(old), isNow = servers(new)
        return union(Array(was.keys), Array(isNow.keys)).compactMap { path in
            switch (was[path], isNow[path]) {
            case (nil, let b?):
                return ServerChange(server: path, change: .added, transport: b.transportName, fields: [], env: NameChanges(old: [], new: []), headers: NameChanges(old: [], new: []), filters: [])
            case (let a?, nil):
                return ServerChange(server: path, change: .removed, transport: a.transportName, fields: [], env: NameChanges(old: [], new: []), headers: NameChanges(old: [], new: []), filters: [])
            case (let a?, let b?):
                let before = Definition(a), after = Definition(b)
                let env = NameChanges(old: before.env, new: after.env), headers = NameChanges(old: before.headers, new: after.headers)
                let filters = ItemKind.allCases.compactMap { kind -> FilterChange? in
                    let x = a.filter(kind), y = b.filter(kind)
                    let allow = ValueChange(old: x.allow?.map(\.pattern), new: y.allow?.map(\.pattern))
                    let deny = ListChange(old: x.deny.map(\.pattern), new: y.deny.map(\.pattern))
                    guard allow.old.map(Set.init) != allow.new.map(Set.init) || !deny.isEmpty else { return nil }
                    return FilterChange(field: kind.plural, allow: allow, deny: deny)
                }
                var fields: [String] = []
                func compare(_ name: String, _ changed: Bool) { if changed { fields.append(name) } }
                compare("transport", a.transportName != b.transportName)
                compare("command", before.command != after.command)
                compare("args", before.args != after.args)
                compare("cwd", before.cwd != after.cwd)
                compare("url", before.url != after.url)
                compare("env", !env.isEmpty)
                compare("headers", !headers.isEmpty)
                for filter in filters { fields.append(filter.field) }
                compare("disabled", a.disabled != b.disabled)
                compare("prefix", a.prefix != b.prefix)
                compare("timeoutSeconds", a.timeoutSeconds != b.timeoutSeconds)
                compare("protocol", a.upstreamProtocol != b.upstreamProtocol)
                compare("stateful", a.stateful != b.stateful)
                compare("limits", a.limits != b.limits)
                compare("oauth", a.oauth != b.oauth)
                let approvals = ListChange(old: a.approve.map(\.description), new: b.approve.map(\.description))
                compare("approve", !approvals.isEmpty)
                guard !fields.isEmpty else { return nil }
                var change = ServerChange(server: path, change: .changed, transport: b.transportName, fields: fields, env: env, headers: headers, filters: filters)
                change.approvals = approvals
                change.approvalDropped = a.approve.contains { old in
                    old.tools.contains { glob in !b.approve.contains { $0.by == old.by && $0.tools.contains(glob) } }
                }
                return change
            case (nil, nil):
                return nil
            }
        }
    }

    /// A server's definition with both transports' fields, empty for the other one.
    private struct Definition {
        var command: String? = nil, args: [String] = [], cwd: String? = nil, env: [NameValue] = []
        var url: String? = nil, headers: [NameValue] = []

        init(_ spec: ServerSpec) {
            switch spec.transport {
            case .stdio(let command, let args, let env, let cwd): (self.command, self.args, self.env, self.cwd) = (command, args, env, cwd)
            case .remote(let url, _, let headers): (self.url, self.headers) = (url, headers)
            }
        }
    }

    // MARK: roles and teams

    private static func roleChanges(_ old: Policy, _ new: Policy) -> [RoleChange] {
        union(old.roles.map(\.name), new.roles.map(\.name)).compactMap { name in
            let a = old.role(named: name).map { old.roles[$0.index].spec }, b = new.role(named: name).map { new.roles[$0.index].spec }
            let allow = ListChange(old: a?.allow.map(\.text) ?? [], new: b?.allow.map(\.text) ?? [])
            let deny = ListChange(old: a?.deny.map(\.text) ?? [], new: b?.deny.map(\.text) ?? [])
            let change: Change = a == nil ? .added : b == nil ? .removed : .changed
            guard change != .changed || !allow.isEmpty || !deny.isEmpty else { return nil }
            return RoleChange(role: name, change: change, allow: allow, deny: deny)
        }
    }

    private static func teamChanges(_ old: Policy, _ new: Policy) -> [TeamChange] {
        func teams(_ policy: Policy) -> [String: (org: String, spec: TeamSpec)] {
            var teams: [String: (org: String, spec: TeamSpec)] = [:]
            for org in policy.orgs {
                for team in org.spec.teams { teams["\(org.name)/\(team.name)"] = (org.name, team) }
            }
            return teams
        }
        let was = teams(old), isNow = teams(new)
        return union(Array(was.keys), Array(isNow.keys)).compactMap { path in
            let a = was[path], b = isNow[path]
            let members = ListChange(old: a?.spec.members.map(\.value) ?? [], new: b?.spec.members.map(\.value) ?? [])
            let roles = ListChange(old: a?.spec.roles.map(\.value) ?? [], new: b?.spec.roles.map(\.value) ?? [])
            let change: Change = a == nil ? .added : b == nil ? .removed : .changed
            guard change != .changed || !members.isEmpty || !roles.isEmpty else { return nil }
            return TeamChange(org: (a ?? b)!.org, team: (a ?? b)!.spec.name, change: change, members: members, roles: roles)
        }
    }
}

/// What one user reaches under one policy: the servers they may connect to (with the roles that
/// allow it) and, on each, the rules of their roles that touch it.
struct Reach {
    struct Rule: Hashable, Comparable {
        let effect: PolicyDiff.RuleAccess.Effect
        let text: String
        /// nil for the whole server.
        let item: ItemGlob?

        static func < (a: Rule, b: Rule) -> Bool { (a.text, a.effect.rawValue) < (b.text, b.effect.rawValue) }

        /// Whether an allow rule among `rules` reaches some item this rule names.
        func overlapsAnAllow(in rules: some Sequence<Rule>) -> Bool {
            rules.contains { allow in
                guard allow.effect == .allow, let a = allow.item, let b = item else { return allow.effect == .allow }
                return a.overlaps(b)
            }
        }
    }

    /// `ORG/SERVER` → the roles whose allow rules touch it.
    var servers: [String: [PolicyDiff.Via]] = [:]
    /// `ORG/SERVER` → rule → the roles that hold it.
    var rules: [String: [Rule: [PolicyDiff.Via]]] = [:]

    static func target(_ server: String) -> Target {
        let slash = server.firstIndex(of: "/")!
        return Target(org: String(server[..<slash]), server: String(server[server.index(after: slash)...]))
    }
}

extension Policy {
    /// A disabled user reaches nothing; the time does not matter without a key.
    func reach(_ user: UserID) -> Reach {
        var reach = Reach()
        for membership in users[user.index].memberships {
            let org = orgs[membership.org.index]
            for id in org.servers where decide(user: user, server: id, item: nil, key: nil, at: Date()).allowed {
                let server = servers[id.index]
                var via: [PolicyDiff.Via] = []
                var rules: [Reach.Rule: [PolicyDiff.Via]] = [:]
                for grant in membership.grants {
                    let v = PolicyDiff.Via(role: roles[grant.role.index].name, org: org.name, team: grant.team)
                    let touching = server.rulesByRole[grant.role.index]
                    if !touching.allow.isEmpty && !via.contains(v) { via.append(v) }
                    let entries = touching.allow.map { (PolicyDiff.RuleAccess.Effect.allow, $0) } + touching.deny.map { (.deny, $0) }
                    for (effect, entry) in entries {
                        let rule = Reach.Rule(effect: effect, text: server.name + (entry.item.map { ":\($0)" } ?? ""), item: entry.item)
                        if !(rules[rule]?.contains(v) ?? false) { rules[rule, default: []].append(v) }
                    }
                }
                reach.servers[serverPath(id)] = via
                reach.rules[serverPath(id)] = rules
            }
        }
        return reach
    }
}
