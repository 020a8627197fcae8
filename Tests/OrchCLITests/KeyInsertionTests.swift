import Foundation
import OrchJSON
import Testing

/// Laid out like the demo orch.json: keys one a line (bob's last one on two lines), a user
/// without `keys` and one with an empty `keys`.
private let demoLike = """
    {
      "version": 1,
      "roles": {
        "admin": { "description": "everything", "allow": ["*"] },
        "member": { "allow": ["notes:echo", "clock"] }
      },
      "orgs": {
        "acme": {
          "displayName": "ACME Corp",
          "members": { "alice": "admin", "bob": ["member"], "carol": "member", "dave": "member" },
          "servers": {
            "notes": { "command": "notes-server", "args": ["--x"] },
            "clock": { "command": "clock-server" }
          }
        }
      },
      "users": {
        "alice": {
          "displayName": "Alice Kim",
          "keys": [
            { "id": "laptop", "sha256": "\(SHA256.hex(Fixtures.aliceToken))", "description": "demo key" }
          ]
        },
        "bob": {
          "displayName": "Bob Ortiz",
          "keys": [
            { "id": "laptop", "sha256": "\(SHA256.hex(Fixtures.bobOldToken))" },
            { "id": "ci", "sha256": "\(SHA256.hex(Fixtures.bobCIToken))",
              "scope": ["acme/notes:echo", "acme/clock"], "description": "CI: echo and the clock" }
          ]
        },
        "carol": {
          "displayName": "Carol Diaz"
        },
        "dave": {
          "keys": []
        }
      },
      "tests": [
        { "user": "bob", "allow": ["acme/clock"], "deny": ["acme/notes:write_note"] }
      ]
    }

    """

/// Runs `keys new --write` for `user` and returns the file before and after, and the new key's
/// object as `orch keys new` wrote it on one line.
private func addKey(_ user: String, _ extra: [String] = [], file: String = demoLike) throws -> (before: String, after: String, key: String) {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", file)
    let run = try sandbox.run(["keys", "new", "--user", user, "--id", "tablet", "--write"] + extra)
    #expect(run.status == 0, "\(run.stderr)")
    let after = try sandbox.readText("orch.json")
    let key = try #require(try JSONValue.parse(after)["users"]?[user]?["keys"]?.arrayValue?.last)
    let hash = try #require(key["sha256"]?.stringValue), created = try #require(key["created"]?.stringValue)
    #expect(hash == SHA256.hex(try #require(run.out.first)))
    var line = #"{ "id": "tablet", "sha256": "\#(hash)", "created": "\#(created)""#
    if extra.contains("--scope") { line += #", "scope": ["acme/clock", "acme/notes:echo"]"# }
    return (file, after, line + " }")
}

@Suite struct KeyInsertionTests {
    @Test func keysNewWriteAppendsAfterTheLastKeyAndKeepsEveryOtherByte() throws {
        let (before, after, key) = try addKey("bob", ["--scope", "acme/clock", "--scope", "acme/notes:echo"])
        let last = #""scope": ["acme/notes:echo", "acme/clock"], "description": "CI: echo and the clock" }"#
        #expect(after == before.replacingOccurrences(of: last, with: last + ",\n        " + key))
    }

    @Test func keysNewWriteGivesAUserWithoutKeysTheArray() throws {
        let (before, after, key) = try addKey("carol")
        let member = #""displayName": "Carol Diaz""#
        #expect(after == before.replacingOccurrences(of: member, with: member + ",\n      \"keys\": [\n        " + key + "\n      ]"))
    }

    @Test func keysNewWriteFillsAnEmptyKeysArray() throws {
        let (before, after, key) = try addKey("dave")
        #expect(after == before.replacingOccurrences(of: #""keys": []"#, with: "\"keys\": [\n        " + key + "\n      ]"))
    }

    @Test func keysNewWriteOnOneLineObjectsStaysOnOneLine() throws {
        let file = """
            {
              "version": 1,
              "roles": { "member": { "allow": ["*"] } },
              "orgs": { "acme": { "members": { "ann": "member", "eve": "member" }, "servers": { "notes": { "command": "x" } } } },
              "users": { "ann": {}, "eve": { "displayName": "Eve", "keys": [] } }
            }

            """
        let ann = try addKey("ann", file: file)
        #expect(ann.after == file.replacingOccurrences(of: #""ann": {}"#, with: #""ann": { "keys": [ "# + ann.key + " ] }"))
        let eve = try addKey("eve", file: file)
        #expect(eve.after == file.replacingOccurrences(of: #""keys": [] }"#, with: #""keys": [ "# + eve.key + " ] }"))
    }

    @Test func keysNewWriteKeepsCRLFLineEnds() throws {
        let file = demoLike.replacingOccurrences(of: "\n", with: "\r\n")
        let (before, after, key) = try addKey("carol", file: file)
        let member = #""displayName": "Carol Diaz""#
        #expect(after == before.replacingOccurrences(of: member, with: member + ",\r\n      \"keys\": [\r\n        " + key + "\r\n      ]"))
    }

    @Test func keysNewWriteKeepsAFormattedFileFormatted() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", demoLike)
        #expect(try sandbox.run(["fmt"]).status == 0)
        for user in ["bob", "carol", "dave"] {
            #expect(try sandbox.run(["keys", "new", "--user", user, "--id", "tablet", "--scope", "acme/clock", "--write"]).status == 0)
        }
        let check = try sandbox.run(["fmt", "--check"])
        #expect(check.status == 0, "\(check.stdout)")
        #expect(try sandbox.run(["check"]).status == 0)
    }

    @Test func keysNewWithClientAndWritePrintsTheKeyObjectToo() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", demoLike)
        let run = try sandbox.run(["keys", "new", "--user", "bob", "--id", "cursor", "--client", "cursor", "--write"])
        #expect(run.status == 0)
        let header = try #require(try JSONValue.parse(run.stdout)["mcpServers"]?["acme"]?["headers"]?["Authorization"]?.stringValue)
        let token = String(header.dropFirst("Bearer ".count))
        #expect(run.err.first == "added key cursor to users.bob.keys in orch.json (the token in the config above is shown only now):")
        let key = try JSONValue.parse(run.err.dropFirst().joined(separator: "\n"))
        #expect(key["id"] == "cursor")
        #expect(key["sha256"] == .string(SHA256.hex(token)))
        #expect(!run.stderr.contains(token))
    }

    @Test func theHelpExamplesMintIdsTheDemoUsersDoNotHave() throws {
        let run = try Sandbox().run(["keys", "new", "--help"])
        let demo = try JSONValue.parse(try Data(contentsOf: PackageRoot.url.appendingPathComponent("orch.json")).map { $0 })
        let examples = run.out.filter { $0.contains("orch keys new --user") }
        #expect(examples.count == 2)
        for example in examples {
            let words = example.split(separator: " ").map(String.init)
            let user = try #require(words.firstIndex(of: "--user").map { words[$0 + 1] })
            let id = try #require(words.firstIndex(of: "--id").map { words[$0 + 1] })
            let taken = demo["users"]?[user]?["keys"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
            #expect(!taken.isEmpty)
            #expect(!taken.contains(id), "\(example): \(user) already has a key \(id) in the demo orch.json")
        }
    }
}
