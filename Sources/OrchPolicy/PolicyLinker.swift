import Foundation

/// Resolves the references of a decoded `Document` (members' roles, teams, tests' servers), builds
/// the indexes of `Policy`, runs the file's `tests` and adds the warnings.
struct PolicyLinker {
    let document: Document
    let digest: String
    var log: DiagnosticLog
    let now: Date
    let brokenServers: Set<String>
    /// Set when a member or team names a role that does not exist.
    var unresolvedRoles = false
    /// Users named as members (directly or in a team) with a role that does not exist.
    var unresolvedMembers: Set<String> = []

    mutating func link() -> Policy {
        var roleIndex: [String: RoleID] = [:]
        for (i, role) in document.roles.enumerated() { roleIndex[role.name] = RoleID(index: i) }
        var userIndex: [String: UserID] = [:]
        for (i, user) in document.users.enumerated() { userIndex[user.name] = UserID(index: i) }
        var orgIndex: [String: OrgID] = [:]
        for (i, org) in document.orgs.enumerated() { orgIndex[org.name] = OrgID(index: i) }

        // Servers, and which rules of each role touch each of them.
        var servers: [Policy.Server] = []
        var orgs: [Policy.Org] = []
        for (o, org) in document.orgs.enumerated() {
            var ids: [ServerID] = []
            var byName: [String: ServerID] = [:]
            for spec in org.servers {
                let id = ServerID(index: servers.count)
                for rule in spec.approve {
                    if case .role(let name) = rule.by, roleIndex[name] == nil {
                        log.error(Path.member(rule.path, "by"), "no role \"\(name)\" in roles" + Self.whatExists(name, roleIndex.keys.sorted(), what: "roles"))
                    }
                }
                let rules = document.roles.map { role in
                    Policy.RoleRules(
                        allow: role.allow.indices.filter { role.allow[$0].server.matches(spec.name) }
                            .map { Policy.RoleRules.Entry(index: $0, item: role.allow[$0].item) },
                        deny: role.deny.indices.filter { role.deny[$0].server.matches(spec.name) }
                            .map { Policy.RoleRules.Entry(index: $0, item: role.deny[$0].item) })
                }
                servers.append(Policy.Server(id: id, org: OrgID(index: o), spec: spec, rulesByRole: rules))
                ids.append(id)
                byName[spec.name] = id
            }
            orgs.append(Policy.Org(spec: org, servers: ids, serverIndex: byName))
        }

        // Memberships: direct roles and team roles, per user and org.
        var grants = [[(OrgID, Policy.RoleGrant)]](repeating: [], count: document.users.count)
        var heldRoles: Set<String> = []
        for (o, org) in document.orgs.enumerated() {
            let orgID = OrgID(index: o)
            for member in org.members {
                guard let user = resolveUser(member.user, userIndex) else { continue }
                for role in member.roles {
                    guard let r = resolveRole(role, roleIndex) else {
                        unresolvedMembers.insert(member.user.value)
                        continue
                    }
                    heldRoles.insert(role.value)
                    grants[user.index].append((orgID, Policy.RoleGrant(role: r, team: nil)))
                }
            }
            for team in org.teams {
                let roleIDs = team.roles.compactMap { role -> RoleID? in
                    let r = resolveRole(role, roleIndex)
                    if r != nil { heldRoles.insert(role.value) }
                    return r
                }
                for member in team.members {
                    if roleIDs.count < team.roles.count { unresolvedMembers.insert(member.value) }
                    guard let user = resolveUser(member, userIndex) else { continue }
                    for r in roleIDs { grants[user.index].append((orgID, Policy.RoleGrant(role: r, team: team.name))) }
                }
            }
        }

        // Keys, and the hash index.
        var keys: [Policy.Key] = []
        var keyIndex: [KeyHash: KeyID] = [:]
        keyIndex.reserveCapacity(document.users.reduce(0) { $0 + $1.keys.count })
        var users: [Policy.User] = []
        users.reserveCapacity(document.users.count)
        for (u, spec) in document.users.enumerated() {
            var ids: [KeyID] = []
            for key in spec.keys {
                let id = KeyID(index: keys.count)
                if let other = keyIndex[key.hash] {
                    log.error(Path.member(key.path, "sha256"), "same hash as \(keys[other.index].spec.path); every key needs its own token")
                    continue
                }
                keyIndex[key.hash] = id
                keys.append(Policy.Key(id: id, user: UserID(index: u), spec: key))
                ids.append(id)
            }
            var memberships: [Policy.Membership] = []
            for (org, grant) in grants[u] {
                if let i = memberships.firstIndex(where: { $0.org == org }) {
                    if !memberships[i].grants.contains(grant) {
                        memberships[i] = Policy.Membership(org: org, grants: memberships[i].grants + [grant])
                    }
                } else {
                    memberships.append(Policy.Membership(org: org, grants: [grant]))
                }
            }
            users.append(Policy.User(spec: spec, keys: ids, memberships: memberships))
        }

        let policy = Policy(
            digest: digest, settings: document.gateway, roles: document.roles.map { Policy.Role(spec: $0) },
            orgs: orgs, servers: servers, users: users, keys: keys, testCount: document.tests.count,
            userIndex: userIndex, orgIndex: orgIndex, roleIndex: roleIndex, keyIndex: keyIndex,
            auth: document.auth, identityIndex: identities(), secretValues: document.secretValues)

        runTests(policy)
        warn(policy, heldRoles: heldRoles)
        return policy
    }

