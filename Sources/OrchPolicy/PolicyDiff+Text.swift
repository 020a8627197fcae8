import Foundation

extension PolicyDiff {
    /// For people: the summary line, then a section for each kind of change. `+` added or gained,
    /// `-` removed or lost, `~` changed; a changed env or header value is only named, never shown.
    public var text: String {
        guard !isEmpty else { return summary }
        var lines = [summary]
        let plain = Phrases(literal: { $0 })
        if !users.isEmpty {
            lines += ["", "users:"]
            for user in users {
                lines.append("  \(user.user)\(user.change == .changed ? "" : " (\(user.change.rawValue))"):")
                for server in user.servers {
                    lines.append("    \(server.gained ? "+" : "-") \(server.server)  \(plain.via(server))")
                }
                for (server, rules) in user.rulesByServer {
                    lines.append("    \(server):")
                    for rule in rules {
                        let note = rule.access == .none ? "  (no allow rule reaches it)" : ""
                        lines.append("      \(rule.added ? "+" : "-") \(rule.effect.rawValue) \(rule.rule)  \(plain.via(rule.via, was: !rule.added))" + note)
                    }
                }
                if let admin = user.admin { lines.append("    \(admin.new ? "+" : "-") gateway admin") }
            }
        }
        if !keys.isEmpty {
            lines += ["", "keys:"]
            for key in keys {
                let details = plain.details(key)
                lines.append("  \(Self.mark(key.change)) \(key.user)/\(key.key)" + (details.isEmpty ? "" : "  " + details.joined(separator: "; ")))
            }
        }
        if !servers.isEmpty {
            lines += ["", "servers:"]
            for server in servers {
                var line = "  \(Self.mark(server.change)) \(server.server)  [\(server.transport)]"
                if !server.fields.isEmpty { line += "  " + server.fields.joined(separator: ", ") }
                lines.append(line)
                lines += plain.details(server).map { "      " + $0 }
            }
        }
        if !roles.isEmpty {
            lines += ["", "roles:"]
            for role in roles { lines.append("  \(Self.mark(role.change)) \(role.role)" + plain.details(role).map { "  " + $0 }.joined()) }
        }
        if !teams.isEmpty {
            lines += ["", "teams:"]
            for team in teams { lines.append("  \(Self.mark(team.change)) \(team.org)/\(team.team)" + plain.details(team).map { "  " + $0 }.joined()) }
        }
        return lines.joined(separator: "\n")
    }

    static func mark(_ change: Change) -> String {
        switch change {
        case .added: "+"
        case .removed: "-"
        case .changed: "~"
        }
    }
}

extension PolicyDiff.UserChange {
    /// The rule changes grouped by server, servers in name order.
    var rulesByServer: [(String, [PolicyDiff.RuleAccess])] {
        var groups: [(String, [PolicyDiff.RuleAccess])] = []
        for rule in rules {
            if groups.last?.0 == rule.server { groups[groups.count - 1].1.append(rule) } else { groups.append((rule.server, [rule])) }
        }
        return groups
    }
}

/// The phrases the text and Markdown outputs share; `literal` marks what is quoted from the
/// file (a rule, a glob, a name), as code in Markdown.
struct Phrases {
    let literal: (String) -> String

    /// `via role editor in acme`, or for what was lost `was via …; now: why not`.
    func via(_ server: PolicyDiff.ServerAccess) -> String {
        via(server.via, was: !server.gained) + (server.now.map { "; now: \($0)" } ?? "")
    }

    func via(_ via: [PolicyDiff.Via], was: Bool) -> String {
        via.isEmpty ? "" : (was ? "was via " : "via ") + via.map(\.description).joined(separator: ", ")
    }

    func list(_ items: [String]) -> String { items.map(literal).joined(separator: ", ") }

    /// `+a, -b`.
    func changes(_ list: PolicyDiff.ListChange) -> String {
        (list.added.map { "+" + literal($0) } + list.removed.map { "-" + literal($0) }).joined(separator: ", ")
    }

    /// `(all)` for no list, `(none)` for an empty one.
    func globs(_ globs: [String]?) -> String {
        guard let globs else { return "(all)" }
        return globs.isEmpty ? "(none)" : list(globs)
    }

    func details(_ key: PolicyDiff.KeyChange) -> [String] {
        switch key.change {
        case .added:
            return (key.expires.new.map { ["expires \(Timestamp.format($0))"] } ?? []) + (key.scope.new.map { ["scope \(list($0))"] } ?? [])
        case .removed:
            return []
        case .changed:
            var parts: [String] = []
            if key.scopeChanged {
                parts.append("scope \(globs(key.scope.old)) -> \(globs(key.scope.new))" + (key.scopeWidened ? " (widened)" : ""))
            }
            if key.expiresChanged {
                let format = { (date: Date?) in date.map(Timestamp.format) ?? "never" }
                parts.append("expires \(format(key.expires.old)) -> \(format(key.expires.new))" + (key.expiryExtended ? " (extended)" : ""))
            }
            if key.tokenReplaced { parts.append("token replaced") }
            return parts
        }
    }

    /// One line per env, headers and filter change of a redefined server.
    func details(_ server: PolicyDiff.ServerChange) -> [String] {
        var lines: [String] = []
        for (field, names) in [("env", server.env), ("headers", server.headers)] where !names.isEmpty {
            let parts = names.added.map { "+" + literal($0) } + names.removed.map { "-" + literal($0) } + names.changed.map { "~" + literal($0) }
            lines.append("\(field): " + parts.joined(separator: ", "))
        }
        for filter in server.filters {
            if filter.allow.old.map(Set.init) != filter.allow.new.map(Set.init) {
                lines.append("\(filter.field).allow: \(globs(filter.allow.old)) -> \(globs(filter.allow.new))")
            }
            if !filter.deny.isEmpty { lines.append("\(filter.field).deny: \(changes(filter.deny))") }
        }
        if !server.approvals.isEmpty {
            lines.append("approve: \(changes(server.approvals))" + (server.approvalDropped ? " (approval dropped)" : ""))
        }
        return lines
    }

    func details(_ role: PolicyDiff.RoleChange) -> [String] {
        let parts = [("allow", role.allow), ("deny", role.deny)].compactMap { name, list -> String? in
            switch role.change {
            case .added: list.added.isEmpty ? nil : "\(name): \(self.list(list.added))"
            case .removed: nil
            case .changed: list.isEmpty ? nil : "\(name): \(changes(list))"
            }
        }
        return parts.isEmpty ? [] : [parts.joined(separator: "; ")]
    }

    func details(_ team: PolicyDiff.TeamChange) -> [String] {
        let parts = [("members", team.members), ("roles", team.roles)].compactMap { name, list -> String? in
            switch team.change {
            case .added: list.added.isEmpty ? nil : "\(name): \(self.list(list.added))"
            case .removed: nil
            case .changed: list.isEmpty ? nil : "\(name): \(changes(list))"
            }
        }
        return parts.isEmpty ? [] : [parts.joined(separator: "; ")]
    }
}
