import Foundation
import OrchJSON
import OrchPolicy
import Testing

/// Compiles with stand-ins for every `${env:…}`, as `orch diff` does.
private func diff(_ old: String, _ new: String) throws -> PolicyDiff {
    let environment = EnvPlaceholders.environment(for: [Array(old.utf8), Array(new.utf8)])
    func policy(_ json: String) throws -> Policy {
        let result = PolicyCompiler.compile(Array(json.utf8), options: CompileOptions(environment: environment, now: Pinned.now))
        return try #require(result.policy, "\(rendered(result.diagnostics))")
    }
    return PolicyDiff(old: try policy(old), new: try policy(new))
}

private func file(roles: String, members: String = #""bob": "r""#, servers: String = #""notes": { "command": "n" }, "clock": { "command": "c" }"#, users: String = #""bob": {}"#) -> String {
    #"{ "version": 1, "roles": { \#(roles) }, "orgs": { "acme": { "members": { \#(members) }, "servers": { \#(servers) } } }, "users": { \#(users) } }"#
}

@Suite struct PolicyDiffTests {
    @Test func rulesAreComparedForEachServerNotAsWritten() throws {
        let a = file(roles: #""r": { "allow": ["*:read_*", "clock"] }"#)
        let b = file(roles: #""s": { "allow": ["notes:read_*", "clock:read_*", "c*"] }"#, members: #""bob": "s""#)
        let d = try diff(a, b)
        #expect(d.users.isEmpty)
        #expect(d.roles.map(\.change) == [.removed, .added])
        #expect(d.summary == "1 role added, 1 removed")
        #expect(!d.grantsAccess)
    }

    @Test func aDenyMattersOnlyWhereAnAllowReaches() throws {
        let a = file(roles: #""r": { "allow": ["notes:read_*"] }"#)
        let unreached = try diff(a, file(roles: #""r": { "allow": ["notes:read_*"], "deny": ["notes:delete_*"] }"#))
        #expect(unreached.users.first?.rules.map(\.access) == [PolicyDiff.Access.none])
        #expect(unreached.summary == "1 role changed")
        let reached = try diff(a, file(roles: #""r": { "allow": ["notes:read_*"], "deny": ["notes:*_file"] }"#))
        #expect(reached.users.first?.rules.map(\.access) == [.lost])
        #expect(reached.summary == "1 user loses access; 1 role changed")
        let lifted = try diff(file(roles: #""r": { "allow": ["notes:read_*"], "deny": ["notes:*_file"] }"#), a)
        #expect(lifted.users.first?.rules.map(\.access) == [.gained])
        #expect(lifted.grantsAccess)
    }

    @Test func aDisabledUserLosesEverythingAndSaysWhy() throws {
        let d = try diff(file(roles: #""r": { "allow": ["*"] }"#), file(roles: #""r": { "allow": ["*"] }"#, users: #""bob": { "disabled": true }"#))
        let bob = try #require(d.users.first)
        #expect(bob.servers.map(\.server) == ["acme/clock", "acme/notes"])
        #expect(bob.servers.allSatisfy { !$0.gained && $0.now == "user bob is disabled" })
        #expect(bob.servers.first?.via.map(\.description) == ["role r in acme"])
        #expect(d.summary == "1 user loses access")
    }

    @Test func keysWidenByScopeEntryOrLaterExpiry() throws {
        func key(_ fields: String) -> String {
            file(roles: #""r": { "allow": ["*"] }"#, users: #""bob": { "keys": [ { "id": "k", "sha256": "\#(String(repeating: "a", count: 64))"\#(fields) } ] }"#)
        }
        let scoped = key(#", "scope": ["acme/notes"]"#)
        #expect(try diff(scoped, key(#", "scope": ["acme/notes", "acme/clock"]"#)).keys.first?.scopeWidened == true)
        #expect(try diff(scoped, key("")).keys.first?.scopeWidened == true)
        #expect(try diff(key(""), scoped).keys.first?.scopeWidened == false)
        #expect(try diff(scoped, key(#", "scope": ["acme/clock", "acme/notes"]"#)).keys.isEmpty == false)
        #expect(try diff(key(#", "scope": ["acme/notes", "acme/clock"]"#), key(#", "scope": ["acme/clock", "acme/notes"]"#)).keys.isEmpty)
        let expiring = key(#", "expires": "2030-01-01""#)
        #expect(try diff(expiring, key("")).keys.first?.expiryExtended == true)
        #expect(try diff(key(""), expiring).grantsAccess == false)
        #expect(try diff(expiring, key(#", "expires": "2029-01-01""#)).summary == "1 key changed")
    }

    @Test func serversAreComparedWithoutKeepingValues() throws {
        let servers = #""notes": { "command": "n", "env": { "A": "${env:A}", "B": "secret-b" }, "tools": { "allow": ["x"] } }, "clock": { "command": "c" }"#
        let changed = #""notes": { "command": "n", "env": { "A": "${env:A2}", "C": "c" }, "tools": { "allow": ["x", "y"] } }, "clock": { "command": "c" }"#
        let d = try diff(file(roles: #""r": { "allow": ["*"] }"#, servers: servers), file(roles: #""r": { "allow": ["*"] }"#, servers: changed))
        let notes = try #require(d.servers.first)
        #expect(notes.fields == ["env", "tools"])
        #expect(notes.env.added == ["C"] && notes.env.removed == ["B"] && notes.env.changed == ["A"])
        #expect(notes.filters.first?.widens == true)
        #expect(!d.text.contains("secret-b") && !d.markdown.contains("secret-b") && !d.json.compact.contains("secret-b"))
        #expect(try diff(file(roles: #""r": { "allow": ["*"] }"#, servers: servers), file(roles: #""r": { "allow": ["*"] }"#, servers: servers)).isEmpty)
    }

    @Test func summariesCountUsersKeysServersRolesAndTeams() throws {
        let d = try diff(file(roles: #""r": { "allow": ["notes"] }"#, members: #""bob": "r", "amy": "r""#, users: #""bob": {}, "amy": {}"#),
                         file(roles: #""r": { "allow": ["clock"] }"#, members: #""bob": "r", "amy": "r""#, users: #""bob": {}, "amy": {}"#))
        #expect(d.summary == "2 users gain access, 2 lose; 1 role changed")
        #expect(d.text.hasPrefix("2 users gain access, 2 lose; 1 role changed\n\nusers:\n  amy:\n    + acme/clock  via role r in acme\n    - acme/notes  was via role r in acme; now: no role of amy allows acme/notes (roles: r)\n"))
    }
}

@Suite struct EnvPlaceholdersTests {
    @Test func everyReferencedVariableGetsANumberAndAWholeURLAScheme() {
        let a = Array(#"{ "u": "${env:URL}", "h": "https://${env:HOST}/x", "p": "x${env:PORT:-1}" }"#.utf8)
        let b = Array(#"{ "z": ["${env:ZED}"] }"#.utf8)
        #expect(EnvPlaceholders.environment(for: [a, b]) == ["HOST": "10000", "PORT": "10001", "URL": "http://10002", "ZED": "http://10003"])
    }

    @Test func aURLFromTheEnvironmentCompilesWithoutIt() {
        let json = #"{ "version": 1, "roles": { "r": { "allow": ["*"] } }, "orgs": { "acme": { "members": { "bob": "r" }, "servers": { "t": { "url": "${env:URL}", "headers": { "Authorization": "Bearer ${env:TOKEN}" } }, "h": { "url": "https://${env:HOST}:${env:PORT}/mcp" } } } }, "users": { "bob": {} } }"#
        let environment = EnvPlaceholders.environment(for: [Array(json.utf8)])
        let result = PolicyCompiler.compile(Array(json.utf8), options: CompileOptions(environment: environment, now: Pinned.now))
        #expect(result.ok, "\(rendered(result.diagnostics))")
    }

    @Test func aStateKeyFromTheEnvironmentCompilesWithoutIt() {
        for stateKey in [#""${env:STATE_KEY}""#, #"["${env:STATE_KEY}", "${env:OLD_KEY}"]"#] {
            let json = #"{ "version": 1, "gateway": { "stateKey": \#(stateKey) }, "users": { "bob": {} } }"#
            let environment = EnvPlaceholders.environment(for: [Array(json.utf8)])
            let result = PolicyCompiler.compile(Array(json.utf8), options: CompileOptions(environment: environment, now: Pinned.now))
            #expect(result.ok, "\(rendered(result.diagnostics))")
            // Two keys, two stand-ins.
            #expect(Set(environment.values).count == environment.count)
        }
    }
}

@Suite struct GlobOverlapTests {
    @Test(arguments: [
        ("read_*", "*_file", true), ("read_*", "delete_*", false), ("*", "x", true), ("a*b", "a*c", false),
        ("a*b*c", "*bc", true), ("abc", "abc", true), ("abc", "abd", false), ("", "*", true), ("", "a", false),
        ("notes://*", "notes://index", true), ("*x*", "*y*", true),
    ])
    func globsOverlapWhenSomeNameMatchesBoth(_ a: String, _ b: String, _ overlap: Bool) {
        #expect(Glob(a).overlaps(Glob(b)) == overlap)
        #expect(Glob(b).overlaps(Glob(a)) == overlap)
    }
}