    /// Users by issuer and claim value. An identity naming an issuer not in `auth.oidc`, a value
    /// two users claim, and (for an issuer matching on `email`) two users with one email are
    /// errors: a token must name exactly one user.
    private mutating func identities() -> [String: [String: UserID]] {
        var index: [String: [String: UserID]] = [:]
        var claimedBy: [String: [String: String]] = [:]  // issuer → value → user name, for messages
        let issuers = document.auth.issuers.map(\.name)
        for issuer in document.auth.issuers { index[issuer.name] = [:] }
        for (u, user) in document.users.enumerated() {
            for identity in user.identities {
                let issuer = identity.value.issuer
                guard index[issuer] != nil else {
                    log.error(identity.path, "no issuer \"\(issuer)\" in auth.oidc" + Name.didYouMean(issuer, among: issuers))
                    continue
                }
                if let other = claimedBy[issuer]?[identity.value.value] {
                    log.error(identity.path, "\(identity.value) is also user \(other)'s: a token must name exactly one user")
                    continue
                }
                index[issuer]![identity.value.value] = UserID(index: u)
                claimedBy[issuer, default: [:]][identity.value.value] = user.name
            }
        }
        let byEmail = document.auth.issuers.filter { $0.userClaim == "email" }.map(\.name)
        guard !byEmail.isEmpty else { return index }
        for (u, user) in document.users.enumerated() {
            guard let email = user.email?.lowercased() else { continue }
            if let other = byEmail.lazy.compactMap({ claimedBy[$0]?[email] }).first(where: { $0 != user.name }) {
                log.error(Path.member(user.path, "email"), "\(email) is also user \(other)'s: \(byEmail.joined(separator: ", ")) name users by email, so each needs its own")
                continue
            }
            for issuer in byEmail {
                index[issuer]![email] = UserID(index: u)
                claimedBy[issuer, default: [:]][email] = user.name
            }
        }
        return index
    }

    private mutating func resolveUser(_ name: Located<String>, _ index: [String: UserID]) -> UserID? {
        if let id = index[name.value] { return id }
        log.error(name.path, "no user \"\(name.value)\" in users" + Name.didYouMean(name.value, among: index.keys.sorted()))
        return nil
    }

    private mutating func resolveRole(_ name: Located<String>, _ index: [String: RoleID]) -> RoleID? {
        if let id = index[name.value] { return id }
        unresolvedRoles = true
        log.error(name.path, "no role \"\(name.value)\" in roles" + Self.whatExists(name.value, index.keys.sorted(), what: "roles"))
        return nil
    }

