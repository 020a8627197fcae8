import Foundation

// A second, deliberately simple reading of DESIGN.md "Decisions", written from the text alone. It
// shares no code with OrchPolicy: its own model, its own glob matcher, no indexes, no caching.

/// A generated orch.json, as plain data. `RandomPolicy.json` writes it out as the file.
struct ModelPolicy {
    struct Role { var name: String; var allow: [String]; var deny: [String] }
    struct Team { var name: String; var members: [String]; var roles: [String] }
    struct Server { var name: String; var disabled: Bool; var toolsAllow: [String]?; var toolsDeny: [String] }
    struct Org { var name: String; var members: [(user: String, roles: [String], asList: Bool)]; var teams: [Team]; var servers: [Server] }
    struct Key { var id: String; var token: String; var expiresText: String?; var expires: Date?; var scope: [String]? }
    struct User { var name: String; var disabled: Bool; var keys: [Key] }

    var roles: [Role] = []
    var orgs: [Org] = []
    var users: [User] = []
}

/// Why the reference evaluator decided as it did: the step of DESIGN.md "Decisions" that answered.
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
        case .hiddenByServerFilter: "hidden by the server's tools filter"
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

    /// A rule `SERVER` or `SERVER:TOOL` split at its first colon.
    static func split(rule: String) -> (server: String, tool: String?) {
        guard let colon = rule.firstIndex(of: ":") else { return (rule, nil) }
        return (String(rule[..<colon]), String(rule[rule.index(after: colon)...]))
    }

    /// Does a role rule match server `s` and, for a tool target, tool `t`? A rule without a tool
    /// part means every tool.
    static func ruleMatches(_ rule: String, server s: String, tool t: String) -> Bool {
        let (server, tool) = split(rule: rule)
        return globMatches(server, s) && (tool.map { globMatches($0, t) } ?? true)
    }

    /// Does the rule deny the whole server: server glob matches and tool part absent or `*`?
    static func ruleDeniesWholeServer(_ rule: String, server s: String) -> Bool {
        let (server, tool) = split(rule: rule)
        return globMatches(server, s) && (tool == nil || tool == "*")
    }

    /// A scope entry `ORG/SERVER` or `ORG/SERVER:TOOL` split at its first slash.
    static func scopeMatches(_ entry: String, org o: String, server s: String, tool t: String?) -> Bool {
        let slash = entry.firstIndex(of: "/")!
        let org = String(entry[..<slash])
        let (server, tool) = split(rule: String(entry[entry.index(after: slash)...]))
        guard globMatches(org, o), globMatches(server, s) else { return false }
        guard let t, let tool else { return true }
        return globMatches(tool, t)
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

    /// DESIGN.md "Decisions", steps 1 to 5, in order.
    static func decide(_ model: ModelPolicy, user name: String, org orgName: String, server serverName: String,
                       tool: String?, key choice: KeyChoice, at now: Date) -> ExpectedReason {
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

        if let tool {
            // 4. Deny wins; then an allow rule is needed; then the server filter; then the scope.
            if roles.contains(where: { $0.deny.contains { ruleMatches($0, server: serverName, tool: tool) } }) {
                return .deniedByRule
            }
            if !roles.contains(where: { $0.allow.contains { ruleMatches($0, server: serverName, tool: tool) } }) {
                return .noAllowRule
            }
            if server.toolsDeny.contains(where: { globMatches($0, tool) }) { return .hiddenByServerFilter }
            if let allow = server.toolsAllow, !allow.contains(where: { globMatches($0, tool) }) {
                return .hiddenByServerFilter
            }
            if let scope = key?.scope, !scope.contains(where: { scopeMatches($0, org: orgName, server: serverName, tool: tool) }) {
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
        if let scope = key?.scope, !scope.contains(where: { scopeMatches($0, org: orgName, server: serverName, tool: nil) }) {
            return .outsideKeyScope
        }
        return .allowed
    }
}
