import Foundation
import OrchPolicy
import Testing

// Prompts and resources as targets: whole-server rules, rules of one kind, `SERVER:*`, deny rules,
// the server's filters of each kind and key scopes (docs/reference/orch-json.md, "Rules").

enum Items {
    static let json = """
        { "version": 1,
          "roles": {
            "owner": { "allow": ["files", "sealed"] },
            "tools-only": { "allow": ["files:*"] },
            "reader": { "allow": ["files:read_*", "files:prompts/summ*", "files:resources/file:///srv/shared/*"] },
            "careful": { "allow": ["files"], "deny": ["files:resources/file:///srv/shared/secret*", "files:prompts/admin_*"] },
            "blocked": { "allow": ["files"], "deny": ["files:*"] },
            "no-resources": { "allow": ["files"], "deny": ["files:resources/*"] }
          },
          "orgs": { "acme": {
            "members": { "olga": "owner", "tom": "tools-only", "rita": "reader", "nina": "careful", "bea": "blocked", "rob": "no-resources" },
            "servers": {
              "files": { "command": "uvx", "prompts": { "deny": ["internal_*"] }, "resources": { "allow": ["file:///srv/*", "mem://*"] } },
              "sealed": { "command": "uvx", "resources": { "allow": [] } }
            } } },
          "users": {
            "olga": { "keys": [
              { "id": "shared", "sha256": "\(TokenHash.t1)", "scope": ["acme/files:resources/file:///srv/shared/*"] },
              { "id": "tools", "sha256": "\(TokenHash.t2)", "scope": ["acme/files:*"] },
              { "id": "whole", "sha256": "\(TokenHash.t3)", "scope": ["acme/files", "a*/sealed:prompts/*"] } ] },
            "tom": {}, "rita": {}, "nina": {}, "bea": {}, "rob": {}
          } }
        """

    static func policy() throws -> Policy { try OrchPolicyTests.policy(json) }
}

/// Asks for an item of `acme/SERVER` by names, as `orch can` does.
func ask(_ policy: Policy, _ user: String, _ server: String, _ item: Item, key: String? = nil) -> Outcome {
    let decision = policy.decide(user: user, target: Target(org: "acme", server: server, item: item), key: key, at: Pinned.now)
    return Outcome(allowed: decision.allowed, reason: policy.describe(decision.reason))
}

@Test func aWholeServerRuleCoversEveryToolPromptAndResource() throws {
    let p = try Items.policy()
    let reason = allow("role owner allows \"files\"")
    #expect(ask(p, "olga", "files", Item(.tool, "read_file")) == reason)
    #expect(ask(p, "olga", "files", Item(.prompt, "summarize")) == reason)
    #expect(ask(p, "olga", "files", Item(.resource, "file:///srv/a.txt")) == reason)
}

@Test func serverStarAllowsEveryToolButNoPromptOrResource() throws {
    let p = try Items.policy()
    #expect(ask(p, "tom", "files", Item(.tool, "anything")) == allow("role tools-only allows \"files:*\""))
    #expect(ask(p, "tom", "files", Item(.prompt, "summarize"))
        == deny("no role of tom allows acme/files:prompts/summarize (roles: tools-only)"))
    #expect(ask(p, "tom", "files", Item(.resource, "file:///srv/a.txt"))
        == deny("no role of tom allows acme/files:resources/file:///srv/a.txt (roles: tools-only)"))
    // Connecting needs any allow rule, of any kind.
    #expect(askConnect(p, "tom", "files") == allow("role tools-only allows \"files:*\""))
}

@Test func rulesOfOneKindMatchOnlyThatKind() throws {
    let p = try Items.policy()
    #expect(ask(p, "rita", "files", Item(.tool, "read_file")) == allow("role reader allows \"files:read_*\""))
    #expect(ask(p, "rita", "files", Item(.prompt, "summarize")) == allow("role reader allows \"files:prompts/summ*\""))
    #expect(ask(p, "rita", "files", Item(.prompt, "read_me")) == deny("no role of rita allows acme/files:prompts/read_me (roles: reader)"))
    #expect(ask(p, "rita", "files", Item(.tool, "summarize")) == deny("no role of rita allows acme/files:summarize (roles: reader)"))
    // A resource glob's `*` runs over '/' and ':'.
    #expect(ask(p, "rita", "files", Item(.resource, "file:///srv/shared/a/b:c.txt"))
        == allow("role reader allows \"files:resources/file:///srv/shared/*\""))
    #expect(ask(p, "rita", "files", Item(.resource, "file:///srv/other.txt"))
        == deny("no role of rita allows acme/files:resources/file:///srv/other.txt (roles: reader)"))
}

