import Foundation

/// SplitMix64: a tiny seeded generator, so that a failing random policy can be rebuilt from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random small policies drawn from small alphabets, so that globs, names and orgs collide often.
enum RandomPolicy {
    static let orgNames = ["acme", "globex", "initech"]
    static let serverNames = ["excel", "exchange", "search", "sheets", "mail"]
    static let roleNames = ["admin", "member", "editor", "viewer"]
    static let userNames = ["alice", "bob", "carol", "dave", "erin"]
    static let teamNames = ["data", "ops"]
    static let tools = ["read_sheet", "write_sheet", "delete_sheet", "get_info", "read_", "search", "run"]
    /// Items as written after `SERVER:` in a target: tools, prompts and resources.
    static let items = tools + ["prompts/summarize", "prompts/read_sheet", "prompts/draft_note",
                                "resources/file:///srv/a.txt", "resources/file:///srv/shared/b", "resources/mem://x/y:z"]
    static let serverGlobs = ["*", "excel", "ex*", "*e*", "s*", "mail", "*h", "exchange", "*x*l", "nomatch"]
    static let toolGlobs = ["*", "read_*", "*_sheet", "get_*", "*e*", "run", "delete_sheet", "*_*", "r*n", "*_"]
    static let promptGlobs = ["*", "summ*", "*_note", "read_*", "draft_note", "*e*"]
    static let resourceGlobs = ["*", "file:///*", "file:///srv/shared/*", "mem://*", "*.txt", "*:*", "*/b"]
    /// Rule item parts of every kind: mostly tools, as files have them.
    static var itemGlobs: [String] {
        toolGlobs + toolGlobs + promptGlobs.map { "prompts/" + $0 } + resourceGlobs.map { "resources/" + $0 }
    }
    static let orgGlobs = ["*", "acme", "globex", "a*", "*x"]
    /// Expiry as written in the file, and the instant it means (computed here, not by the parser).
    static let expiries: [(String, Date)] = [
        ("2026-06-01", utc("2026-06-01T00:00:00Z")),
        ("2027-01-01", utc("2027-01-01T00:00:00Z")),
        ("2027-01-01T12:00:00+02:00", utc("2027-01-01T10:00:00Z")),
        ("2027-06-30T23:30:00Z", utc("2027-06-30T23:30:00Z")),
    ]
    /// Decision times: before, exactly at and after the expiries above.
    static let times = [
        utc("2026-11-25T00:00:00Z"), utc("2027-01-01T00:00:00Z"), utc("2027-01-01T10:00:00Z"), utc("2028-01-01T00:00:00Z"),
    ]

    static func make(seed: UInt64) -> ModelPolicy {
        var rng = SplitMix64(seed: seed)
        func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
        func pick<T>(_ items: [T]) -> T { items.randomElement(using: &rng)! }
        func some<T>(_ items: [T], _ range: ClosedRange<Int>) -> [T] {
            Array(items.shuffled(using: &rng).prefix(Int.random(in: range, using: &rng)))
        }
        func rule() -> String { chance(0.35) ? pick(serverGlobs) : "\(pick(serverGlobs)):\(pick(itemGlobs))" }
        func filter(_ globs: [String]) -> ModelPolicy.Filter? {
            let allow: [String]? = chance(0.25) ? some(globs, 1...2) : nil
            let deny: [String] = chance(0.3) ? some(globs, 1...1) : []
            return allow == nil && deny.isEmpty ? nil : ModelPolicy.Filter(allow: allow, deny: deny)
        }

        var model = ModelPolicy()
        let roleNames = some(Self.roleNames, 3...4)
        model.roles = roleNames.map { name in
            ModelPolicy.Role(name: name, allow: (0..<Int.random(in: 0...3, using: &rng)).map { _ in rule() },
                             deny: (0..<(chance(0.5) ? 0 : Int.random(in: 1...2, using: &rng))).map { _ in rule() })
        }
        let userNames = some(Self.userNames, 3...5)
        model.users = userNames.enumerated().map { u, name in
            let keys = (0..<Int.random(in: 0...2, using: &rng)).map { k -> ModelPolicy.Key in
                let expiry: (String, Date)? = chance(0.5) ? pick(expiries) : nil
                let scope: [String]? = chance(0.5) ? nil : (0..<Int.random(in: 1...2, using: &rng)).map { _ in
                    "\(pick(orgGlobs))/\(rule())"
                }
                return ModelPolicy.Key(id: "k\(k + 1)", token: "orch_\(seed)-\(u)-\(k)", expiresText: expiry?.0,
                                       expires: expiry?.1, scope: scope)
            }
            return ModelPolicy.User(name: name, disabled: chance(0.15), keys: keys)
        }
        model.orgs = some(orgNames, 2...3).map { name in
            let members = userNames.filter { _ in chance(0.6) }.map { user in
                (user: user, roles: some(roleNames, 1...2), asList: chance(0.5))
            }
            let teams = some(teamNames, 0...2).map { team in
                ModelPolicy.Team(name: team, members: userNames.filter { _ in chance(0.4) }, roles: some(roleNames, 1...2))
            }
            let servers = some(serverNames, 3...5).map { server in
                ModelPolicy.Server(
                    name: server, disabled: chance(0.15),
                    filters: ["tools": filter(toolGlobs), "prompts": filter(promptGlobs), "resources": filter(resourceGlobs)]
                        .compactMapValues { $0 })
            }
            return ModelPolicy.Org(name: name, members: members, teams: teams, servers: servers)
        }
        return model
    }

