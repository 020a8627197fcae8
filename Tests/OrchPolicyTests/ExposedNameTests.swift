import Foundation
import OrchPolicy
import Testing

// Names on the aggregated endpoints: PREFIX__NAME and ORG__PREFIX__NAME, always within
// ^[a-zA-Z0-9_-]{1,64}$, stable, and routed back through a table.

@Test func plainNamesArePrefixedAndKeptAsTheyAre() {
    #expect(ExposedName.make(prefix: "sheets", name: "read_sheet") == "sheets__read_sheet")
    #expect(ExposedName.make(org: "acme", prefix: "sheets", name: "read-Sheet2") == "acme__sheets__read-Sheet2")
}

@Test func otherCharactersAreReplacedAndTheNameGetsASuffixOfItsOwn() throws {
    let dotted = try #require(ExposedName.make(prefix: "wiki", name: "page.get"))
    let underscored = try #require(ExposedName.make(prefix: "wiki", name: "page_get"))
    #expect(dotted.hasPrefix("wiki__page_get-"))
    #expect(dotted.utf8.count == "wiki__page_get-".utf8.count + 6)
    #expect(underscored == "wiki__page_get")
    #expect(dotted != underscored)
    // One `_` per character, whatever its UTF-8 length; the same name always gives the same result.
    let accented = try #require(ExposedName.make(prefix: "wiki", name: "résumé"))
    #expect(accented.hasPrefix("wiki__r_sum_-"))
    #expect(ExposedName.make(prefix: "wiki", name: "résumé") == accented)
    for name in [dotted, underscored, accented] { #expect(ExposedName.isValid(name)) }
}

@Test func longNamesAreCutTo64WithASuffixAndStayApart() throws {
    let base = String(repeating: "a", count: 80)
    let one = try #require(ExposedName.make(org: "acme", prefix: "sheets", name: base + "1"))
    let two = try #require(ExposedName.make(org: "acme", prefix: "sheets", name: base + "2"))
    #expect(one.utf8.count == 64 && two.utf8.count == 64)
    #expect(one != two)
    #expect(ExposedName.isValid(one) && ExposedName.isValid(two))
    // A name that fits exactly is left alone.
    let exact = String(repeating: "b", count: 64 - "sheets__".count)
    #expect(ExposedName.make(prefix: "sheets", name: exact) == "sheets__" + exact)
    // A prefix that leaves no room gives no name (the caller reports it).
    #expect(ExposedName.make(org: String(repeating: "o", count: 40), prefix: String(repeating: "p", count: 20), name: "x") == nil)
}

@Test func theTableRoutesExposedNamesBackAndIsStable() throws {
    var table = ExposedNames()
    let sheets = "acme/sheets", wiki = "acme/wiki"
    let exposedA = table.expose("read", server: sheets, org: nil, prefix: "sheets")
    let exposedB = table.expose("read", server: wiki, org: nil, prefix: "wiki")
    let a = try #require(exposedA), b = try #require(exposedB)
    #expect(a == "sheets__read" && b == "wiki__read")
    #expect(table.origin(of: a) == ExposedNames.Origin(server: sheets, name: "read"))
    #expect(table.origin(of: b) == ExposedNames.Origin(server: wiki, name: "read"))
    #expect(table.origin(of: "sheets__missing") == nil)
    // Asking again gives the same name; the order of arrival does not matter.
    let again = table.expose("read", server: sheets, org: nil, prefix: "sheets")
    #expect(again == a)
    var other = ExposedNames()
    _ = other.expose("read", server: wiki, org: nil, prefix: "wiki")
    let reversed = other.expose("read", server: sheets, org: nil, prefix: "sheets")
    #expect(reversed == a)
    #expect(table.count == 2)
}

@Test func prefixesAreCheckedAndMustDifferWithinAnOrg() {
    let result = compile("""
        {"version": 1, "roles": {"all": {"allow": ["*"]}},
         "orgs": {"acme": {"members": {"bob": "all"}, "servers": {
            "sheets": {"command": "x", "prefix": "docs"},
            "docs": {"command": "x"},
            "wiki": {"command": "x", "prefix": "a__b"},
            "notes": {"command": "x", "prefix": "_notes"},
            "blog": {"command": "x", "prefix": "Blog-1"}}}},
         "users": {"bob": {"keys": []}}}
        """)
    let lines = rendered(result.diagnostics)
    #expect(lines.contains { $0.contains("orgs.acme.servers.docs: prefix \"docs\" is already server sheets's") })
    #expect(lines.contains { $0.contains("orgs.acme.servers.wiki.prefix: \"a__b\" is not a prefix: may not contain \"__\"") })
    #expect(lines.contains { $0.contains("orgs.acme.servers.notes.prefix: \"_notes\" is not a prefix: may not start or end with '_'") })
    #expect(!lines.contains { $0.contains("servers.blog") })
    #expect(result.errors.count == 3)
}

@Test func orgAndServerNamesThatWouldReadTwoWaysInAggregatedNamesAreRefused() throws {
    // Before: org "a" with server "b__c" and org "a__b" with server "c" both put a tool "t" at
    // a__b__c__t on /mcp; a server named "x_" put its tools at x___t.
    let result = compile("""
        {"version": 1, "roles": {"all": {"allow": ["*"]}},
         "orgs": {"acme": {"members": {"bob": "all"}, "servers": {
                    "a__b": {"command": "x"}, "c__d": {"command": "x", "prefix": "cd"},
                    "tail_": {"command": "x"}, "kept_": {"command": "x", "prefix": "kept"}, "plain": {"command": "x"}}},
                  "x__y": {"members": {"bob": "all"}, "servers": {}},
                  "ends_": {"members": {"bob": "all"}, "servers": {}}},
         "users": {"bob": {"keys": []}}}
        """)
    let errors = unplaced(rendered(result.diagnostics)).filter { $0.contains("error") }
    #expect(errors.sorted() == [
        "orch.json: error: orgs.acme.servers.a__b: \"a__b\" is not a valid server name: it may not contain \"__\", which separates the parts of the names on the aggregated endpoints",
        "orch.json: error: orgs.acme.servers.c__d: \"c__d\" is not a valid server name: it may not contain \"__\", which separates the parts of the names on the aggregated endpoints",
        "orch.json: error: orgs.acme.servers.tail_: the name tail_ cannot start its tools' names on the aggregated endpoints (it ends with '_', which runs into the \"__\" after it): set \"prefix\"",
        "orch.json: error: orgs.ends_: \"ends_\" is not a valid org name: it may not end with '_', which runs into the \"__\" after it on the aggregated endpoints",
        "orch.json: error: orgs.x__y: \"x__y\" is not a valid org name: it may not contain \"__\", which separates the parts of the names on the aggregated endpoints",
    ].sorted())
}

