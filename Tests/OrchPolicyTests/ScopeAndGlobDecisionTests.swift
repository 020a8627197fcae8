import Foundation
import OrchPolicy
import Testing

// docs/reference/orch-json.md "Decisions": key scopes (end of step 4 and step 5), server-level targets (step 5),
// globs and org-relative server globs.

@Test func keyScopeNarrowsToolAccess() throws {
    let p = try Example.policy()
    // bob's roles allow write_sheet (editor), but key ci is scoped to acme/excel:read_*.
    #expect(ask(p, "bob", "acme/excel:write_sheet") == allow("role editor (team data) allows \"excel\""))
    #expect(ask(p, "bob", "acme/excel:write_sheet", key: "ci")
        == deny("key ci is scoped to acme/excel:read_*, which does not include acme/excel:write_sheet"))
    #expect(ask(p, "bob", "acme/excel:read_sheet", key: "ci") == allow("role member allows \"excel:read_*\""))
}

@Test func keyScopeNarrowsServerAccess() throws {
    let p = try Example.policy()
    #expect(ask(p, "bob", "acme/brave-search") == allow("role member allows \"brave-search\""))
    #expect(ask(p, "bob", "acme/brave-search", key: "ci")
        == deny("key ci is scoped to acme/excel:read_*, which does not include acme/brave-search"))
    // A tool-level scope entry still lets the key connect to its server.
    #expect(ask(p, "bob", "acme/excel", key: "ci") == allow("role member allows \"excel:read_*\""))
}

@Test func serverLevelScopeCoversEveryToolTheRolesAllow() throws {
    let p = try policy("""
        { "version": 1, "roles": { "admin": { "allow": ["*"] } },
          "orgs": { "acme": { "members": { "alice": "admin" }, "servers": {
            "excel": { "command": "uvx" }, "exchange": { "command": "uvx" }, "search": { "command": "uvx" } } } },
          "users": { "alice": { "keys": [ { "id": "ci", "sha256": "\(TokenHash.t1)", "scope": ["acme/ex*"] } ] } } }
        """)
    #expect(ask(p, "alice", "acme/excel:delete_sheet", key: "ci") == allow("role admin allows \"*\""))
    #expect(ask(p, "alice", "acme/exchange", key: "ci") == allow("role admin allows \"*\""))
    #expect(ask(p, "alice", "acme/search", key: "ci") == deny("key ci is scoped to acme/ex*, which does not include acme/search"))
    #expect(ask(p, "alice", "acme/search:find", key: "ci")
        == deny("key ci is scoped to acme/ex*, which does not include acme/search:find"))
}

@Test func keyScopeNeverWidensWhatTheUserMayDo() throws {
    let p = try policy("""
        { "version": 1, "roles": { "viewer": { "allow": ["excel:read_*"], "deny": ["excel:read_secret"] } },
          "orgs": {
            "acme": { "members": { "gina": "viewer" }, "servers": { "excel": { "command": "uvx", "tools": { "deny": ["read_raw"] } },
                                                                    "search": { "command": "uvx" } } },
            "globex": { "members": {}, "servers": { "excel": { "command": "uvx" } } } },
          "users": { "gina": { "keys": [ { "id": "all", "sha256": "\(TokenHash.t1)", "scope": ["*/*", "acme/excel:*"] } ] } } }
        """)
    #expect(ask(p, "gina", "acme/excel:read_sheet", key: "all") == allow("role viewer allows \"excel:read_*\""))
    #expect(ask(p, "gina", "acme/excel:write_sheet", key: "all")
        == deny("no role of gina allows acme/excel:write_sheet (roles: viewer)"))
    #expect(ask(p, "gina", "acme/excel:read_secret", key: "all") == deny("role viewer denies \"excel:read_secret\""))
    #expect(ask(p, "gina", "acme/excel:read_raw", key: "all") == deny("server acme/excel hides read_raw (tools.deny \"read_raw\")"))
    #expect(ask(p, "gina", "acme/search", key: "all") == deny("no role of gina allows acme/search (roles: viewer)"))
    #expect(ask(p, "gina", "globex/excel", key: "all") == deny("gina is not a member of globex"))
}

