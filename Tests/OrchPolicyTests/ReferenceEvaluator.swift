import Foundation

// A second, deliberately simple reading of docs/reference/orch-json.md "Decisions", written from the text alone. It
// shares no code with OrchPolicy: its own model, its own glob matcher, no indexes, no caching.

/// A generated orch.json, as plain data. `RandomPolicy.json` writes it out as the file.
struct ModelPolicy {
    struct Role { var name: String; var allow: [String]; var deny: [String] }
    struct Team { var name: String; var members: [String]; var roles: [String] }
    /// A server's filter of one kind: `allow` (nil when absent) and `deny` globs.
    struct Filter { var allow: [String]?; var deny: [String] }
    /// `filters` by the kind's field name: "tools", "prompts", "resources".
    struct Server { var name: String; var disabled: Bool; var filters: [String: Filter] }
    struct Org { var name: String; var members: [(user: String, roles: [String], asList: Bool)]; var teams: [Team]; var servers: [Server] }
    struct Key { var id: String; var token: String; var expiresText: String?; var expires: Date?; var scope: [String]? }
    struct User { var name: String; var disabled: Bool; var keys: [Key] }

    var roles: [Role] = []
    var orgs: [Org] = []
    var users: [User] = []
}

/// Why the reference evaluator decided as it did: the step of docs/reference/orch-json.md "Decisions" that answered.
enum ExpectedReason: Equatable, CustomStringConvertible {
    case unknownUser, userDisabled, unknownKey, keyNotOfUser, keyExpired
    case unknownServer, serverDisabled, notMember
    case deniedByRule, noAllowRule, hiddenByServerFilter, outsideKeyScope
    case allowed

    var description: String {
        switch self {
        case .unknownUser: "unknown user"
        case .userDisabled: "user disabled"
        case .unknownKey: "unknown key"
        case .keyNotOfUser: "key not of user"
        case .keyExpired: "key expired"
        case .unknownServer: "unknown server"
        case .serverDisabled: "server disabled"
        case .notMember: "not a member"
        case .deniedByRule: "denied by a rule"
        case .noAllowRule: "no allow rule"
        case .hiddenByServerFilter: "hidden by the server's filter"
        case .outsideKeyScope: "outside the key's scope"
        case .allowed: "allowed"
        }
    }
}

enum Reference {
    /// `*` matches any run of characters (also empty); everything else matches itself.
    static func globMatches(_ pattern: Substring, _ subject: Substring) -> Bool {
        guard let first = pattern.first else { return subject.isEmpty }
        if first == "*" {
            return globMatches(pattern.dropFirst(), subject)
                || (!subject.isEmpty && globMatches(pattern, subject.dropFirst()))
        }
        return subject.first == first && globMatches(pattern.dropFirst(), subject.dropFirst())
    }

    static func globMatches(_ pattern: String, _ subject: String) -> Bool {
        globMatches(pattern[...], subject[...])
    }

    /// A rule `SERVER` or `SERVER:ITEM` split at its first colon.
    static func split(rule: String) -> (server: String, item: String?) {
        guard let colon = rule.firstIndex(of: ":") else { return (rule, nil) }
        return (String(rule[..<colon]), String(rule[rule.index(after: colon)...]))
    }

    /// An item as written after `SERVER:` in a rule or target: `prompts/NAME`, `resources/URI`,
    /// or a tool name. Returns the filter field of its kind and the name (or glob).
    static func kind(of item: String) -> (field: String, name: String) {
        for field in ["prompts", "resources"] where item.hasPrefix(field + "/") {
            return (field, String(item.dropFirst(field.count + 1)))
        }
        return ("tools", item)
    }

    /// Does an item part of a rule (nil: the whole server) match the item? Same kind, and the glob
    /// matches its name.
    static func partMatches(_ part: String?, item: String) -> Bool {
        guard let part else { return true }
        let (ruleKind, glob) = kind(of: part)
        let (itemKind, name) = kind(of: item)
        return ruleKind == itemKind && globMatches(glob, name)
    }

    /// Does an allow rule match server `s` and the item (`TOOL`, `prompts/NAME`, `resources/URI`)?
    static func ruleAllows(_ rule: String, server s: String, item: String) -> Bool {
        let (server, part) = split(rule: rule)
        return globMatches(server, s) && partMatches(part, item: item)
    }

    /// Does a deny rule match? A deny of the whole server (`SERVER` or `SERVER:*`) denies every kind.
    static func ruleDenies(_ rule: String, server s: String, item: String) -> Bool {
        ruleDeniesWholeServer(rule, server: s) || ruleAllows(rule, server: s, item: item)
    }

