public import Foundation
public import OrchJSON

/// Everything one user can reach, for `orch explain`: orgs and roles (and through which team),
/// each reachable server with the rules that apply to it and its filter, and the user's keys.
public struct Explanation: Sendable {
    public struct RuleRef: Sendable, Hashable {
        public let role: String
        public let team: String?
        public let rule: String

        var text: String { "\"\(rule)\" (role \(role)\(team.map { ", team \($0)" } ?? ""))" }
        var json: JSONValue { ["role": .string(role), "team": .optional(team), "rule": .string(rule)] }
    }

    /// The rules that apply to one kind of item on a server: whole-server rules and the kind's own.
    public struct KindRules: Sendable {
        public let kind: ItemKind
        public let allow: [RuleRef]
        public let deny: [RuleRef]
        /// The server's filter of this kind.
        public let filter: NameFilter
    }

    public struct ServerAccess: Sendable {
        public let id: String
        public let transport: String
        public let description: String?
        /// Every rule of a held role that touches the server.
        public let allow: [RuleRef]
        public let deny: [RuleRef]
        /// Tools, prompts and resources, in that order.
        public let kinds: [KindRules]
        /// A per-user server's secrets of this user: present, or what is wrong (never a value).
        public var secrets: [(name: String, problem: String?)] = []
        /// The server's `limits`.
        public var limits = ServerLimits()
        /// The server's `oauth` block, and the state of this user's connected account there (as the
        /// connections folder has it; nil when not looked at). Never a token.
        public var oauth: OAuthSpec? = nil
        public var connection: String? = nil
        /// The server's `approve` rules.
        public var approve: [ApprovalRule] = []

        /// `rules` holds each kind's rules; `tools`, `prompts` and `resources` the server's filters.
        var json: JSONValue {
            var object: JSONObject = [
                "id": .string(id), "transport": .string(transport), "description": .optional(description),
                "allow": .array(allow.map(\.json)), "deny": .array(deny.map(\.json)),
            ]
            object["rules"] = .object(JSONObject(kinds.map { k in
                (k.kind.plural, ["allow": .array(k.allow.map(\.json)), "deny": .array(k.deny.map(\.json))] as JSONValue)
            }))
            for k in kinds {
                object[k.kind.plural] = [
                    "allow": k.filter.allow.map { .strings($0.map(\.pattern)) } ?? .null,
                    "deny": .strings(k.filter.deny.map(\.pattern)),
                ]
            }
            if !limits.isEmpty { object["limits"] = limits.json }
            if !approve.isEmpty {
                object["approve"] = .array(approve.map { rule in
                    ["tools": .strings(rule.tools.map(\.pattern)), "by": .string(rule.by.description), "timeoutSeconds": .integer(Int64(rule.timeoutSeconds)),
                     "redact": .strings(rule.redact)]
                })
            }
            if let oauth {
                object["oauth"] = [
                    "authorizationServer": .optional(oauth.authorizationServer), "scopes": .strings(oauth.scopes),
                    "connection": .optional(connection),
                ]
            }
            if !secrets.isEmpty {
                object["userSecrets"] = .array(secrets.map { ["name": .string($0.name), "present": .bool($0.problem == nil), "problem": .optional($0.problem)] })
            }
            return .object(object)
        }
    }

    public struct KeyStatus: Sendable {
        public let id: String
        public let status: String
        public let expires: Date?
        public let scope: [String]?
    }

    public let user: String
    public let displayName: String?
    public let email: String?
    public let admin: Bool
    public let disabled: Bool
    public let orgs: [(org: String, roles: [(role: String, team: String?)])]
    public let servers: [ServerAccess]
    public let keys: [KeyStatus]
    /// Who the user is at the `auth.oidc` issuers: (issuer, claim, value).
    public let identities: [(issuer: String, claim: String, value: String)]
    /// `gateway.limits.perUser`, as they apply to this user (on each replica).
    public var limits = PerUserLimits()

    public var json: JSONValue {
        [
            "user": .string(user), "displayName": .optional(displayName), "email": .optional(email),
            "admin": .bool(admin), "disabled": .bool(disabled),
            "orgs": .array(orgs.map { org in
                ["org": .string(org.org), "roles": .array(org.roles.map { ["role": .string($0.role), "team": .optional($0.team)] })]
            }),
            "servers": .array(servers.map(\.json)),
            "keys": .array(keys.map { k in
                [
                    "id": .string(k.id), "status": .string(k.status),
                    "expires": .optional(k.expires.map(Timestamp.format)),
                    "scope": k.scope.map { .strings($0) } ?? .null,
                ]
            }),
            "identities": .array(identities.map { ["issuer": .string($0.issuer), "claim": .string($0.claim), "value": .string($0.value)] }),
            "limits": limits.json,
        ]
    }