@Test func scopeEntriesAreGlobsOverOrgServerAndTool() throws {
    let p = try policy("""
        { "version": 1, "roles": { "admin": { "allow": ["*"] } },
          "orgs": {
            "acme": { "members": { "alice": "admin" }, "servers": { "excel": { "command": "uvx" }, "sheets": { "command": "uvx" } } },
            "globex": { "members": { "alice": "admin" }, "servers": { "excel": { "command": "uvx" } } } },
          "users": { "alice": { "keys": [ { "id": "ci", "sha256": "\(TokenHash.t1)", "scope": ["*/excel:*_sheet", "glo*/*:get_*"] } ] } } }
        """)
    #expect(ask(p, "alice", "acme/excel:read_sheet", key: "ci").allowed)
    #expect(ask(p, "alice", "globex/excel:write_sheet", key: "ci").allowed)
    #expect(ask(p, "alice", "globex/excel:get_info", key: "ci").allowed)
    #expect(ask(p, "alice", "acme/excel:get_info", key: "ci")
        == deny("key ci is scoped to */excel:*_sheet, glo*/*:get_*, which does not include acme/excel:get_info"))
    #expect(ask(p, "alice", "acme/sheets", key: "ci")
        == deny("key ci is scoped to */excel:*_sheet, glo*/*:get_*, which does not include acme/sheets"))
    #expect(ask(p, "alice", "acme/sheets:read_sheet", key: "ci").allowed == false)
}

@Test func toolLevelDenyDoesNotDenyConnectingToTheServer() throws {
    let p = try Example.policy()
    // editor denies excel:delete_*, which leaves the rest of excel: bob may connect.
    #expect(ask(p, "bob", "acme/excel") == allow("role member allows \"excel:read_*\""))
    let q = try policy("""
        { "version": 1, "roles": { "editor": { "allow": ["excel"], "deny": ["excel:delete_*", "ex*:run"] } },
          "orgs": { "acme": { "members": { "bob": "editor" }, "servers": { "excel": { "command": "uvx" } } } },
          "users": { "bob": {} } }
        """)
    #expect(ask(q, "bob", "acme/excel") == allow("role editor allows \"excel\""))
}

@Test func wholeServerDenyDeniesConnecting() throws {
    let p = try policy("""
        { "version": 1,
          "roles": {
            "no-excel": { "allow": ["*"], "deny": ["excel"] },
            "no-excel-tools": { "allow": ["*"], "deny": ["excel:*"] },
            "no-ex": { "allow": ["*"], "deny": ["ex*:*"] }
          },
          "orgs": { "acme": {
            "members": { "hank": "no-excel", "ivan": "no-excel-tools", "jo": "no-ex" },
            "servers": { "excel": { "command": "uvx" }, "brave-search": { "command": "npx" } } } },
          "users": { "hank": {}, "ivan": {}, "jo": {} } }
        """)
    #expect(ask(p, "hank", "acme/excel") == deny("role no-excel denies \"excel\", the whole server"))
    #expect(ask(p, "ivan", "acme/excel") == deny("role no-excel-tools denies \"excel:*\", the whole server"))
    #expect(ask(p, "jo", "acme/excel") == deny("role no-ex denies \"ex*:*\", the whole server"))
    #expect(ask(p, "hank", "acme/excel:read_sheet") == deny("role no-excel denies \"excel\""))
    #expect(ask(p, "ivan", "acme/excel:read_sheet") == deny("role no-excel-tools denies \"excel:*\""))
    #expect(ask(p, "hank", "acme/brave-search") == allow("role no-excel allows \"*\""))
}

@Test func wholeServerDenyInOneRoleWinsOverAnotherRolesAllow() throws {
    let p = try policy("""
        { "version": 1, "roles": { "admin": { "allow": ["*"] }, "blocked": { "allow": [], "deny": ["excel"] } },
          "orgs": { "acme": { "members": { "kim": "admin" }, "teams": { "quarantine": { "members": ["kim"], "roles": ["blocked"] } },
                              "servers": { "excel": { "command": "uvx" } } } },
          "users": { "kim": {} } }
        """)
    #expect(ask(p, "kim", "acme/excel") == deny("role blocked (team quarantine) denies \"excel\", the whole server"))
}

@Test func connectingNeedsAnAllowRuleForThatServer() throws {
    let p = try policy("""
        { "version": 1, "roles": { "reader": { "allow": ["excel:read_*"] } },
          "orgs": { "acme": { "members": { "bob": "reader" },
                              "servers": { "excel": { "command": "uvx" }, "brave-search": { "command": "npx" } } } },
          "users": { "bob": {} } }
        """)
    #expect(ask(p, "bob", "acme/excel") == allow("role reader allows \"excel:read_*\""))
    #expect(ask(p, "bob", "acme/brave-search") == deny("no role of bob allows acme/brave-search (roles: reader)"))
}