@Test func aDenyOfOneKindWinsForThatKindOnly() throws {
    let p = try Items.policy()
    #expect(ask(p, "nina", "files", Item(.resource, "file:///srv/shared/secret.txt"))
        == deny("role careful denies \"files:resources/file:///srv/shared/secret*\""))
    #expect(ask(p, "nina", "files", Item(.resource, "file:///srv/shared/plan.txt")) == allow("role careful allows \"files\""))
    #expect(ask(p, "nina", "files", Item(.prompt, "admin_reset")) == deny("role careful denies \"files:prompts/admin_*\""))
    #expect(ask(p, "nina", "files", Item(.tool, "admin_reset")) == allow("role careful allows \"files\""))
    #expect(ask(p, "rob", "files", Item(.resource, "mem://x")) == deny("role no-resources denies \"files:resources/*\""))
    #expect(ask(p, "rob", "files", Item(.prompt, "summarize")) == allow("role no-resources allows \"files\""))
    #expect(askConnect(p, "rob", "files") == allow("role no-resources allows \"files\""))
}

@Test func aDenyOfServerStarDeniesEveryKind() throws {
    let p = try Items.policy()
    #expect(askConnect(p, "bea", "files") == deny("role blocked denies \"files:*\", the whole server"))
    #expect(ask(p, "bea", "files", Item(.tool, "read_file")) == deny("role blocked denies \"files:*\""))
    #expect(ask(p, "bea", "files", Item(.prompt, "summarize")) == deny("role blocked denies \"files:*\""))
    #expect(ask(p, "bea", "files", Item(.resource, "mem://x")) == deny("role blocked denies \"files:*\""))
}

@Test func serverFiltersOfEachKindApplyToEveryone() throws {
    let p = try Items.policy()
    #expect(ask(p, "olga", "files", Item(.prompt, "internal_audit"))
        == deny("server acme/files hides prompts/internal_audit (prompts.deny \"internal_*\")"))
    #expect(ask(p, "olga", "files", Item(.resource, "s3://bucket/a"))
        == deny("server acme/files hides resources/s3://bucket/a (no resources.allow glob)"))
    #expect(ask(p, "olga", "files", Item(.resource, "mem://notes")) == allow("role owner allows \"files\""))
    // A prompts filter never hides a tool of the same name.
    #expect(ask(p, "olga", "files", Item(.tool, "internal_audit")) == allow("role owner allows \"files\""))
}

@Test func keyScopesNarrowEachKind() throws {
    let p = try Items.policy()
    #expect(ask(p, "olga", "files", Item(.resource, "file:///srv/shared/a"), key: "shared") == allow("role owner allows \"files\""))
    #expect(ask(p, "olga", "files", Item(.resource, "file:///srv/private/a"), key: "shared")
        == deny("key shared is scoped to acme/files:resources/file:///srv/shared/*, which does not include acme/files:resources/file:///srv/private/a"))
    #expect(ask(p, "olga", "files", Item(.prompt, "summarize"), key: "shared")
        == deny("key shared is scoped to acme/files:resources/file:///srv/shared/*, which does not include acme/files:prompts/summarize"))
    #expect(ask(p, "olga", "files", Item(.tool, "read_file"), key: "shared")
        == deny("key shared is scoped to acme/files:resources/file:///srv/shared/*, which does not include acme/files:read_file"))
    // `ORG/SERVER:*` in a scope is every tool, as in a rule.
    #expect(ask(p, "olga", "files", Item(.tool, "read_file"), key: "tools") == allow("role owner allows \"files\""))
    #expect(ask(p, "olga", "files", Item(.prompt, "summarize"), key: "tools")
        == deny("key tools is scoped to acme/files:*, which does not include acme/files:prompts/summarize"))
    // `ORG/SERVER` in a scope is the whole server.
    #expect(ask(p, "olga", "files", Item(.prompt, "summarize"), key: "whole") == allow("role owner allows \"files\""))
    #expect(ask(p, "olga", "files", Item(.resource, "mem://a"), key: "whole") == allow("role owner allows \"files\""))
}

