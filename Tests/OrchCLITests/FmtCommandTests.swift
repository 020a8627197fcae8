import Foundation
import OrchJSON
import Testing

/// Every orch.json the project ships or tests with, by a name for the sandbox: samples/*.json
/// (the schema too), the root orch.json, the diff fixtures and the inline CLI fixtures.
private func formattableFiles() throws -> [(String, String)] {
    let samples = PackageRoot.url.appendingPathComponent("samples")
    var files: [(String, String)] = []
    for name in try FileManager.default.contentsOfDirectory(atPath: samples.path).sorted() where name.hasSuffix(".json") {
        files.append(("samples-\(name)", String(decoding: try Data(contentsOf: samples.appendingPathComponent(name)), as: UTF8.self)))
    }
    files.append(("root-orch.json", String(decoding: try Data(contentsOf: PackageRoot.url.appendingPathComponent("orch.json")), as: UTF8.self)))
    for name in ["old.json", "new.json"] { files.append(("diff-\(name)", try DiffFixture.text(name))) }
    files += [("policy.json", Fixtures.policy), ("literal-secret.json", Fixtures.literalSecret), ("two-errors.json", Fixtures.twoErrors)]
    return files
}

/// A file in every way `fmt` changes: members on one line, a long array, odd spacing, no final newline.
private let messy = #"{"version":1, "roles":{"admin":{"allow":["*"]}},"n":[1.0,1e3,-0,2E-2],"s":"caf\u00e9 \/ \"q\"","#
    + #""long":["aaaaaaaaaaaaaaaaaaaa","bbbbbbbbbbbbbbbbbbbb","cccccccccccccccccccc","dddddddddddddddddddd","eeeeeeeeee"],"#
    + #""e":{},"a":[],"o":[{"x":true},null]}"#

@Suite struct FmtCommandTests {
    @Test func fmtWritesTheCanonicalLayout() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", messy)
        let run = try sandbox.run(["fmt", "orch.json"])
        #expect(run.status == 0)
        #expect(run.err == [])
        #expect(run.out == ["orch.json: formatted"])
        #expect(try sandbox.readText("orch.json") == #"""
            {
              "version": 1,
              "roles": {
                "admin": {
                  "allow": ["*"]
                }
              },
              "n": [1.0, 1e3, -0, 2E-2],
              "s": "caf\u00e9 \/ \"q\"",
              "long": [
                "aaaaaaaaaaaaaaaaaaaa",
                "bbbbbbbbbbbbbbbbbbbb",
                "cccccccccccccccccccc",
                "dddddddddddddddddddd",
                "eeeeeeeeee"
              ],
              "e": {},
              "a": [],
              "o": [
                {
                  "x": true
                },
                null
              ]
            }