@Test func toolGlobsMatchAtEitherEnd() throws {
    let p = try policy("""
        { "version": 1, "roles": { "sheets": { "allow": ["excel:*_sheet", "excel:read_*", "excel:*cell*"] } },
          "orgs": { "acme": { "members": { "bob": "sheets" }, "servers": { "excel": { "command": "uvx" } } } },
          "users": { "bob": {} } }
        """)
    #expect(ask(p, "bob", "acme/excel:write_sheet") == allow("role sheets allows \"excel:*_sheet\""))
    #expect(ask(p, "bob", "acme/excel:_sheet") == allow("role sheets allows \"excel:*_sheet\""))
    #expect(ask(p, "bob", "acme/excel:read_range") == allow("role sheets allows \"excel:read_*\""))
    #expect(ask(p, "bob", "acme/excel:read_") == allow("role sheets allows \"excel:read_*\""))
    #expect(ask(p, "bob", "acme/excel:get_cell_value") == allow("role sheets allows \"excel:*cell*\""))
    #expect(ask(p, "bob", "acme/excel:cell") == allow("role sheets allows \"excel:*cell*\""))
    #expect(ask(p, "bob", "acme/excel:sheet") == deny("no role of bob allows acme/excel:sheet (roles: sheets)"))
    #expect(ask(p, "bob", "acme/excel:sheet_list") == deny("no role of bob allows acme/excel:sheet_list (roles: sheets)"))
    #expect(ask(p, "bob", "acme/excel:xread_range") == deny("no role of bob allows acme/excel:xread_range (roles: sheets)"))
}

@Test func serverAndToolGlobsCombine() throws {
    let p = try policy("""
        { "version": 1, "roles": { "getter": { "allow": ["ex*:get_*"] }, "all": { "allow": ["*"] } },
          "orgs": { "acme": { "members": { "bob": "getter", "alice": "all" }, "servers": {
            "excel": { "command": "uvx" }, "exchange": { "command": "uvx" }, "brave-search": { "command": "npx" } } } },
          "users": { "bob": {}, "alice": {} } }
        """)
    #expect(ask(p, "bob", "acme/excel:get_info") == allow("role getter allows \"ex*:get_*\""))
    #expect(ask(p, "bob", "acme/exchange:get_rate") == allow("role getter allows \"ex*:get_*\""))
    #expect(ask(p, "bob", "acme/exchange") == allow("role getter allows \"ex*:get_*\""))
    #expect(ask(p, "bob", "acme/excel:set_info") == deny("no role of bob allows acme/excel:set_info (roles: getter)"))
    #expect(ask(p, "bob", "acme/brave-search:get_results") == deny("no role of bob allows acme/brave-search:get_results (roles: getter)"))
    #expect(ask(p, "bob", "acme/brave-search") == deny("no role of bob allows acme/brave-search (roles: getter)"))
    for target in ["acme/excel", "acme/excel:anything", "acme/brave-search:search", "acme/exchange:get_rate"] {
        #expect(ask(p, "alice", target) == allow("role all allows \"*\""), "\(target)")
    }
}

@Test func serverGlobsAreRelativeToTheOrgWhereTheRoleIsHeld() throws {
    let p = try policy("""
        { "version": 1,
          "roles": { "admin": { "allow": ["*"] }, "editor": { "allow": ["excel"], "deny": ["excel:delete_*"] } },
          "orgs": {
            "acme": { "members": { "bob": "editor" }, "servers": { "excel": { "command": "uvx" }, "search": { "command": "uvx" } } },
            "globex": { "members": { "bob": "admin" }, "servers": { "excel": { "command": "uvx" }, "search": { "command": "uvx" } } },
            "initech": { "members": { "carol": "editor" }, "servers": { "excel": { "command": "uvx" } } } },
          "users": { "bob": {}, "carol": {} } }
        """)
    // editor's deny applies where editor is held (acme), not in globex, where bob is admin.
    #expect(ask(p, "bob", "acme/excel:delete_sheet") == deny("role editor denies \"excel:delete_*\""))
    #expect(ask(p, "bob", "globex/excel:delete_sheet") == allow("role admin allows \"*\""))
    #expect(ask(p, "bob", "acme/search") == deny("no role of bob allows acme/search (roles: editor)"))
    #expect(ask(p, "bob", "globex/search") == allow("role admin allows \"*\""))
    // "excel" in carol's role means initech/excel, not the other orgs' excel.
    #expect(ask(p, "carol", "initech/excel:read") == allow("role editor allows \"excel\""))
    #expect(ask(p, "carol", "acme/excel:read") == deny("carol is not a member of acme"))
}
