public import OrchJSON

extension PolicyDiff {
    /// For tools; the shape is documented in docs/guide/reviewing-changes.md (`orch diff`). Every member is always
    /// present, null where there is no value.
    public var json: JSONValue {
        [
            "summary": .string(summary),
            "changed": .bool(!isEmpty),
            "grantsAccess": .bool(grantsAccess),
            "users": .array(users.map(\.json)),
            "keys": .array(keys.map(\.json)),
            "servers": .array(servers.map(\.json)),
            "roles": .array(roles.map(\.json)),
            "teams": .array(teams.map(\.json)),
        ]
    }
}

extension PolicyDiff.Via {
    var json: JSONValue { ["role": .string(role), "org": .string(org), "team": .optional(team)] }
}

extension PolicyDiff.ListChange {
    var json: JSONValue { ["added": .strings(added), "removed": .strings(removed)] }
}

extension PolicyDiff.UserChange {
    var json: JSONValue {
        [
            "user": .string(user), "change": .string(change.rawValue),
            "gainsAccess": .bool(gainsAccess), "losesAccess": .bool(losesAccess),
            "servers": .array(servers.map { s in
                [
                    "server": .string(s.server), "access": s.gained ? "gained" : "lost",
                    "via": .array(s.via.map(\.json)), "now": .optional(s.now),
                ]
            }),
            "rules": .array(rules.map { r in
                [
                    "server": .string(r.server), "effect": .string(r.effect.rawValue), "rule": .string(r.rule),
                    "change": r.added ? "added" : "removed", "access": .string(r.access.rawValue),
                    "via": .array(r.via.map(\.json)),
                ]
            }),
            "admin": admin.map { ["old": .bool($0.old), "new": .bool($0.new)] } ?? .null,
        ]
    }
}

extension PolicyDiff.KeyChange {
    var json: JSONValue {
        let strings = { (list: [String]?) in list.map { JSONValue.strings($0) } ?? .null }
        return [
            "user": .string(user), "key": .string(key), "change": .string(change.rawValue),
            "scope": ["old": strings(scope.old), "new": strings(scope.new)],
            "expires": ["old": .optional(expires.old.map(Timestamp.format)), "new": .optional(expires.new.map(Timestamp.format))],
            "scopeWidened": .bool(scopeWidened), "expiryExtended": .bool(expiryExtended), "tokenReplaced": .bool(tokenReplaced),
            "gainsAccess": .bool(gainsAccess),
        ]
    }
}

extension PolicyDiff.ServerChange {
    var json: JSONValue {
        let names = { (n: PolicyDiff.NameChanges) -> JSONValue in
            ["added": .strings(n.added), "removed": .strings(n.removed), "changed": .strings(n.changed)]
        }
        let globs = { (list: [String]?) in list.map { JSONValue.strings($0) } ?? .null }
        return [
            "server": .string(server), "change": change == .changed ? "redefined" : .string(change.rawValue),
            "transport": .string(transport), "fields": .strings(fields),
            "env": names(env), "headers": names(headers),
            "filters": .array(filters.map { f in
                [
                    "field": .string(f.field), "allow": ["old": globs(f.allow.old), "new": globs(f.allow.new)],
                    "deny": f.deny.json, "widens": .bool(f.widens),
                ]
            }),
            "approve": approvals.json, "approvalDropped": .bool(approvalDropped),
            "gainsAccess": .bool(gainsAccess),
        ]
    }
}

extension PolicyDiff.RoleChange {
    var json: JSONValue {
        ["role": .string(role), "change": .string(change.rawValue), "allow": allow.json, "deny": deny.json]
    }
}

extension PolicyDiff.TeamChange {
    var json: JSONValue {
        ["org": .string(org), "team": .string(team), "change": .string(change.rawValue), "members": members.json, "roles": roles.json]
    }
}
