import Foundation
import OrchPolicy
import Testing

/// docs/reference/orch-json.md "Decisions", steps 1-3 and the deny/allow part of step 4, on the design's example.
enum Example {
    static let json = """
        {
          "version": 1,
          "roles": {
            "admin":  { "description": "everything in the org", "allow": ["*"] },
            "member": { "allow": ["brave-search", "excel:read_*", "excel:get_*"] },
            "editor": { "allow": ["excel"], "deny": ["excel:delete_*"] }
          },
          "orgs": {
            "acme": {
              "members": { "alice": "admin", "bob": ["member"], "dave": "admin", "gina": "member" },
              "teams": { "data": { "members": ["bob"], "roles": ["editor"] } },
              "servers": {
                "excel": { "command": "uvx", "tools": { "deny": ["run_macro"] } },
                "brave-search": { "command": "npx" },
                "tickets": { "url": "https://mcp.tickets.example.com/mcp",
                             "headers": { "Authorization": "Bearer ${env:TICKETS_TOKEN}" } },
                "legacy": { "command": "legacy", "disabled": true }
              }
            },
            "globex": { "members": { "carol": "admin" }, "servers": { "excel": { "command": "uvx" } } }
          },
          "users": {
            "alice": { "admin": true, "keys": [ { "id": "laptop", "sha256": "\(TokenHash.aliceLaptop)", "expires": "2027-06-30" } ] },
            "bob":   { "keys": [ { "id": "ci", "sha256": "\(TokenHash.bobCI)", "scope": ["acme/excel:read_*"] } ] },
            "carol": {},
            "dave":  { "disabled": true },
            "erin":  { "admin": true },
            "gina":  {}
          }
        }
        """

    static func policy() throws -> Policy { try OrchPolicyTests.policy(json) }
}

@Test func unknownUserIsDenied() throws {
    let p = try Example.policy()
    #expect(ask(p, "mallory", "acme/excel") == deny("no user mallory"))
    #expect(ask(p, "mallory", "acme/excel:read_sheet") == deny("no user mallory"))
}

@Test func disabledUserIsDeniedWhateverTheirRoles() throws {
    let p = try Example.policy()
    #expect(ask(p, "dave", "acme/excel") == deny("user dave is disabled"))
    #expect(ask(p, "dave", "acme/excel:read_sheet") == deny("user dave is disabled"))
}

@Test func unknownKeyNameIsDenied() throws {
    let p = try Example.policy()
    #expect(ask(p, "bob", "acme/excel:read_sheet", key: "laptop") == deny("no key laptop for this user"))
    #expect(ask(p, "bob", "acme/excel:read_sheet", key: "ci") == allow("role member allows \"excel:read_*\""))
}

@Test func keyOfAnotherUserIsDenied() throws {
    let p = try Example.policy()
    let alice = try #require(p.user(named: "alice"))
    let bob = try #require(p.user(named: "bob"))
    let excel = try #require(p.server(org: "acme", name: "excel"))
    let bobsKey = try #require(p.key(forToken: "orch_bob-ci"))
    let stolen = p.decide(user: alice, server: excel, tool: "read_sheet", key: bobsKey, at: Pinned.now)
    #expect(!stolen.allowed)
    #expect(p.describe(stolen.reason) == "key ci does not belong to alice")
    let own = p.decide(user: bob, server: excel, tool: "read_sheet", key: bobsKey, at: Pinned.now)
    #expect(own.allowed)
}

@Test func keyExpiresAtMidnightUTCOfItsDate() throws {
    let p = try Example.policy()
    let expired = deny("key laptop expired at 2027-06-30T00:00:00Z")
    #expect(ask(p, "alice", "acme/excel", key: "laptop", at: utc("2027-06-29T23:59:59Z")) == allow("role admin allows \"*\""))
    #expect(ask(p, "alice", "acme/excel", key: "laptop", at: utc("2027-06-30T00:00:00Z")) == expired)
    #expect(ask(p, "alice", "acme/excel:read_sheet", key: "laptop", at: utc("2028-01-01T00:00:00Z")) == expired)
    // The key expired, not the user: without it the same request is still decided by roles.
    #expect(ask(p, "alice", "acme/excel", at: utc("2028-01-01T00:00:00Z")) == allow("role admin allows \"*\""))
}

@Test func keyExpiryWithAnOffsetIsEnforcedInUTC() throws {
    let p = try policy("""
        { "version": 1, "roles": { "admin": { "allow": ["*"] } },
          "orgs": { "acme": { "members": { "alice": "admin" }, "servers": { "excel": { "command": "uvx" } } } },
          "users": { "alice": { "keys": [ { "id": "laptop", "sha256": "\(TokenHash.t1)", "expires": "2027-01-01T12:00:00+02:00" } ] } } }
        """)
    #expect(ask(p, "alice", "acme/excel", key: "laptop", at: utc("2027-01-01T09:59:59Z")).allowed)
    #expect(ask(p, "alice", "acme/excel", key: "laptop", at: utc("2027-01-01T10:00:00Z")) == deny("key laptop expired at 2027-01-01T10:00:00Z"))
}