            """#)
    }

    @Test func fmtKeepsAnArrayOnOneLineUpToOneHundredColumns() throws {
        let sandbox = try Sandbox()
        // `  "k": [` is 8 columns, `]` and the comma 2: 90 columns of items fit, 91 do not.
        for (items, oneLine) in [(90, true), (91, false)] {
            let item = "\"" + String(repeating: "x", count: items - 2) + "\""
            try sandbox.write("orch.json", "{\"k\": [\(item)], \"z\": 1}")
            #expect(try sandbox.run(["fmt", "orch.json"]).status == 0)
            let first = try sandbox.readText("orch.json").split(separator: "\n")[1]
            #expect((first == "  \"k\": [\(item)],") == oneLine, "\(items): \(first)")
            #expect(first.count == (oneLine ? 100 : 8))
        }
    }

    @Test func fmtIsIdempotentAndKeepsEveryFilesMeaning() throws {
        let sandbox = try Sandbox()
        for (name, text) in try formattableFiles() {
            try sandbox.write(name, text)
            let first = try sandbox.run(["fmt", name])
            #expect(first.status == 0, "\(name): \(first.stderr)")
            let formatted = try sandbox.read(name)
            // Formatting a formatted file changes nothing and says nothing.
            let again = try sandbox.run(["fmt", name])
            #expect(again.status == 0 && again.out == [] && again.err == [], "\(name)")
            #expect(try sandbox.read(name) == formatted, "\(name): a second fmt changed it")
            #expect(try sandbox.run(["fmt", "--check", name]).status == 0, "\(name)")
            // The same document: equal values, keys in the same order.
            #expect(try JSONValue.parse(formatted) == JSONValue.parse(text), "\(name)")
        }
    }

    @Test func aFormattedPolicyExplainsEveryUserAsTheOriginalDoes() throws {
        let sandbox = try Sandbox()
        let environment = ["TICKETS_TOKEN": "x", "NOTES_TOKEN": "x", "NOTES_TOKEN_V2": "x", "WIKI_URL": "https://wiki.example/mcp"]
        for (name, text) in try formattableFiles() where !name.hasPrefix("samples-orch.schema") {
            try sandbox.write("original-" + name, text)
            try sandbox.write(name, text)
            try #require(try sandbox.run(["fmt", name]).status == 0)
            let users = try JSONValue.parse(text)["users"]?.objectValue?.keys ?? []
            for user in users {
                let before = try sandbox.run(["explain", "--json", "--config", "original-" + name, user], environment: environment)
                let after = try sandbox.run(["explain", "--json", "--config", name, user], environment: environment)
                #expect(after.status == before.status, "\(name) \(user)")
                #expect(after.stdout == before.stdout, "\(name) \(user)")
            }
            let check = { (file: String) in try sandbox.run(["check", "--json", file], environment: environment) }
            let (before, after) = (try JSONValue.parse(try check("original-" + name).stdout), try JSONValue.parse(try check(name).stdout))
            #expect(after["ok"] == before["ok"], "\(name)")
            #expect(after["diagnostics"]?.arrayValue?.count == before["diagnostics"]?.arrayValue?.count, "\(name)")
        }
    }

    @Test func fmtCheckPrintsTheDiffAndChangesNothing() throws {
        let sandbox = try Sandbox()
        let text = "{\n  \"version\": 1,\n  \"roles\": { \"a\": { \"allow\": [\"*\"] } },\n  \"orgs\": {}\n}\n"
        try sandbox.write("orch.json", text)
        let run = try sandbox.run(["fmt", "--check", "orch.json"])
        #expect(run.status == 1)
        #expect(run.err == [])
        #expect(run.out == [
            "--- orch.json",
            "+++ orch.json (formatted)",
            "@@ -1,5 +1,9 @@",
            " {",
            "   \"version\": 1,",
            "-  \"roles\": { \"a\": { \"allow\": [\"*\"] } },",
            "+  \"roles\": {",
            "+    \"a\": {",
            "+      \"allow\": [\"*\"]",
            "+    }",
            "+  },",
            "   \"orgs\": {}",
            " }",
        ])
        #expect(try sandbox.readText("orch.json") == text)
    }

    @Test func fmtCheckShowsAMissingFinalNewlineAndFarApartChangesAsTwoHunks() throws {
        let sandbox = try Sandbox()
        let lines = (1...12).map { "  \"k\($0)\": \($0)," }
        let text = "{\n  \"a\":  0,\n" + lines.joined(separator: "\n") + "\n  \"z\":  1\n}"
        try sandbox.write("orch.json", text)
        let run = try sandbox.run(["fmt", "--check", "orch.json"])
        #expect(run.status == 1)
        #expect(run.out == [
            "--- orch.json", "+++ orch.json (formatted)",
            "@@ -1,5 +1,5 @@", " {", "-  \"a\":  0,", "+  \"a\": 0,", "   \"k1\": 1,", "   \"k2\": 2,", "   \"k3\": 3,",
            "@@ -12,5 +12,5 @@", "   \"k10\": 10,", "   \"k11\": 11,", "   \"k12\": 12,",
            "-  \"z\":  1", "-}", "\\ No newline at end of file", "+  \"z\": 1", "+}",
        ])
    }

    @Test func fmtWritesLineFeedsOnly() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", "{\r\n  \"a\": 1\r\n}\r\n")
        let check = try sandbox.run(["fmt", "--check", "orch.json"])
        #expect(check.status == 1)
        #expect(check.stdout == "--- orch.json\n+++ orch.json (formatted)\n@@ -1,3 +1,3 @@\n-{\r\n-  \"a\": 1\r\n-}\r\n+{\n+  \"a\": 1\n+}\n")
        #expect(try sandbox.run(["fmt", "orch.json"]).status == 0)
        #expect(try sandbox.readText("orch.json") == "{\n  \"a\": 1\n}\n")
    }

    @Test func fmtLeavesAFormattedFileUntouched() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        #expect(try sandbox.run(["fmt", "orch.json"]).status == 0)
        let path = sandbox.path("orch.json")
        let past = Date(timeIntervalSince1970: 1_000_000_000)
        try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: path)
        let run = try sandbox.run(["fmt", "orch.json"])
        #expect(run.status == 0)
        #expect(run.out == [] && run.err == [])
        let modified = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
        #expect(modified == past)
    }

    @Test func fmtReplacesTheFileKeepingItsModeAndLeavingNoTemporaryFile() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", messy)
        let path = sandbox.path("orch.json")
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        #expect(try sandbox.run(["fmt", "orch.json"]).status == 0)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue == 0o640)
        #expect(try FileManager.default.contentsOfDirectory(atPath: sandbox.directory.path) == ["orch.json"])
    }

    @Test func fmtOfAFileThatIsNotJSONExits2WithLineAndColumn() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.syntaxError)
        for flags in [[], ["--check"]] {
            let run = try sandbox.run(["fmt"] + flags + ["orch.json"])
            #expect(run.status == 2)
            #expect(run.out == [])
            #expect(run.err == ["orch.json:3:13: error: string or '}' expected near ','"])
        }
        #expect(try sandbox.readText("orch.json") == Fixtures.syntaxError)
        let missing = try sandbox.run(["fmt", "missing.json"])
        #expect(missing.status == 2)
        #expect(missing.err == ["orch: cannot read missing.json: no such file"])
    }

    @Test func fmtReadsTheConfigFileLikeEveryCommand() throws {
        let sandbox = try Sandbox()
        try sandbox.write("deploy/orch.json", messy)
        #expect(try sandbox.run(["fmt", "--check"], environment: ["ORCH_CONFIG": "deploy/orch.json"]).status == 1)
        #expect(try sandbox.run(["fmt", "--config", "deploy/orch.json"]).out == ["deploy/orch.json: formatted"])
        #expect(try sandbox.run(["fmt", "--check", "deploy/orch.json"]).status == 0)
    }
}
