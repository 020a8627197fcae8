import Foundation
import OrchJSON
@testable import OrchPolicy
import Testing

// What clients hold tool names to: model APIs and Claude Desktop take ^[a-zA-Z0-9_-]{1,64}$, and
// Cursor a server's name and each tool's name within 60 characters together.

/// A large generated policy: orgs and servers with names and prefixes of every length allowed,
/// tools with long names and names of any characters, some renamed by overrides.
private func largePolicy(seed: UInt64) -> (json: String, tools: [String: [String]]) {
    var rng = SplitMix64(seed: seed)
    let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    func word(_ length: Int) -> String { String((0..<length).map { _ in alphabet.randomElement(using: &rng)! }) }
    let odd = ["é", ".", " ", "/", "ü", "中", ":", "😀", "$"]
    var orgs: [String] = []
    var tools: [String: [String]] = [:]
    for o in 0..<6 {
        let org = "o\(o)" + word(Int.random(in: 0...20, using: &rng))
        var servers: [String] = []
        for s in 0..<20 {
            let name = "s\(s)" + word(Int.random(in: 0...30, using: &rng))
            let prefix = Bool.random(using: &rng) ? #", "prefix": "p\#(s)\#(word(Int.random(in: 0...29, using: &rng)))""# : ""
            var names: [String] = []
            for t in 0..<40 {
                var tool = "t\(t)_" + word(Int.random(in: 0...90, using: &rng))
                if t % 5 == 0 { tool += odd.randomElement(using: &rng)! + word(3) }
                names.append(tool)
            }
            let renamed = names.prefix(3).enumerated().map { i, tool in
                #""\#(tool)": { "name": "renamed_\#(i)_\#(word(Int.random(in: 0...50, using: &rng)))" }"#
            }
            tools["\(org)/\(name)"] = names
            servers.append(#""\#(name)": { "command": "x"\#(prefix), "overrides": { "tools": { \#(renamed.joined(separator: ", ")) } } }"#)
        }
        orgs.append(#""\#(org)": { "members": { "u": "r" }, "servers": { \#(servers.joined(separator: ", ")) } }"#)
    }
    let json = #"{ "version": 1, "roles": { "r": { "allow": ["*"] } }, "orgs": { \#(orgs.joined(separator: ", ")) }, "users": { "u": {} } }"#
    return (json, tools)
}

@Test func everyExposedNameOfALargeGeneratedPolicyFitsTheNameRule() throws {
    for seed in [1, 2, 3] as [UInt64] {
        let (json, tools) = largePolicy(seed: seed)
        let policy = try #require(compile(json).policy, "\(rendered(compile(json).diagnostics))")
        var perOrg: [String: ExposedNames] = [:]
        var top = ExposedNames()
        var exposedCount = 0
        for server in policy.servers {
            let path = policy.serverPath(server.id)
            let org = policy.org(server.org).name
            for name in tools[path] ?? [] {
                guard let shown = server.spec.overrides.apply(["name": .string(name)])?["name"]?.stringValue else { continue }
                // The server's own endpoint shows the (overridden) upstream name; the aggregated ones prefix it.
                if shown != name { #expect(ExposedName.isValid(shown), "\(shown)") }
                let madeInOrg = perOrg[org, default: ExposedNames()].expose(shown, server: path, org: nil, prefix: server.spec.exposedPrefix)
                let madeOnTop = top.expose(shown, server: path, org: org, prefix: server.spec.exposedPrefix)
                let inOrg = try #require(madeInOrg)
                let onTop = try #require(madeOnTop)
                for exposed in [inOrg, onTop] { #expect(ExposedName.isValid(exposed), "\(exposed) of \(path) \(name)") }
                #expect(perOrg[org]?.origin(of: inOrg) == ExposedNames.Origin(server: path, name: shown))
                #expect(top.origin(of: onTop) == ExposedNames.Origin(server: path, name: shown))
                exposedCount += 1
            }
        }
        #expect(exposedCount == 6 * 20 * 40)
        #expect(top.count == exposedCount)
    }
}

@Test func cursorWarningsNameEveryToolPastSixtyCharacters() throws {
    let json = #"""
    { "version": 1, "roles": { "r": { "allow": ["*"] } },
      "orgs": { "acme": { "members": { "u": "r" }, "servers": {
        "github": { "command": "x", "overrides": { "tools": { "a_tool_with_a_rather_long_upstream_name_indeed_yes": { "name": "short" } } } },
        "a-server-with-a-name-long-enough-to-leave-no-room-for-tools": { "command": "x", "prefix": "p" } } } },
      "users": { "u": {} } }
    """#
    let policy = try #require(compile(json).policy)
    let user = try #require(policy.user(named: "u"))
    let reachable = policy.reachableServers(user: user, at: Date())
    var lock = PinLock()
    var github = PinLock.Server(pinnedAt: Date(timeIntervalSince1970: 0))
    github.pin(.tool, [["name": "list_issues"], ["name": "a_tool_with_a_rather_long_upstream_name_indeed_yes"],
                       ["name": "another_tool_with_a_rather_long_name_past_the_limit"]])
    lock.servers["acme/github"] = github
    let perOrg = policy.clientConfig(user: user, client: .cursor, token: .placeholder, reachable: reachable)
    let warnings = policy.cursorNameWarnings(perOrg, lock: lock)
    // acme + github__another_tool_… is 4 + 59; the long one is overridden to `short`.
    #expect(warnings == ["cursor: acme + github__another_tool_with_a_rather_long_name_past_the_limit is 63 characters, past Cursor's 60: set a shorter prefix for acme/github or override the name of another_tool_with_a_rather_long_name_past_the_limit"])
    // Per server, without pins for the long-named one: its name alone leaves too little room.
    let perServer = policy.clientConfig(user: user, client: .cursor, token: .placeholder, reachable: reachable, mode: .perServer)
    let unpinned = policy.cursorNameWarnings(perServer, lock: nil)
    #expect(unpinned.count == 1)
    #expect(unpinned.first?.hasPrefix("cursor: a-server-with-a-name-long-enough-to-leave-no-room-for-tools and a-server-with") == true, "\(unpinned)")
}