@Test func keyWithoutExpiryOrExpiringLaterIsAccepted() throws {
    let p = try Example.policy()
    let farFuture = utc("2099-01-01T00:00:00Z")
    #expect(ask(p, "bob", "acme/excel:read_sheet", key: "ci", at: farFuture) == allow("role member allows \"excel:read_*\""))
    #expect(ask(p, "alice", "acme/brave-search", key: "laptop") == allow("role admin allows \"*\""))
}

@Test func unknownServerIsDenied() throws {
    let p = try Example.policy()
    #expect(ask(p, "alice", "acme/nope") == deny("no server acme/nope"))
    #expect(ask(p, "alice", "acme/nope:read") == deny("no server acme/nope"))
    #expect(ask(p, "alice", "initech/excel") == deny("no server initech/excel"))
}

@Test func disabledServerIsDeniedEvenToAnAdmin() throws {
    let p = try Example.policy()
    #expect(ask(p, "alice", "acme/legacy") == deny("server acme/legacy is disabled"))
    #expect(ask(p, "alice", "acme/legacy:anything") == deny("server acme/legacy is disabled"))
}

@Test func userWhoIsNotAMemberOfTheOrgIsDenied() throws {
    let p = try Example.policy()
    #expect(ask(p, "carol", "acme/excel") == deny("carol is not a member of acme"))
    #expect(ask(p, "alice", "globex/excel:read_sheet") == deny("alice is not a member of globex"))
    #expect(ask(p, "carol", "globex/excel:read_sheet") == allow("role admin allows \"*\""))
}

@Test func gatewayAdminFlagGrantsNoServerAccess() throws {
    let p = try Example.policy()
    #expect(ask(p, "erin", "acme/excel") == deny("erin is not a member of acme"))
}

@Test func teamRolesGrantAccessInTheTeamsOrg() throws {
    let p = try Example.policy()
    #expect(ask(p, "bob", "acme/excel:write_sheet") == allow("role editor (team data) allows \"excel\""))
    let q = try policy("""
        { "version": 1, "roles": { "admin": { "allow": ["*"] }, "viewer": { "allow": ["excel:read_*"] } },
          "orgs": {
            "acme": { "members": { "bob": "viewer" }, "servers": { "excel": { "command": "uvx" } } },
            "globex": { "members": {}, "teams": { "ops": { "members": ["bob"], "roles": ["admin"] } },
                        "servers": { "excel": { "command": "uvx" } } } },
          "users": { "bob": {} } }
        """)
    #expect(ask(q, "bob", "globex/excel:write_sheet") == allow("role admin (team ops) allows \"*\""))
    // A team of globex grants nothing in acme.
    #expect(ask(q, "bob", "acme/excel:write_sheet") == deny("no role of bob allows acme/excel:write_sheet (roles: viewer)"))
}

@Test func teamMembershipAloneMakesAUserAMember() throws {
    let p = try policy("""
        { "version": 1, "roles": { "admin": { "allow": ["*"] } },
          "orgs": { "acme": { "members": {}, "teams": { "ops": { "members": ["bob"], "roles": ["admin"] } },
                              "servers": { "excel": { "command": "uvx" } } } },
          "users": { "bob": {}, "carol": {} } }
        """)
    #expect(ask(p, "bob", "acme/excel") == allow("role admin (team ops) allows \"*\""))
    #expect(ask(p, "carol", "acme/excel") == deny("carol is not a member of acme"))
}

@Test func denyRuleWinsOverAllow() throws {
    let p = try Example.policy()
    #expect(ask(p, "bob", "acme/excel:delete_sheet") == deny("role editor (team data) denies \"excel:delete_*\""))
}

@Test func denyInOneRoleWinsOverAllowInAnother() throws {
    let p = try policy("""
        { "version": 1,
          "roles": { "admin": { "allow": ["*"] }, "careful": { "allow": ["excel:read_*"], "deny": ["*:delete_*"] } },
          "orgs": { "acme": {
            "members": { "frank": ["admin", "careful"], "hana": ["careful", "admin"], "ivan": "admin" },
            "teams": { "safety": { "members": ["ivan"], "roles": ["careful"] } },
            "servers": { "excel": { "command": "uvx" } } } },
          "users": { "frank": {}, "hana": {}, "ivan": {} } }
        """)
    #expect(ask(p, "frank", "acme/excel:delete_sheet") == deny("role careful denies \"*:delete_*\""))
    #expect(ask(p, "hana", "acme/excel:delete_sheet") == deny("role careful denies \"*:delete_*\""))
    #expect(ask(p, "ivan", "acme/excel:delete_sheet") == deny("role careful (team safety) denies \"*:delete_*\""))
    #expect(ask(p, "frank", "acme/excel:write_sheet") == allow("role admin allows \"*\""))
}