    /// Does the rule deny the whole server: server glob matches and tool part absent or `*`?
    static func ruleDeniesWholeServer(_ rule: String, server s: String) -> Bool {
        let (server, part) = split(rule: rule)
        return globMatches(server, s) && (part == nil || part == "*")
    }

    /// A scope entry `ORG/SERVER` or `ORG/SERVER:ITEM` split at its first slash; without an item
    /// it covers the whole server.
    static func scopeMatches(_ entry: String, org o: String, server s: String, item: String?) -> Bool {
        let slash = entry.firstIndex(of: "/")!
        let org = String(entry[..<slash])
        let (server, part) = split(rule: String(entry[entry.index(after: slash)...]))
        guard globMatches(org, o), globMatches(server, s) else { return false }
        guard let item else { return true }
        return partMatches(part, item: item)
    }

    /// A role held by `user` in `org`, and the team it came through (nil when held directly).
    struct Held { var role: String; var team: String? }

    /// R: the user's member roles in the org plus the roles of every team of the org listing them.
    static func held(by user: String, in org: ModelPolicy.Org) -> [Held] {
        var out: [Held] = []
        for member in org.members where member.user == user {
            out += member.roles.map { Held(role: $0, team: nil) }
        }
        for team in org.teams where team.members.contains(user) {
            out += team.roles.map { Held(role: $0, team: team.name) }
        }
        return out
    }

    enum KeyChoice {
        case none
        /// By id among the user's own keys (as `orch can --key` and the file's tests ask).
        case named(String)
        /// A key found by its token, whoever it belongs to (as the gateway asks).
        case token(String)
    }

    /// docs/reference/orch-json.md "Decisions", steps 1 to 5, in order.
    static func decide(_ model: ModelPolicy, user name: String, org orgName: String, server serverName: String,
                       item: String?, key choice: KeyChoice, at now: Date) -> ExpectedReason {
        // 1. The user exists and is not disabled; a key is one of theirs and not expired.
        guard let user = model.users.first(where: { $0.name == name }) else { return .unknownUser }
        if user.disabled { return .userDisabled }
        var key: ModelPolicy.Key? = nil
        switch choice {
        case .none:
            break
        case .named(let id):
            guard let k = user.keys.first(where: { $0.id == id }) else { return .unknownKey }
            key = k
        case .token(let token):
            guard let k = user.keys.first(where: { $0.token == token }) else { return .keyNotOfUser }
            key = k
        }
        if let expires = key?.expires, now >= expires { return .keyExpired }

        // 2. The server exists and is not disabled.
        guard let org = model.orgs.first(where: { $0.name == orgName }),
            let server = org.servers.first(where: { $0.name == serverName })
        else { return .unknownServer }
        if server.disabled { return .serverDisabled }

        // 3. The roles held in the org.
        let roles = held(by: name, in: org).compactMap { h in model.roles.first { $0.name == h.role } }
        if roles.isEmpty { return .notMember }

        if let item {
            // 4. Deny wins; then an allow rule is needed; then the server filter of the item's
            // kind; then the scope.
            if roles.contains(where: { $0.deny.contains { ruleDenies($0, server: serverName, item: item) } }) {
                return .deniedByRule
            }
            if !roles.contains(where: { $0.allow.contains { ruleAllows($0, server: serverName, item: item) } }) {
                return .noAllowRule
            }
            let (field, name) = kind(of: item)
            if let filter = server.filters[field] {
                if filter.deny.contains(where: { globMatches($0, name) }) { return .hiddenByServerFilter }
                if let allow = filter.allow, !allow.contains(where: { globMatches($0, name) }) { return .hiddenByServerFilter }
            }
            if let scope = key?.scope, !scope.contains(where: { scopeMatches($0, org: orgName, server: serverName, item: item) }) {
                return .outsideKeyScope
            }
            return .allowed
        }

        // 5. Connecting to the server: no whole-server deny, some allow rule for it, the scope.
        if roles.contains(where: { $0.deny.contains { ruleDeniesWholeServer($0, server: serverName) } }) {
            return .deniedByRule
        }
        if !roles.contains(where: { $0.allow.contains { globMatches(split(rule: $0).server, serverName) } }) {
            return .noAllowRule
        }
        if let scope = key?.scope, !scope.contains(where: { scopeMatches($0, org: orgName, server: serverName, item: nil) }) {
            return .outsideKeyScope
        }
        return .allowed
    }
}
