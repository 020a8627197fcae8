import Foundation
import FuzzKit
import OrchJSON
import OrchPolicy

/// A UTC instant from RFC 3339 text. RandomPolicy.swift reads its times with it; in the tests it
/// comes from TestSupport.swift, which needs the Testing module.
func utc(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    guard let date = formatter.date(from: text) else { preconditionFailure("bad time \(text)") }
    return date
}

/// `PolicyCompiler.compile`, two ways in:
///
/// - an input starting with `{` is compiled as the file it is (seeds: the repo's orch.json files);
/// - any other input is a stream of choices: a `RandomPolicy` model (the policy tests' generator)
///   from its first 8 bytes, then edits of that model, decorations that decide nothing (gateway
///   settings, remote servers, `${env:…}`, descriptions), `tests` whose expectations come from the
///   tests' `Reference` evaluator (now and then one of them flipped), and sometimes structural
///   mutations of the JSON (wrong types, removed or unknown keys, odd strings).
///
/// Always: no crash; `ok` iff no error diagnostic; `--strict` gives the same diagnostics as errors;
/// the compact form of a document gives the same diagnostics (their places aside); in a compiled policy, deciding by
/// name and by id agree, a key never allows more than its user, an allowed item means the user may
/// connect and `grantsSome` of its kind. For a generated, unmutated document: it compiles exactly
/// when no test was flipped (else each flipped test fails), and `decide` agrees with `Reference`.
enum CompileTarget {
    static let target = FuzzTarget(
        "compile", "PolicyCompiler.compile on generated and mutated orch.json; decide against the reference evaluator",
        flags: ["-max_len=16384"], check: check)

    static let now = utc("2026-11-25T00:00:00Z")
    static let environment = ["HOST": "mcp.example.com", "TOKEN": "t0k3n", "HOME": "/home/orch"]

    static func options(strict: Bool = false) -> CompileOptions {
        CompileOptions(environment: environment, now: now, strict: strict)
    }

