public import Foundation

/// What changes between two compiled policies, for `orch diff`: who gains or loses which servers
/// and rules, and which keys, servers, roles and teams are added, removed or changed.
///
/// Access is compared on what the policies decide, not on their text: a user's reach is the
/// servers they may connect to, and on each, the allow and deny rules of the roles they hold there,
/// written with the server's own name (`notes:delete_*` whether the role says `notes:delete_*` or
/// `*:delete_*`). Moving a user to another role that grants the same changes nothing. Secrets are
/// never held here: a server's env and header values, command, args, cwd and url are compared, and
/// only the names of what changed are kept; a key's hash only as "the token was replaced".
public struct PolicyDiff: Sendable {
    public enum Change: String, Sendable, Hashable {
        case added, removed, changed
    }

    /// What brings a user a server or a rule: a role held in an org, directly or through a team.
    public struct Via: Sendable, Hashable {
        public let role: String
        public let org: String
        public let team: String?

        /// `role editor in acme (team data)`.
        public var description: String { "role \(role) in \(org)" + (team.map { " (team \($0))" } ?? "") }
    }

    /// A value before and after.
    public struct ValueChange<Value: Sendable & Hashable>: Sendable, Hashable {
        public let old: Value
        public let new: Value
    }

    /// Strings one side has and the other lacks, each in its file's order.
    public struct ListChange: Sendable, Hashable {
        public let added: [String]
        public let removed: [String]

        public var isEmpty: Bool { added.isEmpty && removed.isEmpty }

        init(old: [String], new: [String]) {
            added = Self.unique(new.filter { !old.contains($0) })
            removed = Self.unique(old.filter { !new.contains($0) })
        }

        private static func unique(_ list: [String]) -> [String] {
            list.reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
        }
    }

    /// A server a user may newly connect to (`gained`), or no longer may.
    public struct ServerAccess: Sendable, Hashable {
        /// `ORG/SERVER`.
        public let server: String
        public let gained: Bool
        /// The roles whose allow rules let the user connect: in the new policy when gained, in the
        /// old one when lost.
        public let via: [Via]
        /// When lost and the user is still in the new policy: why it refuses the server now.
        public let now: String?
    }

    /// What a rule change does to a user's access.
    public enum Access: String, Sendable, Hashable {
        /// An allow rule added, or a deny rule removed that some allow rule now lets through.
        case gained
        /// An allow rule removed, or a deny rule added over something an allow rule let through.
        case lost
        /// A deny rule added or removed where no allow rule reaches: nothing it names was allowed.
        case none
    }

    /// An allow or deny rule that starts or stops applying to a user on a server they may
    /// connect to before and after.
    public struct RuleAccess: Sendable, Hashable {
        public enum Effect: String, Sendable, Hashable {
            case allow, deny
        }

        /// `ORG/SERVER`.
        public let server: String
        public let effect: Effect
        /// `SERVER` or `SERVER:ITEM`, with the server's own name.
        public let rule: String
        public let added: Bool
        public let access: Access
        /// The roles that hold the rule: in the new policy when added, in the old one when removed.
        public let via: [Via]
    }

    public struct UserChange: Sendable {
        public let user: String
        /// `added`: only in the new policy; `removed`: only in the old one.
        public let change: Change
        public let servers: [ServerAccess]
        public let rules: [RuleAccess]
        /// `admin` before and after, when it changes.
        public let admin: ValueChange<Bool>?

        public var gainsAccess: Bool {
            servers.contains(where: \.gained) || rules.contains { $0.access == .gained } || admin?.new == true
        }

        public var losesAccess: Bool {
            servers.contains { !$0.gained } || rules.contains { $0.access == .lost } || admin?.new == false
        }
    }

    public struct KeyChange: Sendable {
        public let user: String
        public let key: String
        public let change: Change
        /// Scope entries as written; nil: no scope (all the user may reach). nil on the side
        /// where the key does not exist.
        public let scope: ValueChange<[String]?>
        public let expires: ValueChange<Date?>
        /// The same id with another hash: a new token.
        public let tokenReplaced: Bool

        public var scopeChanged: Bool { scope.old.map(Set.init) != scope.new.map(Set.init) }

        /// A scope taken away, or an entry added to it.
        public var scopeWidened: Bool {
            guard change == .changed, let old = scope.old else { return false }
            guard let new = scope.new else { return true }
            return !Set(new).isSubset(of: Set(old))
        }

        public var expiresChanged: Bool { expires.old != expires.new }

        /// An expiry taken away or moved later.
        public var expiryExtended: Bool {
            guard change == .changed, let old = expires.old else { return false }
            guard let new = expires.new else { return true }
            return new > old
        }

        public var gainsAccess: Bool { change == .added || scopeWidened || expiryExtended || (change == .changed && tokenReplaced) }
    }

