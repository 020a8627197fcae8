import Foundation
import OrchPolicy
import Testing

/// Many random small policies, every user × server × tool × key × time decided by `Policy.decide`
/// and by `Reference.decide` (docs/reference/orch-json.md "Decisions" read literally). Each case is one seed; a failure prints the
/// seed and the policy, and `RandomPolicy.make(seed:)` rebuilds it.
enum RandomDecisions {
    static let baseSeed: UInt64 = 0x6F72_6368_2D70_6F6C
    static let policyCount = 300

    static func seed(_ index: Int) -> UInt64 { baseSeed &+ UInt64(index) &* 0x1000_0001 }

    struct Query: CustomStringConvertible {
        var user: String
        var target: String
        var key: String
        var at: Date
        var description: String { "\(user) \(target) key \(key) at \(at)" }
    }

    /// Checks one compiled decision against the reference: same step of the design answered, and a
    /// rule cited as the reason really is a rule of a role the user holds there, and matches.
    static func mismatch(_ policy: Policy, _ model: ModelPolicy, _ q: Query, org: String, server: String, item: String?,
                         decision: Decision, expected: ExpectedReason) -> String? {
        let text = policy.describe(decision.reason)
        func fail(_ why: String) -> String { "\(q): expected \(expected), got \(decision.allowed ? "allow" : "deny") \"\(text)\" (\(why))" }
        let got: ExpectedReason
        switch decision.reason {
        case .allowedByRule(let grant, let rule, _, _), .deniedByRule(let grant, let rule, _, _):
            let role = policy.roles[grant.role.index]
            let isAllow = decision.allowed
            got = isAllow ? .allowed : .deniedByRule
            let ruleText = isAllow ? role.spec.allow[rule].text : role.spec.deny[rule].text
            guard let o = model.orgs.first(where: { $0.name == org }) else { return fail("rule cited outside any org") }
            let held = Reference.held(by: q.user, in: o)
            if !held.contains(where: { $0.role == role.name && $0.team == grant.team }) {
                return fail("cites role \(role.name) via team \(grant.team ?? "-"), which the user does not hold so in \(org)")
            }
            let matches: Bool
            switch (item, isAllow) {
            case (let i?, true): matches = Reference.ruleAllows(ruleText, server: server, item: i)
            case (let i?, false): matches = Reference.ruleDenies(ruleText, server: server, item: i)
            case (nil, true): matches = Reference.globMatches(Reference.split(rule: ruleText).server, server)
            case (nil, false): matches = Reference.ruleDeniesWholeServer(ruleText, server: server)
            }
            if !matches { return fail("cited rule \"\(ruleText)\" does not match") }
            if !text.contains("role \(role.name)") || !text.contains("\"\(ruleText)\"") { return fail("reason does not name role and rule") }
        case .noAllowRule: got = .noAllowRule
        case .notMember: got = .notMember
        case .hiddenByServerFilter: got = .hiddenByServerFilter
        case .outsideKeyScope: got = .outsideKeyScope
        case .userDisabled: got = .userDisabled
        case .keyNotOfUser: got = .keyNotOfUser
        case .keyExpired: got = .keyExpired
        case .serverDisabled: got = .serverDisabled
        case .unknownUser: got = .unknownUser
        case .unknownKey: got = .unknownKey
        case .unknownServer: got = .unknownServer
        }
        if decision.allowed != (expected == .allowed) { return fail("wrong decision") }
        if got != expected { return fail("wrong reason") }
        return nil
    }
}

extension RandomDecisions {
    /// Every decision of one random policy that differs from the reference, split into those where
    /// allow/deny differs and those where only the reason (the step that answered) differs.
    struct Findings {
        var header = ""
        var decisions = 0
        var wrongDecisions: [String] = []
        var wrongReasons: [String] = []
        /// How often the reference answered at each step, to show the generator reaches them all.
        var reached: [String: Int] = [:]
    }

    static func run(index: Int) throws -> Findings {
        let seed = seed(index)
        let model = RandomPolicy.make(seed: seed)
        // Only the token hashing comes from the project, to fill in "sha256".
        let json = RandomPolicy.json(model) { KeyHash(token: $0).hex }
        var findings = Findings(header: "seed 0x\(String(seed, radix: 16)) (case \(index)), policy:\n\(json)")
        let result = PolicyCompiler.compile(Array(json.utf8), options: Pinned.options())
        let policy = try #require(result.policy, "does not compile: \(rendered(result.errors))\n\(findings.header)")

        var clock = SplitMix64(seed: ~seed)
        func someTime() -> Date { RandomPolicy.times.randomElement(using: &clock)! }
        func check(_ q: Query, org: String, server: String, item: String?, decision: Decision, expected: ExpectedReason) {
            findings.decisions += 1
            findings.reached[expected.description, default: 0] += 1
            guard let m = mismatch(policy, model, q, org: org, server: server, item: item, decision: decision, expected: expected) else { return }
            if decision.allowed != (expected == .allowed) { findings.wrongDecisions.append(m) } else { findings.wrongReasons.append(m) }
        }

        // By names, as `orch can` and the file's tests ask: own keys by id, and an id no one has.
        for user in model.users.map(\.name) + ["ghost"] {
            let ids = (model.users.first { $0.name == user }?.keys.map(\.id) ?? []) + ["k9"]
            for org in RandomPolicy.orgNames + ["nowhere"] {
                for server in RandomPolicy.serverNames {
                    for item in [nil] + RandomPolicy.items {
                        // The target is parsed by the project, from the text a file would hold.
                        let target = try Target.parse(item.map { "\(org)/\(server):\($0)" } ?? "\(org)/\(server)").get()
                        for key in [nil] + ids {
                            let at = someTime()
                            let q = Query(user: user, target: "\(target)", key: key ?? "-", at: at)
                            let decision = policy.decide(user: user, target: target, key: key, at: at)
                            let expected = Reference.decide(model, user: user, org: org, server: server, item: item,
                                                            key: key.map { .named($0) } ?? .none, at: at)
                            check(q, org: org, server: server, item: item, decision: decision, expected: expected)
                        }
                    }
                }
            }
        }

        // By compiled ids, as the gateway asks: every key found by its token, whoever holds it.
        let tokens = model.users.flatMap { $0.keys.map(\.token) }
        for user in model.users {
            let userID = try #require(policy.user(named: user.name))
            for org in model.orgs {
                for server in org.servers {
                    let serverID = try #require(policy.server(org: org.name, name: server.name))
                    for item in [nil] + RandomPolicy.items {
                        let target = try Target.parse(item.map { "\(org.name)/\(server.name):\($0)" } ?? "\(org.name)/\(server.name)").get()
                        for token in tokens {
                            let keyID = try #require(policy.key(forToken: token), "no key for token \(token)\n\(findings.header)")
                            let at = someTime()
                            let q = Query(user: user.name, target: "\(target)", key: "with token \(token)", at: at)
                            let decision = policy.decide(user: userID, server: serverID, item: target.item, key: keyID, at: at)
                            let expected = Reference.decide(model, user: user.name, org: org.name, server: server.name, item: item,
                                                            key: .token(token), at: at)
                            check(q, org: org.name, server: server.name, item: item, decision: decision, expected: expected)
                        }
                    }
                }
            }
        }
        return findings
    }