/// The `ask` above for connecting to a server.
func askConnect(_ policy: Policy, _ user: String, _ server: String, key: String? = nil) -> Outcome {
    let decision = policy.decide(user: user, target: Target(org: "acme", server: server), key: key, at: Pinned.now)
    return Outcome(allowed: decision.allowed, reason: policy.describe(decision.reason))
}

@Test func someGrantOfAKindDecidesTemplatesAndTemplateCompletions() throws {
    let p = try Items.policy()
    func grants(_ user: String, _ server: String, _ kind: ItemKind, key: String? = nil) throws -> Bool {
        let u = try #require(p.user(named: user))
        let k = try key.map { try #require(p.key(user: u, id: $0)) }
        return p.grantsSome(kind, user: u, server: try #require(p.server(org: "acme", name: server)), key: k, at: Pinned.now)
    }
    #expect(try grants("olga", "files", .resource))
    #expect(try grants("rita", "files", .resource))
    #expect(try !grants("tom", "files", .resource))
    #expect(try grants("tom", "files", .tool))
    #expect(try !grants("bea", "files", .resource))
    #expect(try !grants("rob", "files", .resource))
    #expect(try grants("rob", "files", .prompt))
    #expect(try grants("olga", "files", .resource, key: "shared"))
    #expect(try !grants("olga", "files", .prompt, key: "shared"))
    #expect(try !grants("olga", "files", .resource, key: "tools"))
    // A resources filter that allows nothing leaves no resource to grant.
    #expect(try !grants("olga", "sealed", .resource))
    #expect(try grants("olga", "sealed", .prompt))
}

@Test func targetsNamePromptsAndResources() throws {
    let resource = try Target.parse("acme/files:resources/file:///srv/a:b").get()
    #expect(resource == Target(org: "acme", server: "files", item: Item(.resource, "file:///srv/a:b")))
    #expect(resource.description == "acme/files:resources/file:///srv/a:b")
    let prompt = try Target.parse("acme/files:prompts/summarize").get()
    #expect(prompt.item == Item(.prompt, "summarize"))
    #expect(try Target.parse("acme/files:read_file").get().item == Item(.tool, "read_file"))
    #expect(try Target.parse("acme/files").get().item == nil)
}

@Test func theFilesTestsTakePromptAndResourceTargets() throws {
    let json = String(Items.json.dropLast()) + """
        , "tests": [ { "user": "rita", "allow": ["acme/files:prompts/summarize", "acme/files:resources/file:///srv/shared/x"],
                       "deny": ["acme/files:prompts/draft", "acme/files:resources/mem://x"] } ] }
        """
    #expect(compile(json).ok, "\(rendered(compile(json).diagnostics))")
    let failing = json.replacingOccurrences(of: "\"deny\": [\"acme/files:prompts/draft\"", with: "\"deny\": [\"acme/files:prompts/summarize\"")
    #expect(unplaced(rendered(compile(failing).errors)) == [
        "orch.json: error: tests[0].deny[0]: test failed: expected rita to be denied acme/files:prompts/summarize, but allowed: role reader allows \"files:prompts/summ*\"",
    ])
}

@Test func explainShowsEachKindsRulesAndFilters() throws {
    let p = try Items.policy()
    let text = p.explain(try #require(p.user(named: "nina")), at: Pinned.now).text
    #expect(text.contains("""
          acme/files  [stdio]
            tools allow: "files" (role careful)
            prompts allow: "files" (role careful)
            prompts deny: "files:prompts/admin_*" (role careful)
            server prompts.deny: internal_*
            resources allow: "files" (role careful)
            resources deny: "files:resources/file:///srv/shared/secret*" (role careful)
            server resources.allow: file:///srv/*, mem://*
        """), "\(text)")
}