@Test func resourceURIsAreRewrittenToValidURIsNamingTheServerAndReadBack() throws {
    let uri = "file:///srv/shared/plan v2.txt?x=1#top"
    let exposed = ExposedURI.make(prefix: "notes", uri: uri)
    #expect(exposed == "orch:notes/file%3A%2F%2F%2Fsrv%2Fshared%2Fplan%20v2.txt%3Fx%3D1%23top")
    #expect(URL(string: exposed) != nil)
    let back = try #require(ExposedURI.parse(exposed, withOrg: false))
    #expect(back.org == nil && back.prefix == "notes" && back.uri == uri)
    let all = ExposedURI.make(org: "acme", prefix: "notes", uri: "notes://index")
    #expect(all == "orch:acme/notes/notes%3A%2F%2Findex")
    let read = try #require(ExposedURI.parse(all, withOrg: true))
    #expect(read.org == "acme" && read.prefix == "notes" && read.uri == "notes://index")
    #expect(ExposedURI.parse("file:///x", withOrg: false) == nil)
    #expect(ExposedURI.parse("orch:notes", withOrg: false) == nil)
    #expect(ExposedURI.parse("orch:notes/x", withOrg: true) == nil)
}

@Test func templateExpressionsStayForTheClientToExpand() throws {
    let exposed = ExposedURI.make(prefix: "notes", uri: "file:///srv/{path}/{+rest}", template: true)
    #expect(exposed == "orch:notes/file%3A%2F%2F%2Fsrv%2F{path}%2F{+rest}")
    // What a client sends after expanding path=plan.txt (no reserved characters) reads back.
    let expanded = exposed.replacingOccurrences(of: "{path}", with: "plan.txt").replacingOccurrences(of: "{+rest}", with: "a")
    #expect(try #require(ExposedURI.parse(expanded, withOrg: false)).uri == "file:///srv/plan.txt/a")
}

@Test func aServerWhoseNamesWouldLeaveLittleRoomOnTheTopEndpointIsWarnedAbout() throws {
    let org = String(repeating: "o", count: 30), server = String(repeating: "s", count: 25)
    let result = compile("""
        {"version": 1, "roles": {"all": {"allow": ["*"]}},
         "orgs": {"\(org)": {"members": {"bob": "all"}, "servers": {"\(server)": {"command": "x"}, "short": {"command": "x", "prefix": "s"}}}},
         "users": {"bob": {"keys": []}}}
        """)
    #expect(result.ok)
    let warnings = unplaced(rendered(result.diagnostics)).filter { $0.contains("on /mcp") }
    #expect(warnings == ["orch.json: warning: orgs.\(org).servers.\(server): on /mcp its tool and prompt names leave 5 characters after \"\(org)__\(server)__\": longer names are cut and given a hash suffix, and past 64 left out (set a shorter \"prefix\")"])
}
