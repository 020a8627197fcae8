import Foundation
import OrchPolicy
import Testing

// The compile as a whole: digest, token lookup, counts.

@Test func digestIsSHA256OfTheFileBytes() throws {
    // Expected values from `printf '%s' … | sha256sum`, outside the project.
    let result = compile(#"{"version":1}"#)
    #expect(result.digest == "sha256:2430f1a2ad2982d0067885488a4c89e21ad1d7c83b115ba8f1b20acc88dfaea8")
    let policy = try #require(result.policy)
    #expect(policy.digest == result.digest)
}

@Test func digestIsGivenEvenForAFileThatDoesNotParse() {
    let result = compile(#"{"version":"#)
    #expect(!result.ok)
    #expect(result.digest == "sha256:dcf58d6c8a2d9f3fff0ffea121b5c562ce793941122f801eb031a3d7d82f7ef7")
}

@Test func digestChangesWithAnyByte() {
    // Same meaning, different bytes: a different digest.
    #expect(compile(#"{"version":1}"#).digest != compile(#"{"version": 1}"#).digest)
    #expect(compile(#"{"version":1}"#).digest == compile(#"{"version":1}"#).digest)
}

@Test func keyIsFoundByItsToken() throws {
    let p = try Example.policy()
    let laptop = try #require(p.key(forToken: "orch_alice-laptop"))
    #expect(p.key(laptop).spec.id == "laptop")
    #expect(p.user(p.key(laptop).user).name == "alice")
    let ci = try #require(p.key(forToken: "orch_bob-ci"))
    #expect(p.key(ci).spec.id == "ci")
    #expect(p.user(p.key(ci).user).name == "bob")
    #expect(p.key(ci).spec.scope?.map(\.text) == ["acme/excel:read_*"])
}

@Test func unknownTokenFindsNoKey() throws {
    let p = try Example.policy()
    #expect(p.key(forToken: "orch_alice-laptop ") == nil)
    #expect(p.key(forToken: "orch_alice-lapto") == nil)
    #expect(p.key(forToken: "") == nil)
    // The stored hash is not itself a token.
    #expect(p.key(forToken: TokenHash.aliceLaptop) == nil)
}

@Test func keyExpiryIsReadAsMidnightUTC() throws {
    let p = try Example.policy()
    let laptop = try #require(p.key(forToken: "orch_alice-laptop"))
    #expect(p.key(laptop).spec.expires == utc("2027-06-30T00:00:00Z"))
    #expect(!p.key(laptop).isExpired(at: utc("2027-06-29T23:59:59Z")))
    #expect(p.key(laptop).isExpired(at: utc("2027-06-30T00:00:00Z")))
}

@Test func countsReportOrgsUsersKeysServersAndTests() throws {
    let p = try policy("""
        { "version": 1, "roles": { "admin": { "allow": ["*"] } },
          "orgs": {
            "acme": { "members": { "alice": "admin" }, "servers": { "excel": { "command": "uvx" }, "search": { "command": "npx" },
                                                                    "old": { "command": "x", "disabled": true } } },
            "globex": { "members": { "bob": "admin" }, "servers": { "excel": { "command": "uvx" } } } },
          "users": {
            "alice": { "keys": [ { "id": "a", "sha256": "\(TokenHash.t1)" }, { "id": "b", "sha256": "\(TokenHash.t2)" } ] },
            "bob": { "keys": [ { "id": "a", "sha256": "\(TokenHash.t3)" } ] },
            "carol": { "disabled": true }
          },
          "tests": [ { "user": "alice", "allow": ["acme/excel"] }, { "user": "bob", "deny": ["acme/excel"] } ] }
        """)
    let c = p.counts
    #expect(c.orgs == 2)
    #expect(c.users == 3)
    #expect(c.keys == 3)
    #expect(c.servers == 4)
    #expect(c.tests == 2)
}

@Test func passingFileTestsLetTheFileCompile() throws {
    let json = Example.json.replacingOccurrences(of: "\"users\": {", with: """
        "tests": [
            { "user": "bob", "allow": ["acme/excel:read_sheet", "acme/excel:write_sheet"],
              "deny": ["acme/excel:delete_sheet", "acme/excel:run_macro"] },
            { "user": "bob", "key": "ci", "allow": ["acme/excel:read_sheet"], "deny": ["acme/excel:write_sheet"] },
            { "user": "alice", "key": "laptop", "at": "2027-06-30", "deny": ["acme/excel"] },
            { "user": "alice", "key": "laptop", "at": "2027-06-29T23:59:59Z", "allow": ["acme/excel"] }
          ],
          "users": {
        """)
    let result = compile(json)
    let p = try #require(result.policy, "\(rendered(result.diagnostics))")
    #expect(p.counts.tests == 4)
    #expect(result.errors.isEmpty)
}

@Test func gatewaySettingsHaveTheirDefaults() throws {
    let p = try Example.policy()
    #expect(p.settings.listen == "127.0.0.1:8080")
    #expect(p.settings.publicURL == "http://127.0.0.1:8080")
    #expect(p.settings.audit == "-")
    #expect(p.settings.allowedOrigins.isEmpty)
}

@Test func publicURLDefaultsToTheListenAddressAndDropsATrailingSlash() throws {
    let onlyListen = try policy(#"{ "version": 1, "gateway": { "listen": "0.0.0.0:9000" } }"#)
    #expect(onlyListen.settings.publicURL == "http://0.0.0.0:9000")
    let both = try policy(#"{ "version": 1, "gateway": { "listen": "[::1]:9000", "publicURL": "https://orch.example.com/" } }"#)
    #expect(both.settings.listen == "[::1]:9000")
    #expect(both.settings.publicURL == "https://orch.example.com")
}