    /// " (did you mean …?)" for a likely typo, else the names there are (the first 10).
    static func whatExists(_ word: String, _ names: [String], what: String) -> String {
        let hint = Name.didYouMean(word, among: names)
        if !hint.isEmpty { return hint }
        if names.isEmpty { return " (there are no \(what))" }
        return " (the \(what) are " + names.prefix(10).joined(separator: ", ") + (names.count > 10 ? ", …" : "") + ")"
    }

    private enum Expected { case allow, deny, approve }

    /// The file's own tests. They run only on a file without other errors, so that one mistake is
    /// not reported again as every test it breaks.
    private mutating func runTests(_ policy: Policy) {
        let hadErrors = log.hasErrors
        for test in document.tests {
            guard let user = policy.user(named: test.user.value) else {
                log.error(test.user.path, "no user \"\(test.user.value)\" in users" + Name.didYouMean(test.user.value, among: document.users.map(\.name)))
                continue
            }
            if let key = test.key, policy.key(user: user, id: key.value) == nil {
                log.error(key.path, "user \(test.user.value) has no key \"\(key.value)\"")
                continue
            }
            let cases = test.allow.map { ($0, Expected.allow) } + test.deny.map { ($0, Expected.deny) } + test.approve.map { ($0, Expected.approve) }
            for (target, expected) in cases {
                guard policy.server(org: target.value.org, name: target.value.server) != nil else {
                    if !brokenServers.contains(target.value.serverID) && !brokenServers.contains("\(target.value.org)/*") {
                        log.error(target.path, "no server \(target.value.serverID)")
                    }
                    continue
                }
                if hadErrors { continue }
                if case .approve = expected {
                    guard let item = target.value.item, item.kind == .tool else {
                        log.error(target.path, "an approve test names a tool: ORG/SERVER:TOOL")
                        continue
                    }
                    if policy.server(org: target.value.org, name: target.value.server).map({ policy.server($0).spec.approvals(tool: item.name).isEmpty }) ?? true {
                        log.error(target.path, "test failed: expected \(target.value) to require approval, but no approve rule of the server names it")
                    }
                    continue
                }
                let expected = expected == .allow
                let decision = policy.decide(user: test.user.value, target: target.value, key: test.key?.value, at: test.at ?? now)
                if decision.allowed != expected {
                    let got = decision.allowed ? "allowed" : "denied"
                    log.error(target.path, "test failed: expected \(test.user.value) to be \(expected ? "allowed" : "denied") \(target.value), but \(got): \(policy.describe(decision.reason))")
                }
            }
        }
    }

    /// Unused roles and users without an org are not warned of where an unresolved role reference
    /// explains them (the role a member names by mistake may be the unused one).
    private mutating func warn(_ policy: Policy, heldRoles: Set<String>) {
        for role in document.roles where !heldRoles.contains(role.name) && !unresolvedRoles {
            log.warning(role.path, "role \(role.name) is held by no member or team")
        }
        for user in policy.users where user.memberships.isEmpty && !unresolvedMembers.contains(user.name) {
            log.warning(user.spec.path, "user \(user.name) is a member of no org")
        }
        var membersByOrg = [[UserID]](repeating: [], count: policy.orgs.count)
        for (u, user) in policy.users.enumerated() {
            for m in user.memberships { membersByOrg[m.org.index].append(UserID(index: u)) }
        }
        for server in policy.servers where !server.spec.disabled {
            let reachable = membersByOrg[server.org.index].contains { user in
                policy.decide(user: user, server: server.id, tool: nil, key: nil, at: now).allowed
            }
            if !reachable { log.warning(server.spec.path, "no one can reach server \(policy.serverPath(server.id))") }
        }
        for key in policy.keys {
            guard let expires = key.spec.expires else { continue }
            if expires <= now {
                log.warning(Path.member(key.spec.path, "expires"), "key \(key.spec.id) of \(policy.users[key.user.index].name) expired at \(Timestamp.format(expires))")
            } else if key.expiresSoon(at: now) {
                log.warning(Path.member(key.spec.path, "expires"), "key \(key.spec.id) of \(policy.users[key.user.index].name) expires within \(Policy.Key.soonDays) days, at \(Timestamp.format(expires))")
            }
        }
    }
}