    /// The model as orch.json text, written by hand rather than through OrchJSON.
    static func json(_ model: ModelPolicy, hashOf: (String) -> String) -> String {
        func list(_ items: [String]) -> String { "[" + items.map { "\"\($0)\"" }.joined(separator: ", ") + "]" }
        func object(_ members: [String], indent: String) -> String {
            members.isEmpty ? "{}" : "{\n" + members.map { indent + "  " + $0 }.joined(separator: ",\n") + "\n" + indent + "}"
        }
        let roles = model.roles.map { role in
            "\"\(role.name)\": { \"allow\": \(list(role.allow))" + (role.deny.isEmpty ? "" : ", \"deny\": \(list(role.deny))") + " }"
        }
        let orgs = model.orgs.map { org in
            let members = org.members.map { m in
                "\"\(m.user)\": " + (m.asList || m.roles.count > 1 ? list(m.roles) : "\"\(m.roles[0])\"")
            }
            let teams = org.teams.map { "\"\($0.name)\": { \"members\": \(list($0.members)), \"roles\": \(list($0.roles)) }" }
            let servers = org.servers.map { s in
                var fields = ["\"command\": \"mcp-\(s.name)\""]
                if s.disabled { fields.append("\"disabled\": true") }
                for field in ["tools", "prompts", "resources"] {
                    guard let f = s.filters[field] else { continue }
                    var filter: [String] = []
                    if let allow = f.allow { filter.append("\"allow\": \(list(allow))") }
                    if !f.deny.isEmpty { filter.append("\"deny\": \(list(f.deny))") }
                    fields.append("\"\(field)\": { " + filter.joined(separator: ", ") + " }")
                }
                return "\"\(s.name)\": { " + fields.joined(separator: ", ") + " }"
            }
            var parts = ["\"members\": " + object(members, indent: "      ")]
            if !teams.isEmpty { parts.append("\"teams\": " + object(teams, indent: "      ")) }
            parts.append("\"servers\": " + object(servers, indent: "      "))
            return "\"\(org.name)\": " + object(parts, indent: "    ")
        }
        let users = model.users.map { user in
            let keys = user.keys.map { k in
                var fields = ["\"id\": \"\(k.id)\"", "\"sha256\": \"\(hashOf(k.token))\""]
                if let e = k.expiresText { fields.append("\"expires\": \"\(e)\"") }
                if let s = k.scope { fields.append("\"scope\": \(list(s))") }
                return "{ " + fields.joined(separator: ", ") + " }"
            }
            var fields: [String] = []
            if user.disabled { fields.append("\"disabled\": true") }
            fields.append("\"keys\": [" + keys.joined(separator: ", ") + "]")
            return "\"\(user.name)\": { " + fields.joined(separator: ", ") + " }"
        }
        return object([
            "\"version\": 1",
            "\"roles\": " + object(roles, indent: "  "),
            "\"orgs\": " + object(orgs, indent: "  "),
            "\"users\": " + object(users, indent: "  "),
        ], indent: "") + "\n"
    }
}