    public var text: String {
        var lines: [String] = []
        var head = user
        if let displayName { head += " (\(displayName))" }
        if let email { head += " <\(email)>" }
        if admin { head += ", gateway admin" }
        if disabled { head += ", DISABLED" }
        lines.append(head)
        lines.append("orgs:")
        if orgs.isEmpty { lines.append("  (none)") }
        for org in orgs {
            lines.append("  \(org.org): " + org.roles.map { $0.role + ($0.team.map { " (team \($0))" } ?? "") }.joined(separator: ", "))
        }
        lines.append("servers:")
        if servers.isEmpty { lines.append("  (none)") }
        for s in servers {
            lines.append("  \(s.id)  [\(s.transport)]" + (s.description.map { "  \($0)" } ?? ""))
            if !s.limits.isEmpty { lines.append("    limits: " + s.limits.text) }
            for rule in s.approve { lines.append("    approve: " + rule.description) }
            if let oauth = s.oauth {
                let scopes = oauth.scopes.isEmpty ? "" : " (scopes \(oauth.scopes.joined(separator: " ")))"
                let at = oauth.authorizationServer ?? "the authorization server the server's metadata names"
                lines.append("    oauth: the user's own account at \(at)\(scopes): " + (s.connection ?? "connection not looked at"))
            }
            for secret in s.secrets {
                lines.append("    secret \(secret.name): " + (secret.problem.map { "MISSING: \($0)" } ?? "present"))
            }
            for k in s.kinds {
                let name = k.kind.plural
                lines.append("    \(name) allow: " + (k.allow.isEmpty ? "none" : k.allow.map(\.text).joined(separator: ", ")))
                if !k.deny.isEmpty { lines.append("    \(name) deny: " + k.deny.map(\.text).joined(separator: ", ")) }
                if let allow = k.filter.allow { lines.append("    server \(name).allow: " + allow.map(\.pattern).joined(separator: ", ")) }
                if !k.filter.deny.isEmpty { lines.append("    server \(name).deny: " + k.filter.deny.map(\.pattern).joined(separator: ", ")) }
            }
        }
        lines.append("keys:")
        if keys.isEmpty { lines.append("  (none)") }
        for k in keys {
            var line = "  \(k.id)  \(k.status)"
            if let expires = k.expires { line += "  expires \(Timestamp.format(expires))" }
            line += "  scope: " + (k.scope?.joined(separator: ", ") ?? "all the user may reach")
            lines.append(line)
        }
        if !limits.isEmpty { lines.append("limits (counted on each replica): " + limits.text) }
        if !identities.isEmpty {
            lines.append("identities:")
            for identity in identities { lines.append("  \(identity.issuer): \(identity.claim) \(identity.value)") }
        }
        return lines.joined(separator: "\n")
    }
}