@Test func toolWithoutAnAllowRuleIsDenied() throws {
    let p = try Example.policy()
    #expect(ask(p, "gina", "acme/excel:write_sheet") == deny("no role of gina allows acme/excel:write_sheet (roles: member)"))
    #expect(ask(p, "gina", "acme/tickets") == deny("no role of gina allows acme/tickets (roles: member)"))
    #expect(ask(p, "bob", "acme/tickets:list") == deny("no role of bob allows acme/tickets:list (roles: member, editor)"))
}

@Test func roleWithAnEmptyAllowListGrantsNothing() throws {
    let p = try policy("""
        { "version": 1, "roles": { "nobody": { "allow": [] } },
          "orgs": { "acme": { "members": { "bob": "nobody" }, "servers": { "excel": { "command": "uvx" } } } },
          "users": { "bob": {} } }
        """)
    #expect(ask(p, "bob", "acme/excel") == deny("no role of bob allows acme/excel (roles: nobody)"))
    #expect(ask(p, "bob", "acme/excel:read") == deny("no role of bob allows acme/excel:read (roles: nobody)"))
}

@Test func serverToolsDenyFilterHidesATool() throws {
    let p = try Example.policy()
    #expect(ask(p, "alice", "acme/excel:run_macro") == deny("server acme/excel hides run_macro (tools.deny \"run_macro\")"))
    #expect(ask(p, "alice", "acme/excel:run_macros") == allow("role admin allows \"*\""))
    // The filter hides tools, not the server.
    #expect(ask(p, "alice", "acme/excel") == allow("role admin allows \"*\""))
}

@Test func serverToolsAllowListHidesEveryOtherTool() throws {
    let p = try policy("""
        { "version": 1, "roles": { "admin": { "allow": ["*"] } },
          "orgs": { "acme": { "members": { "alice": "admin" }, "servers": {
            "excel": { "command": "uvx", "tools": { "allow": ["read_*", "get_info"], "deny": ["read_secret*"] } } } } },
          "users": { "alice": {} } }
        """)
    #expect(ask(p, "alice", "acme/excel:read_sheet") == allow("role admin allows \"*\""))
    #expect(ask(p, "alice", "acme/excel:get_info") == allow("role admin allows \"*\""))
    #expect(ask(p, "alice", "acme/excel:get_infos") == deny("server acme/excel hides get_infos (no tools.allow glob)"))
    #expect(ask(p, "alice", "acme/excel:write_sheet") == deny("server acme/excel hides write_sheet (no tools.allow glob)"))
    #expect(ask(p, "alice", "acme/excel:read_secrets") == deny("server acme/excel hides read_secrets (tools.deny \"read_secret*\")"))
}

@Test func rolesAreCheckedBeforeTheServerFilter() throws {
    let p = try Example.policy()
    // gina's member role has no rule for run_macro, so that is the reason, not the filter.
    #expect(ask(p, "gina", "acme/excel:run_macro") == deny("no role of gina allows acme/excel:run_macro (roles: member)"))
    #expect(ask(p, "bob", "acme/excel:run_macro") == deny("server acme/excel hides run_macro (tools.deny \"run_macro\")"))
}

@Test func toolNamesAreCaseSensitive() throws {
    let p = try Example.policy()
    #expect(ask(p, "gina", "acme/excel:read_sheet").allowed)
    #expect(ask(p, "gina", "acme/excel:READ_sheet") == deny("no role of gina allows acme/excel:READ_sheet (roles: member)"))
}

// Step 1 comes before step 2: asking by names must give the same reason as the gateway's id-based
// path, where the user and key are checked before the server is looked up.

@Test func disabledUserIsTheReasonBeforeAnUnknownServerOrKey() throws {
    let p = try Example.policy()
    #expect(ask(p, "dave", "acme/nope") == deny("user dave is disabled"))
    #expect(ask(p, "dave", "acme/excel", key: "nope") == deny("user dave is disabled"))
}

@Test func expiredKeyIsTheReasonBeforeAnUnknownServer() throws {
    let p = try Example.policy()
    #expect(ask(p, "alice", "acme/nope", key: "laptop", at: utc("2028-01-01T00:00:00Z"))
        == deny("key laptop expired at 2027-06-30T00:00:00Z"))
}
