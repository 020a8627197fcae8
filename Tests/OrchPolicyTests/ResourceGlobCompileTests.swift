import Foundation
import OrchPolicy
import Testing

// The resource globs of orch.json (rules, key scopes, server filters) and its tests' resource
// targets are read in normal form, as the gateway decides URIs; `orch check` warns where a glob
// is written otherwise, or can match nothing.

enum ResourceGlobs {
    static let json = """
        { "version": 1,
          "roles": {
            "reader": { "allow": ["notes:resources/NOTES://Host/a/./b*", "notes:resources/ notes://host/x"] },
            "guarded": { "allow": ["notes"], "deny": ["notes:resources/notes://host/public/../private/*", "notes:resources/notes://host/*/../x"] }
          },
          "orgs": { "acme": {
            "members": { "rita": "reader", "gus": "guarded" },
            "servers": { "notes": { "command": "uvx", "resources": { "deny": ["FILE:///etc/*"] } } } } },
          "users": {
            "rita": {},
            "gus": { "keys": [ { "id": "ci", "sha256": "\(TokenHash.t1)", "scope": ["acme/notes:resources/Notes://HOST/%7e*"] } ] }
          },
          "tests": [
            { "user": "gus", "allow": ["acme/notes:resources/NOTES://host/public/x"], "deny": ["acme/notes:resources/notes://host/private/salaries", "acme/notes:resources/NOTES://HOST/public/%2e%2e/private/salaries"] }
          ] }
        """
}

@Test func resourceGlobsNotInNormalFormAreReadInNormalFormWithAWarning() throws {
    let result = compile(ResourceGlobs.json)
    #expect(result.errors.isEmpty, "\(rendered(result.errors))")
    let warnings = result.diagnostics.filter { $0.severity == .warning }.map { "\($0.path): \($0.message)" }.sorted()
    #expect(warnings == [
        #"roles.reader.allow[0]: resource glob "NOTES://Host/a/./b*" is read in normal form, as "notes://host/a/b*" (resource URIs are decided with scheme and host in lowercase, unreserved characters decoded and dot segments resolved): write it so"#,
        #"roles.reader.allow[1]: resource glob " notes://host/x" matches no resource: a resource URI is refused when it starts or ends with a space"#,
        #"roles.guarded.deny[0]: resource glob "notes://host/public/../private/*" is read in normal form, as "notes://host/private/*" (resource URIs are decided with scheme and host in lowercase, unreserved characters decoded and dot segments resolved): write it so"#,
        #"roles.guarded.deny[1]: resource glob "notes://host/*/../x" has a '.' or '..' segment after a '*', which cannot be resolved: it matches no resource path, since URIs are decided with their dot segments resolved"#,
        #"orgs.acme.servers.notes.resources.deny[0]: resource glob "FILE:///etc/*" is read in normal form, as "file:///etc/*" (resource URIs are decided with scheme and host in lowercase, unreserved characters decoded and dot segments resolved): write it so"#,
        #"users.gus.keys[0].scope[0]: resource glob "Notes://HOST/%7e*" is read in normal form, as "notes://host/~*" (resource URIs are decided with scheme and host in lowercase, unreserved characters decoded and dot segments resolved): write it so"#,
    ].sorted(), "\(warnings)")
}

@Test func aResourceGlobMatchesTheNormalFormOfItsLiteralText() throws {
    let p = try policy(ResourceGlobs.json)
    #expect(ask(p, "rita", "notes", Item(.resource, "notes://host/a/b/c"))
        == allow(#"role reader allows "notes:resources/NOTES://Host/a/./b*""#))
    #expect(ask(p, "gus", "notes", Item(.resource, "notes://host/private/salaries"))
        == deny(#"role guarded denies "notes:resources/notes://host/public/../private/*""#))
    #expect(ask(p, "gus", "notes", Item(.resource, "file:///etc/passwd"))
        == deny(#"server acme/notes hides resources/file:///etc/passwd (resources.deny "file:///etc/*")"#))
    #expect(ask(p, "gus", "notes", Item(.resource, "notes://host/~gus"), key: "ci") == allow(#"role guarded allows "notes""#))
    #expect(ask(p, "gus", "notes", Item(.resource, "notes://host/gus"), key: "ci").allowed == false)
}

@Test func aResourceTargetIsDecidedInNormalForm() throws {
    let target = try Target.parse("acme/notes:resources/NOTES://Host/public/../private/./salaries").get()
    #expect(target.item == Item(.resource, "notes://host/private/salaries"))
    let p = try policy(ResourceGlobs.json)
    #expect(p.decide(user: "gus", target: target, at: Pinned.now).allowed == false)
}

@Test func aResourceTargetThatTheGatewayWouldRefuseIsAnError() {
    let refused: String? = if case .failure(let error) = Target.parse("acme/notes:resources/notes://host/a%zz") { error.message } else { nil }
    #expect(refused == #""acme/notes:resources/notes://host/a%zz" is not a target: the resource URI is refused: a '%' is not followed by two hex digits"#)
    let json = ResourceGlobs.json.replacingOccurrences(of: #""allow": ["acme/notes:resources/NOTES://host/public/x"]"#,
                                                       with: #""allow": ["acme/notes:resources/notes://bob@host/x"]"#)
    #expect(rendered(compile(json).errors).contains {
        $0.hasSuffix(#"tests[0].allow[0]: "acme/notes:resources/notes://bob@host/x" is not a target: the resource URI is refused: it names a user before its host (USER@HOST), which servers may ignore"#)
    }, "\(rendered(compile(json).errors))")
}