    static func check(_ bytes: [UInt8]) {
        if bytes.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) == UInt8(ascii: "{") {
            let result = compile(bytes)
            if let value = try? JSONValue.parse(bytes) {
                let again = PolicyCompiler.compile(Array(value.compact.utf8), options: options())
                // The same problems at the same paths; their places (line, column) differ with the layout.
                require(again.diagnostics.map(unplaced) == result.diagnostics.map(unplaced),
                        "the compact form compiles to other diagnostics:\n\(lines(result.diagnostics))\n--- compact:\n\(lines(again.diagnostics))")
            }
            if let policy = result.policy { exercise(policy) }
        } else {
            generated(bytes)
        }
    }

    /// Compiles, and checks what holds of every compile.
    static func compile(_ bytes: [UInt8]) -> CompileResult {
        let result = PolicyCompiler.compile(bytes, options: options())
        let hasError = result.diagnostics.contains { $0.severity == .error }
        require(result.ok == !hasError && result.ok == (result.policy != nil),
                "ok = \(result.ok), policy \(result.policy == nil ? "absent" : "present"), diagnostics:\n\(lines(result.diagnostics))")
        let strict = PolicyCompiler.compile(bytes, options: options(strict: true))
        let asErrors = result.diagnostics.map { d -> Diagnostic in var d = d; d.severity = .error; return d }
        require(strict.diagnostics == asErrors && strict.ok == result.diagnostics.isEmpty,
                "--strict differs:\n\(lines(result.diagnostics))\n--- strict (ok = \(strict.ok)):\n\(lines(strict.diagnostics))")
        return result
    }

    /// A diagnostic without its place in the file.
    static func unplaced(_ diagnostic: Diagnostic) -> Diagnostic {
        var d = diagnostic
        (d.line, d.column) = (nil, nil)
        return d
    }

    static func lines(_ diagnostics: [Diagnostic]) -> String {
        diagnostics.map { $0.rendered(file: "orch.json") }.joined(separator: "\n")
    }

    // MARK: Generated documents

    static func generated(_ bytes: [UInt8]) {
        var c = Choices(bytes)
        let seed = c.uint64()
        var model = RandomPolicy.make(seed: seed)
        var valid = true
        while let edit = Edit(rawValue: c.int(0...15)), edit != .stop {
            apply(edit, to: &model, &c, valid: &valid)
        }
        let text = RandomPolicy.json(model) { KeyHash(token: $0).hex }
        guard case .object(var doc)? = try? JSONValue.parse(text) else { fuzzFailure("RandomPolicy.json wrote invalid JSON:\n\(text)") }
        decorate(&doc, model, &c)
        let flipped = addTests(&doc, model, &c)
        var value = JSONValue.object(doc)
        let mutations = c.chance(30) ? c.int(1...4) : 0
        for _ in 0..<mutations { mutate(&value, &c, depth: 0) }
        let document = c.chance(50) ? value.pretty : value.compact
        let result = compile(Array(document.utf8))
        let context = "seed 0x\(String(seed, radix: 16)), document:\n\(document)\ndiagnostics:\n\(lines(result.diagnostics))"
        guard mutations == 0 else {
            if let policy = result.policy { exercise(policy) }
            return
        }
        if valid {
            let errors = Set(result.errors.map(\.path))
            require(errors == flipped && result.errors.allSatisfy { $0.message.hasPrefix("test failed") },
                    "expected errors exactly at the flipped tests \(flipped.sorted()); \(context)")
        }
        guard let policy = result.policy else { return }
        compareWithReference(policy, model, seed: seed, context)
        exercise(policy)
    }

    /// Changes of the model. Those marked so make the file invalid (an unknown role or user, a
    /// hash used twice); the rest keep it valid.
    enum Edit: Int {
        case stop, allowRule, denyRule, dropRule, userDisabled, serverDisabled, keyScope, keyExpiry, memberRoles, teamMember
        case filter, dropServer, unknownRole, unknownMember, sameToken, emptyRole
    }

    static func rule(_ c: inout Choices) -> String {
        c.chance(35) ? c.pick(RandomPolicy.serverGlobs) : "\(c.pick(RandomPolicy.serverGlobs)):\(c.pick(RandomPolicy.itemGlobs))"
    }

    static func apply(_ edit: Edit, to model: inout ModelPolicy, _ c: inout Choices, valid: inout Bool) {
        let r = c.int(0...(model.roles.count - 1))
        let u = c.int(0...(model.users.count - 1))
        let o = c.int(0...(model.orgs.count - 1))
        let s = model.orgs[o].servers.isEmpty ? nil : c.int(0...(model.orgs[o].servers.count - 1))
        let k = model.users[u].keys.isEmpty ? nil : c.int(0...(model.users[u].keys.count - 1))
        switch edit {
        case .stop: break
        case .allowRule: model.roles[r].allow.append(rule(&c))
        case .denyRule: model.roles[r].deny.append(rule(&c))
        case .dropRule:
            if c.chance(50), !model.roles[r].allow.isEmpty { model.roles[r].allow.removeLast() } else if !model.roles[r].deny.isEmpty { model.roles[r].deny.removeLast() }
        case .userDisabled: model.users[u].disabled.toggle()
        case .serverDisabled: if let s { model.orgs[o].servers[s].disabled.toggle() }
        case .keyScope:
            if let k {
                model.users[u].keys[k].scope = c.chance(30) ? nil : (0..<c.int(1...3)).map { _ in "\(c.pick(RandomPolicy.orgGlobs))/\(rule(&c))" }
            }
        case .keyExpiry:
            if let k {
                let expiry: (String, Date)? = c.chance(30) ? nil : c.pick(RandomPolicy.expiries)
                model.users[u].keys[k].expiresText = expiry?.0
                model.users[u].keys[k].expires = expiry?.1
            }
        case .memberRoles:
            let names = model.roles.map(\.name).filter { _ in c.chance(40) }
            let user = model.users[u].name
            model.orgs[o].members.removeAll { $0.user == user }
            if c.chance(80) { model.orgs[o].members.append((user: user, roles: names, asList: names.count != 1 || c.chance(50))) }
        case .teamMember:
            if !model.orgs[o].teams.isEmpty {
                let t = c.int(0...(model.orgs[o].teams.count - 1))
                let user = model.users[u].name
                if model.orgs[o].teams[t].members.contains(user) {
                    model.orgs[o].teams[t].members.removeAll { $0 == user }
                } else {
                    model.orgs[o].teams[t].members.append(user)
                }
            }
        case .filter:
            if let s {
                let (field, globs) = c.pick([("tools", RandomPolicy.toolGlobs), ("prompts", RandomPolicy.promptGlobs), ("resources", RandomPolicy.resourceGlobs)])
                model.orgs[o].servers[s].filters[field] = c.chance(25) ? nil : ModelPolicy.Filter(
                    allow: c.chance(50) ? nil : globs.filter { _ in c.chance(30) },
                    deny: globs.filter { _ in c.chance(20) })
            }
        case .dropServer:
            if let s, model.orgs[o].servers.count > 1 { model.orgs[o].servers.remove(at: s) }
        case .unknownRole:
            model.orgs[o].members.removeAll { $0.user == model.users[u].name }
            model.orgs[o].members.append((user: model.users[u].name, roles: ["nosuchrole"], asList: true))
            valid = false
        case .unknownMember:
            model.orgs[o].members.removeAll { $0.user == "nosuchuser" }
            model.orgs[o].members.append((user: "nosuchuser", roles: [model.roles[r].name], asList: false))
            valid = false
        case .sameToken:
            let all = model.users.flatMap(\.keys)
            if let k, all.count > 1 {
                let other = c.pick(all)
                if other.token != model.users[u].keys[k].token {
                    model.users[u].keys[k].token = other.token
                    valid = false
                }
            }
        case .emptyRole:
            model.roles[r].allow = []
            model.roles[r].deny = []
        }
    }

    /// Adds what decides nothing: gateway settings, remote servers, `${env:…}`, descriptions.
    static func decorate(_ doc: inout JSONObject, _ model: ModelPolicy, _ c: inout Choices) {
        if c.chance(30) {
            var gateway: JSONObject = [:]
            if c.chance(50) { gateway["listen"] = .string(c.pick(["127.0.0.1:8080", "[::1]:0", "0.0.0.0:65535"])) }
            if c.chance(50) { gateway["publicURL"] = .string(c.pick(["https://orch.example.com/", "http://10.0.0.1:8080/base"])) }
            if c.chance(50) { gateway["allowedOrigins"] = .strings(c.pick([["*"], ["https://a.example", "http://b.example:8080"], []])) }
            if c.chance(50) { gateway["audit"] = .string(c.pick(["-", "audit.log"])) }
            if c.chance(50) {
                gateway["limits"] = .object(JSONObject(["maxBodyBytes", "sessionIdleSeconds", "maxSessionsPerKey", "callTimeoutSeconds", "maxUpstreamProcesses"]
                    .filter { _ in c.chance(50) }.map { ($0, JSONValue.integer(Int64(c.int(1...300)))) }))
            }
            doc["gateway"] = .object(gateway)
        }
        update(&doc, "roles") { roles in
            for name in roles.keys where c.chance(20) { update(&roles, name) { $0["description"] = .string("role \(name)") } }
        }
        update(&doc, "users") { users in
            for name in users.keys {
                update(&users, name) { user in
                    if c.chance(20) { user["displayName"] = .string("User \(name)") }
                    if c.chance(10) { user["email"] = .string("\(name)@example.com") }
                    if c.chance(10) { user["admin"] = .bool(c.chance(50)) }
                    guard c.chance(30), var keys = user["keys"]?.arrayValue else { return }
                    for i in keys.indices {
                        guard case .object(var key) = keys[i] else { continue }
                        key["created"] = "2026-01-02T03:04:05Z"
                        key["description"] = .string("key \(i)")
                        keys[i] = .object(key)
                    }
                    user["keys"] = .array(keys)
                }
            }
        }
        update(&doc, "orgs") { orgs in
            for org in orgs.keys {
                update(&orgs, org) { o in
                    if c.chance(15) { o["displayName"] = .string("Org \(org)") }
                    update(&o, "servers") { servers in
                        for name in servers.keys { update(&servers, name) { decorate(server: &$0, &c) } }
                    }
                }
            }
        }
    }

    static func decorate(server: inout JSONObject, _ c: inout Choices) {
        if c.chance(20) { server["description"] = "a server" }
        if c.chance(10) { server["timeoutSeconds"] = .integer(Int64(c.int(1...600))) }
        switch c.int(0...5) {
        case 0:
            server["command"] = nil
            server["url"] = .string(c.pick(["https://${env:HOST}/mcp", "http://127.0.0.1:9/mcp?x=1", "https://mcp.example.com/sse"]))
            if c.chance(50) { server["transport"] = .string(c.pick(["sse", "streamable-http"])) }
            if c.chance(50) { server["headers"] = ["Authorization": "Bearer ${env:TOKEN}", "X-Trace": "1"] }
        case 1:
            server["args"] = ["--root", "${env:HOME:-/tmp}", "$$literal"]
            server["env"] = ["API_TOKEN": "${env:TOKEN}", "MODE": "read"]
            server["cwd"] = "${env:HOME}"
        default:
            break
        }
    }

    static let testTimes: [(String, Date)] = RandomPolicy.expiries + [
        ("2026-11-25T00:00:00Z", utc("2026-11-25T00:00:00Z")), ("2028-01-01", utc("2028-01-01T00:00:00Z")),
    ]

    /// Adds `tests` whose expectations are the reference's; returns the paths of those flipped.
    static func addTests(_ doc: inout JSONObject, _ model: ModelPolicy, _ c: inout Choices) -> Set<String> {
        var tests: [JSONValue] = []
        var flipped: Set<String> = []
        let servers = model.orgs.flatMap { org in org.servers.map { (org.name, $0.name) } }
        guard !servers.isEmpty else { return [] }
        for t in 0..<c.int(0...3) {
            let user = c.pick(model.users)
            let key = user.keys.isEmpty || c.chance(50) ? nil : c.pick(user.keys).id
            let at = c.chance(50) ? c.pick(testTimes) : nil
            var test: JSONObject = ["user": .string(user.name)]
            if let key { test["key"] = .string(key) }
            if let at { test["at"] = .string(at.0) }
            var lists: [String: [JSONValue]] = ["allow": [], "deny": []]
            for _ in 0..<c.int(1...4) {
                let (org, server) = c.pick(servers)
                let item: String? = c.chance(25) ? nil : c.pick(RandomPolicy.items)
                let expected = Reference.decide(model, user: user.name, org: org, server: server, item: item,
                                                key: key.map { .named($0) } ?? .none, at: at?.1 ?? now)
                var list = expected == .allowed ? "allow" : "deny"
                if c.chance(8) {
                    list = list == "allow" ? "deny" : "allow"
                    flipped.insert("tests[\(t)].\(list)[\(lists[list]!.count)]")
                }
                lists[list]!.append(.string(item.map { "\(org)/\(server):\($0)" } ?? "\(org)/\(server)"))
            }
            for (name, list) in lists where !list.isEmpty || c.chance(30) { test[name] = .array(list) }
            tests.append(.object(test))
        }
        if !tests.isEmpty || c.chance(20) { doc["tests"] = .array(tests) }
        return flipped
    }

    static func update(_ object: inout JSONObject, _ key: String, _ body: (inout JSONObject) -> Void) {
        guard case .object(var inner)? = object[key] else { return }
        body(&inner)
        object[key] = .object(inner)
    }

    // MARK: Structural mutations

    static let keys = [
        "version", "gateway", "roles", "orgs", "users", "tests", "listen", "publicURL", "allowedOrigins", "audit", "limits",
        "maxBodyBytes", "sessionIdleSeconds", "maxSessionsPerKey", "callTimeoutSeconds", "maxUpstreamProcesses", "description",
        "allow", "deny", "displayName", "members", "teams", "servers", "command", "args", "env", "cwd", "url", "transport",
        "headers", "disabled", "timeoutSeconds", "tools", "prompts", "resources", "email", "admin", "keys", "id", "sha256",
        "created", "expires", "scope", "token", "user", "key", "at", "$schema", "gatway", "Allow", "bob", "acme", "excel",
    ]
    static let strings = [
        "", "*", "a", "Admin", "a.b", "x/y", "x:", "x:prompts/", "x:prompt/a", "x:Resources/a", "x:tools/a", "x:res/y", "acme/notes",
        "acme/excel:read_sheet", "*/*", "a*/ex*:prompts/*", "acme", "acme/", "/excel", "${env:NOPE}", "${env:HOME}", "${foo}",
        "${env:1X}", "${", "$$", "${env:TOKEN:-d}", "2030-02-30", "2027-01-01T00:00:00+25:00", "2027-06-30T12:00:00.123Z",
        "0000-01-01", "9999-12-31T23:59:59Z", "127.0.0.1:8080", "[::1]:0", "localhost", "http://x", "https://a.example/path",
        "ftp://x", "https://u@x/", "https://x/#f", "-", "sse", "streamable-http", "ws", "orch_abc",
        String(repeating: "a", count: 63), String(repeating: "b", count: 64), String(repeating: "ab", count: 32),
        String(repeating: "AB", count: 32), "\u{0}", "é", "alice", "bob", "admin", "excel", "k1",
    ]

    static func scalar(_ c: inout Choices) -> JSONValue {
        switch c.int(0...5) {
        case 0: .null
        case 1: .bool(c.chance(50))
        case 2: .integer(c.pick([0, -1, 1, 2, 65535, 65536, 2147483647, 2147483648, .max, .min]))
        case 3: .real(c.pick([1.0, 1.5, -0.0, 1e300]))
        case 4: .string(String(decoding: c.data(max: 12), as: UTF8.self))
        default: .string(c.pick(strings))
        }
    }

    /// Walks down to a random place and changes it.
    static func mutate(_ value: inout JSONValue, _ c: inout Choices, depth: Int) {
        switch value {
        case .object(var object):
            let descend = !object.isEmpty && depth < 8 && c.chance(75)
            let i = object.isEmpty ? 0 : c.int(0...(object.count - 1))
            if descend {
                var child = object.values[i]
                mutate(&child, &c, depth: depth + 1)
                object[object.keys[i]] = child
            } else {
                switch c.int(0...3) {
                case 0 where !object.isEmpty: object[object.keys[i]] = nil
                case 1 where !object.isEmpty:
                    let (key, child) = (object.keys[i], object.values[i])
                    object[key] = nil
                    object[c.pick([key.uppercased(), String(key.dropLast()), key + "s", c.pick(keys)])] = child
                case 2: object[c.pick(keys)] = c.chance(50) ? scalar(&c) : c.pick([[], [:], .strings(["a", "*"]), ["allow": []]])
                default: value = scalar(&c); return
                }
            }
            value = .object(object)
        case .array(var items):
            let i = items.isEmpty ? 0 : c.int(0...(items.count - 1))
            if !items.isEmpty && depth < 8 && c.chance(75) {
                mutate(&items[i], &c, depth: depth + 1)
            } else {
                switch c.int(0...3) {
                case 0 where !items.isEmpty: items.remove(at: i)
                case 1 where !items.isEmpty: items.append(items[i])
                case 2: items.append(scalar(&c))
                default: value = scalar(&c); return
                }
            }
            value = .array(items)
        default:
            value = scalar(&c)
        }
    }

    // MARK: Decisions

    /// `decide` against `Reference.decide`, by names (as `orch can` and tests ask) and by ids with
    /// a key found by its token (as the gateway asks), on queries drawn from the model.
    static func compareWithReference(_ policy: Policy, _ model: ModelPolicy, seed: UInt64, _ context: @autoclosure () -> String) {
        var rng = SplitMix64(seed: ~seed)
        func check(_ query: String, allowed: Bool, expected: ExpectedReason) {
            if allowed && expected != .allowed {
                fuzzFailure("\(query): the policy allows, the reference denies (\(expected)); \(context())")
            }
            if !allowed && expected == .allowed {
                fuzzFailure("\(query): the policy denies, the reference allows; \(context())")
            }
        }
        let tokens = model.users.flatMap { $0.keys.map(\.token) }
        for user in model.users.map(\.name) + ["ghost"] {
            let keys = model.users.first { $0.name == user }?.keys ?? []
            for org in model.orgs {
                for server in org.servers.map(\.name) + ["nosuch"] {
                    for item in [nil] + (0..<3).map({ _ in RandomPolicy.items.randomElement(using: &rng)! }) {
                        let target = Target(org: org.name, server: server, item: item.map(Self.item))
                        let at = RandomPolicy.times.randomElement(using: &rng)!
                        for key in [nil] + keys.map(\.id) {
                            let decision = policy.decide(user: user, target: target, key: key, at: at)
                            let expected = Reference.decide(model, user: user, org: org.name, server: server, item: item,
                                                            key: key.map { .named($0) } ?? .none, at: at)
                            check("\(user) \(target) key \(key ?? "-") at \(at)", allowed: decision.allowed, expected: expected)
                        }
                        guard let userID = policy.user(named: user), let serverID = policy.server(org: org.name, name: server),
                            let token = tokens.randomElement(using: &rng)
                        else { continue }
                        guard let keyID = policy.key(forToken: token) else { fuzzFailure("no key for token \(token); \(context())") }
                        let decision = policy.decide(user: userID, server: serverID, item: target.item, key: keyID, at: at)
                        let expected = Reference.decide(model, user: user, org: org.name, server: server, item: item, key: .token(token), at: at)
                        check("\(user) \(target) with token \(token) at \(at)", allowed: decision.allowed, expected: expected)
                    }
                }
            }
        }
    }

    /// An item as written after `SERVER:`.
    static func item(_ text: String) -> Item {
        let (field, name) = Reference.kind(of: text)
        return Item(field == "prompts" ? .prompt : field == "resources" ? .resource : .tool, name)
    }

    static let probes = ["read_sheet", "echo", "*", "", "prompts/summarize", "prompts/x", "resources/file:///srv/a.txt", "resources/notes://index", "a:b/c"].map(item)

    /// Decides over a compiled policy's own names and checks what must hold between decisions.
    static func exercise(_ policy: Policy) {
        let times = [now, utc("2031-01-01T00:00:00Z")]
        for user in policy.users.prefix(6) {
            guard let userID = policy.user(named: user.name) else { fuzzFailure("user \(user.name) not found by name") }
            _ = policy.explain(userID, at: now)
            for server in policy.servers.prefix(8) {
                let org = policy.org(server.org).name
                for item in [nil] + probes {
                    for time in times {
                        let bare = policy.decide(user: userID, server: server.id, item: item, key: nil, at: time)
                        _ = policy.describe(bare.reason)
                        if let item, bare.allowed {
                            require(policy.decide(user: userID, server: server.id, item: nil, key: nil, at: time).allowed,
                                    "\(user.name) may use \(org)/\(server.name):\(item) but not connect")
                            require(policy.grantsSome(item.kind, user: userID, server: server.id, key: nil, at: time),
                                    "\(user.name) may use \(org)/\(server.name):\(item) but grantsSome(\(item.kind)) is false")
                        }
                        for keyID in user.keys.prefix(3) {
                            let key = policy.key(keyID)
                            let keyed = policy.decide(user: userID, server: server.id, item: item, key: keyID, at: time)
                            require(!keyed.allowed || bare.allowed, "key \(key.spec.id) allows \(user.name) \(org)/\(server.name):\(item.map { "\($0)" } ?? "") which the user may not")
                            let target = Target(org: org, server: server.name, item: item)
                            let byName = policy.decide(user: user.name, target: target, key: key.spec.id, at: time)
                            require(byName == keyed, "by name: \(policy.describe(byName.reason)); by id: \(policy.describe(keyed.reason)) for \(user.name) \(target) key \(key.spec.id)")
                        }
                    }
                }
            }
        }
    }
}