    static func report(_ list: [String], of findings: Findings, what: String) {
        guard !list.isEmpty else { return }
        Issue.record("""
            \(list.count) of \(findings.decisions) decisions \(what) docs/reference/orch-json.md "Decisions"; the first:
            \(list.prefix(6).joined(separator: "\n"))
            \(findings.header)
            """)
    }
}

@Test(arguments: 0..<RandomDecisions.policyCount)
func randomPoliciesAllowAndDenyAsTheDesignSays(index: Int) throws {
    let findings = try RandomDecisions.run(index: index)
    #expect(findings.decisions > 500)
    RandomDecisions.report(findings.wrongDecisions, of: findings, what: "allow or deny otherwise than")
}

@Test(arguments: 0..<RandomDecisions.policyCount)
func randomPoliciesGiveTheReasonOfTheFirstFailingStep(index: Int) throws {
    let findings = try RandomDecisions.run(index: index)
    RandomDecisions.report(findings.wrongReasons, of: findings, what: "give another reason than")
}

@Test func randomPoliciesReachEveryStepOfTheDesign() throws {
    // Guards the random test's strength: every answer of the reference occurs many times.
    var reached: [String: Int] = [:]
    for index in 0..<40 {
        reached.merge(try RandomDecisions.run(index: index).reached, uniquingKeysWith: +)
    }
    let all: [ExpectedReason] = [
        .unknownUser, .userDisabled, .unknownKey, .keyNotOfUser, .keyExpired, .unknownServer, .serverDisabled,
        .notMember, .deniedByRule, .noAllowRule, .hiddenByServerFilter, .outsideKeyScope, .allowed,
    ]
    for reason in all {
        #expect(reached[reason.description, default: 0] >= 50, "\(reason): \(reached[reason.description, default: 0]) in \(reached)")
    }
}

@Test func referenceGlobMatcherAgreesWithTheDesignText() {
    // The oracle itself must be right, or the random test proves nothing.
    #expect(Reference.globMatches("*", ""))
    #expect(Reference.globMatches("read_*", "read_"))
    #expect(Reference.globMatches("*_sheet", "write_sheet"))
    #expect(!Reference.globMatches("*_sheet", "sheet"))
    #expect(Reference.globMatches("r*n", "rn"))
    #expect(Reference.globMatches("*x*l", "excel"))
    #expect(!Reference.globMatches("*x*l", "exchange"))
    #expect(!Reference.globMatches("excel", "excels"))
    #expect(Reference.ruleDeniesWholeServer("ex*:*", server: "excel"))
    #expect(!Reference.ruleDeniesWholeServer("excel:delete_*", server: "excel"))
    #expect(Reference.scopeMatches("a*/ex*:get_*", org: "acme", server: "excel", item: "get_info"))
    #expect(Reference.scopeMatches("a*/ex*:get_*", org: "acme", server: "excel", item: nil))
    #expect(!Reference.scopeMatches("a*/ex*:get_*", org: "acme", server: "excel", item: "read"))
    #expect(!Reference.scopeMatches("a*/ex*:get_*", org: "acme", server: "excel", item: "prompts/get_x"))
    #expect(Reference.scopeMatches("a*/ex*", org: "acme", server: "excel", item: "resources/mem://x"))
    #expect(Reference.ruleAllows("ex*:resources/file:///*", server: "excel", item: "resources/file:///srv/a:b"))
    #expect(!Reference.ruleAllows("ex*:*", server: "excel", item: "prompts/summarize"))
    #expect(Reference.ruleDenies("ex*:*", server: "excel", item: "prompts/summarize"))
    #expect(!Reference.ruleDenies("ex*:prompts/*", server: "excel", item: "read_sheet"))
    #expect(!Reference.ruleDeniesWholeServer("ex*:prompts/*", server: "excel"))
}

@Test func randomPoliciesAreReproducibleFromTheirSeed() {
    let a = RandomPolicy.json(RandomPolicy.make(seed: 42)) { $0 }
    let b = RandomPolicy.json(RandomPolicy.make(seed: 42)) { $0 }
    let c = RandomPolicy.json(RandomPolicy.make(seed: 43)) { $0 }
    #expect(a == b)
    #expect(a != c)
}