    /// Names (env variables or headers) added, removed, or whose value changed; values are never kept.
    public struct NameChanges: Sendable, Hashable {
        public let added: [String]
        public let removed: [String]
        public let changed: [String]

        public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty }

        init(old: [NameValue], new: [NameValue]) {
            added = new.filter { n in !old.contains { $0.name == n.name } }.map(\.name)
            removed = old.filter { o in !new.contains { $0.name == o.name } }.map(\.name)
            changed = new.filter { n in old.contains { $0.name == n.name && $0.value != n.value } }.map(\.name)
        }
    }

    /// A server's `tools`, `prompts` or `resources` filter, changed.
    public struct FilterChange: Sendable, Hashable {
        /// `tools`, `prompts` or `resources`.
        public let field: String
        /// The `allow` globs; nil: no allow list (everything not denied passes).
        public let allow: ValueChange<[String]?>
        public let deny: ListChange

        /// A deny glob removed, or the allow list taken away or given a glob: more passes.
        public var widens: Bool {
            if !deny.removed.isEmpty { return true }
            guard let old = allow.old else { return false }
            guard let new = allow.new else { return true }
            return !Set(new).isSubset(of: Set(old))
        }
    }

    public struct ServerChange: Sendable {
        /// `ORG/SERVER`.
        public let server: String
        /// `changed` is a server redefined.
        public let change: Change
        /// `stdio`, `streamable-http` or `sse` (the old one for a removed server).
        public let transport: String
        /// What changed, among `transport`, `command`, `args`, `cwd`, `url`, `env`, `headers`,
        /// `tools`, `prompts`, `resources`, `disabled`, `prefix` and `timeoutSeconds`.
        public let fields: [String]
        public let env: NameChanges
        public let headers: NameChanges
        public let filters: [FilterChange]
        /// Its `approve` rules added and removed, as `ApprovalRule.description` writes them.
        public var approvals = ListChange(old: [], new: [])
        /// A tool glob that needed someone's approval (the caller's, or a role's) and no longer does.
        public var approvalDropped = false

        /// A filter that lets more through, or an approval taken away.
        public var gainsAccess: Bool { filters.contains(where: \.widens) || approvalDropped }
    }

    public struct RoleChange: Sendable {
        public let role: String
        public let change: Change
        public let allow: ListChange
        public let deny: ListChange
    }

    public struct TeamChange: Sendable {
        public let org: String
        public let team: String
        public let change: Change
        public let members: ListChange
        public let roles: ListChange
    }

    /// Users whose access changes, by name.
    public let users: [UserChange]
    /// By user, then key id.
    public let keys: [KeyChange]
    /// By `ORG/SERVER`.
    public let servers: [ServerChange]
    public let roles: [RoleChange]
    /// By org, then team.
    public let teams: [TeamChange]

    public var isEmpty: Bool { users.isEmpty && keys.isEmpty && servers.isEmpty && roles.isEmpty && teams.isEmpty }

    /// Whether anyone gains anything: a server or rule for a user, admin, a key added, a key's
    /// scope widened, expiry extended or token replaced, a server filter that lets more through.
    public var grantsAccess: Bool {
        users.contains(where: \.gainsAccess) || keys.contains(where: \.gainsAccess) || servers.contains(where: \.gainsAccess)
    }

    /// One line: `2 users gain access, 1 loses; 1 key added`, or `no access changes`.
    public var summary: String {
        var parts: [String] = []
        let gain = users.filter(\.gainsAccess).count, lose = users.filter(\.losesAccess).count
        if gain > 0 {
            parts.append("\(Self.count(gain, "user")) \(gain == 1 ? "gains" : "gain") access" + (lose > 0 ? ", \(lose) \(lose == 1 ? "loses" : "lose")" : ""))
        } else if lose > 0 {
            parts.append("\(Self.count(lose, "user")) \(lose == 1 ? "loses" : "lose") access")
        }
        parts += [
            Self.tally("key", keys.map { $0.change.rawValue }),
            Self.tally("server", servers.map { $0.change == .changed ? "redefined" : $0.change.rawValue }),
            Self.tally("role", roles.map { $0.change.rawValue }),
            Self.tally("team", teams.map { $0.change.rawValue }),
        ].compactMap { $0 }
        return parts.isEmpty ? "no access changes" : parts.joined(separator: "; ")
    }

    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    /// `2 keys added, 1 removed`: the noun once, the kinds in the order added, removed, changed.
    private static func tally(_ noun: String, _ changes: [String]) -> String? {
        let kinds = ["added", "removed", "changed", "redefined"].compactMap { kind -> (Int, String)? in
            let n = changes.filter { $0 == kind }.count
            return n > 0 ? (n, kind) : nil
        }
        guard let first = kinds.first else { return nil }
        return (["\(count(first.0, noun)) \(first.1)"] + kinds.dropFirst().map { "\($0.0) \($0.1)" }).joined(separator: ", ")
    }
}