extension Policy {
    /// What `user` can reach at `time` (without a key's scope); with `secrets`, whether the user
    /// has each secret of the per-user servers they reach; with `connections`, the state of their
    /// connected account at each `oauth` server (given the user's name and `ORG/SERVER`).
    public func explain(
        _ user: UserID, at time: Date, secrets: UserSecrets? = nil, connections: ((_ user: String, _ server: String) -> String)? = nil
    ) -> Explanation {
        let u = users[user.index]
        let orgRoles = u.memberships.map { m in
            (org: orgs[m.org.index].name, roles: m.grants.map { (role: roles[$0.role.index].name, team: $0.team) })
        }
        var access: [Explanation.ServerAccess] = []
        for m in u.memberships {
            for id in orgs[m.org.index].servers where decide(user: user, server: id, tool: nil, key: nil, at: time).allowed {
                let server = servers[id.index]
                func refs(_ rules: (RoleRules) -> (allow: [RoleRules.Entry], deny: [RoleRules.Entry])) -> (allow: [Explanation.RuleRef], deny: [Explanation.RuleRef]) {
                    var allow: [Explanation.RuleRef] = []
                    var deny: [Explanation.RuleRef] = []
                    for grant in m.grants {
                        let role = roles[grant.role.index].spec
                        let touching = rules(server.rulesByRole[grant.role.index])
                        allow += touching.allow.map { Explanation.RuleRef(role: role.name, team: grant.team, rule: role.allow[$0.index].text) }
                        deny += touching.deny.map { Explanation.RuleRef(role: role.name, team: grant.team, rule: role.deny[$0.index].text) }
                    }
                    return (allow, deny)
                }
                let all = refs { ($0.allow, $0.deny) }
                let kinds = ItemKind.allCases.map { kind in
                    let deciding = refs { $0.deciding(kind) }
                    return Explanation.KindRules(kind: kind, allow: deciding.allow, deny: deciding.deny, filter: server.spec.filter(kind))
                }
                var entry = Explanation.ServerAccess(
                    id: serverPath(id), transport: server.spec.transportName, description: server.spec.description,
                    allow: all.allow, deny: all.deny, kinds: kinds)
                entry.limits = server.spec.limits
                entry.oauth = server.spec.oauth
                entry.approve = server.spec.approve
                if server.spec.oauth != nil { entry.connection = connections?(u.name, serverPath(id)) }
                if let secrets {
                    entry.secrets = server.spec.userSecrets.map { name in
                        if case .failure(let problem) = secrets.read(user: u.name, name: name) { (name, problem.description) } else { (name, nil) }
                    }
                }
                access.append(entry)
            }
        }
        let keyStatus = u.keys.map { id in
            let key = keys[id.index]
            return Explanation.KeyStatus(
                id: key.spec.id, status: key.status(at: time), expires: key.spec.expires, scope: key.spec.scope?.map(\.text))
        }
        // At an issuer that matches on email, the user's email; at any, the listed identities.
        var identities: [(issuer: String, claim: String, value: String)] = []
        for issuer in auth.issuers {
            if issuer.userClaim == "email", let email = u.spec.email { identities.append((issuer.name, "email", email)) }
            for identity in u.spec.identities where identity.value.issuer == issuer.name {
                identities.append((issuer.name, issuer.userClaim, identity.value.value))
            }
        }
        var explanation = Explanation(
            user: u.name, displayName: u.spec.displayName, email: u.spec.email, admin: u.spec.admin,
            disabled: u.spec.disabled, orgs: orgRoles, servers: access, keys: keyStatus, identities: identities)
        explanation.limits = settings.limits.perUser
        return explanation
    }
}

/// A limit's value, or null when it is not set.
private func number(_ value: Int?) -> JSONValue { value.map { .integer(Int64($0)) } ?? .null }

extension PerUserLimits {
    /// `requestsPerMinute 600, toolCallsPerMinute 60, concurrentCalls 4`: the ones set.
    public var text: String {
        [("requestsPerMinute", requestsPerMinute), ("toolCallsPerMinute", toolCallsPerMinute), ("concurrentCalls", concurrentCalls)]
            .compactMap { name, value in value.map { "\(name) \($0)" } }.joined(separator: ", ")
    }

    var json: JSONValue {
        ["requestsPerMinute": number(requestsPerMinute), "toolCallsPerMinute": number(toolCallsPerMinute), "concurrentCalls": number(concurrentCalls)]
    }
}

extension ServerLimits {
    /// `concurrentCalls 4 (all users together); delete_* 5 a minute per user`.
    public var text: String {
        var parts: [String] = []
        if let concurrentCalls { parts.append("concurrentCalls \(concurrentCalls) (all users together)") }
        parts += tools.map { "\($0.glob.pattern) \($0.callsPerMinute) a minute per user" }
        return parts.joined(separator: "; ")
    }

    var json: JSONValue {
        ["concurrentCalls": number(concurrentCalls),
         "tools": .object(JSONObject(tools.map { ($0.glob.pattern, ["callsPerMinute": .integer(Int64($0.callsPerMinute))] as JSONValue) }))]
    }
}

extension Policy.Key {
    /// How long before its expiry a key counts as expiring soon: `orch check` warns, `orch keys
    /// list` and the dashboard say so.
    public static let soonDays = 14

    /// Whether the key expires within `soonDays` of `time` (and has not yet).
    public func expiresSoon(at time: Date) -> Bool {
        guard let expires = spec.expires else { return false }
        return expires > time && expires <= time.addingTimeInterval(TimeInterval(Self.soonDays * 86_400))
    }

    /// `valid`, `expires soon` (within `soonDays`) or `expired`.
    public func status(at time: Date) -> String {
        guard let expires = spec.expires else { return "valid" }
        if expires <= time { return "expired" }
        return expiresSoon(at: time) ? "expires soon" : "valid"
    }
}

extension ServerSpec {
    /// `stdio`, `streamable-http` or `sse`.
    public var transportName: String {
        switch transport {
        case .stdio: "stdio"
        case .remote(_, let kind, _): kind.rawValue
        }
    }
}
