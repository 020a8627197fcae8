import Foundation
import OrchJSON
import Testing

private let acmeURL = "http://127.0.0.1:8080/orgs/acme/mcp"

private func mode(_ path: String) throws -> Int {
    try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
}

@Suite struct ClientConfigMergeTests {
    @Test func mergeIntoAMissingFileCreatesItAndItsFoldersPrivately() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let run = try sandbox.run(["client-config", "--user", "bob", "--client", "cursor", "--token-stdin", "--merge-into", "home/.cursor/mcp.json"],
                                  stdin: Fixtures.bobOldToken)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "")
        #expect(run.err == ["orch: added mcpServers.acme to home/.cursor/mcp.json"])
        let written = try JSONValue.parse(try sandbox.read("home/.cursor/mcp.json"))
        #expect(written == ["mcpServers": ["acme": ["url": .string(acmeURL), "headers": ["Authorization": .string("Bearer \(Fixtures.bobOldToken)")]]]])
        // It holds a token: only its owner may read it.
        #expect(try mode(sandbox.path("home/.cursor/mcp.json")) == 0o600)
    }

    @Test func mergeIntoAFileWithOtherServersKeepsThemAndEveryOtherKey() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let path = try sandbox.write("mcp.json", #"{ "theme": "dark", "mcpServers": { "github": { "command": "gh-mcp", "env": { "T": "x" } } }, "z": [1, 2] }"#)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        let run = try sandbox.run(["client-config", "--user", "bob", "--client", "windsurf", "--token-env", "ORCH_TOKEN", "--merge-into", "mcp.json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.err.prefix(2) == ["orch: added mcpServers.acme to mcp.json", "orch: kept 1 other server in mcp.json"])
        let written = try JSONValue.parse(try sandbox.read("mcp.json"))
        #expect(written.objectValue?.keys == ["theme", "mcpServers", "z"])
        #expect(written["theme"] == "dark")
        #expect(written["z"] == [1, 2])
        #expect(written["mcpServers"]?.objectValue?.keys == ["github", "acme"])
        #expect(written["mcpServers"]?["github"] == ["command": "gh-mcp", "env": ["T": "x"]])
        #expect(written["mcpServers"]?["acme"]?["headers"]?["Authorization"] == "Bearer ${env:ORCH_TOKEN}")
        // No token in it: the file keeps its mode.
        #expect(try mode(path) == 0o644)
    }

    @Test func mergeIntoReplacesTheEntryOfTheSameNameInPlace() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        try sandbox.write("mcp.json", #"{ "mcpServers": { "acme": { "url": "http://old.example.com/mcp" }, "other": { "url": "http://other" } } }"#)
        let run = try sandbox.run(["client-config", "--user", "bob", "--client", "cursor", "--merge-into", "mcp.json"])
        #expect(run.status == 0)
        #expect(run.err.prefix(2) == ["orch: replaced mcpServers.acme in mcp.json", "orch: kept 1 other server in mcp.json"])
        let servers = try #require(try JSONValue.parse(try sandbox.read("mcp.json"))["mcpServers"]?.objectValue)
        #expect(servers.keys == ["acme", "other"])
        #expect(servers["acme"]?["url"] == .string(acmeURL))
        #expect(servers["other"] == ["url": "http://other"])
    }

    @Test func mergeIntoVSCodesFileUsesItsServersAndInputs() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        try sandbox.write(".vscode/mcp.json", #"{ "inputs": [ { "type": "promptString", "id": "gh" } ], "servers": { "gh": { "type": "stdio", "command": "gh" } } }"#)
        let run = try sandbox.run(["client-config", "--user", "bob", "--client", "vscode", "--merge-into", ".vscode/mcp.json"])
        #expect(run.status == 0)
        #expect(run.err.prefix(3) == ["orch: added inputs orch-token to .vscode/mcp.json", "orch: added servers.acme to .vscode/mcp.json", "orch: kept 1 other server in .vscode/mcp.json"])
        let written = try JSONValue.parse(try sandbox.read(".vscode/mcp.json"))
        #expect(written["inputs"]?.arrayValue?.map { $0["id"] } == ["gh", "orch-token"])
        #expect(written["servers"]?.objectValue?.keys == ["gh", "acme"])
        let again = try sandbox.run(["client-config", "--user", "bob", "--client", "vscode", "--merge-into", ".vscode/mcp.json"])
        #expect(again.err.prefix(2) == ["orch: replaced inputs orch-token in .vscode/mcp.json", "orch: replaced servers.acme in .vscode/mcp.json"])
        #expect(try JSONValue.parse(try sandbox.read(".vscode/mcp.json")) == written)
    }

    @Test(arguments: [
        ("[1, 2]\n", "orch: mcp.json holds an array, not a JSON object; it was not changed"),
        (#"{ "mcpServers": [] }"#, #"orch: "mcpServers" in mcp.json is an array, not an object; it was not changed"#),
        ("{ // mine\n}\n", "orch: mcp.json:1:3: not JSON ('[' or '{' expected near '/'); it was not changed: fix it, or merge by hand"),
    ])
    func mergeIntoRefusesAFileThatIsNotAJSONObjectAndLeavesIt(content: String, message: String) throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        try sandbox.write("mcp.json", content)
        let run = try sandbox.run(["client-config", "--user", "bob", "--client", "cursor", "--merge-into", "mcp.json"])
        #expect(run.status == 2)
        #expect(run.stdout == "")
        #expect(run.err.first?.hasPrefix(String(message.prefix(20))) == true)
        if !content.contains("//") { #expect(run.err == [message]) }
        #expect(try sandbox.readText("mcp.json") == content)
    }

    @Test func keysNewMergesTheConfigWithItsTokenIntoTheClientsFile() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        try sandbox.write("mcp.json", #"{ "mcpServers": { "other": { "url": "http://other" } } }"#)
        let run = try sandbox.run(["keys", "new", "--user", "bob", "--id", "cursor", "--client", "cursor", "--write", "--merge-into", "mcp.json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout == "")
        #expect(run.err.first == "added key cursor to users.bob.keys in orch.json (the token is only in mcp.json):")
        #expect(run.err.suffix(2) == ["orch: added mcpServers.acme to mcp.json", "orch: kept 1 other server in mcp.json"])
        let written = try JSONValue.parse(try sandbox.read("mcp.json"))
        let header = try #require(written["mcpServers"]?["acme"]?["headers"]?["Authorization"]?.stringValue)
        let token = String(header.dropFirst("Bearer ".count))
        let policy = try JSONValue.parse(try sandbox.read("orch.json"))
        #expect(policy["users"]?["bob"]?["keys"]?.arrayValue?.last?["sha256"] == .string(SHA256.hex(token)))
        #expect(try mode(sandbox.path("mcp.json")) == 0o600)
    }

    @Test func keysNewWithAClientFileItCannotMergeIntoAddsNoKey() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        try sandbox.write("mcp.json", "[]")
        let before = try sandbox.read("orch.json")
        let run = try sandbox.run(["keys", "new", "--user", "bob", "--id", "cursor", "--client", "cursor", "--write", "--merge-into", "mcp.json"])
        #expect(run.status == 2)
        #expect(run.stdout == "")
        #expect(run.err == ["orch: mcp.json holds an array, not a JSON object; it was not changed"])
        #expect(try sandbox.read("orch.json") == before)
        #expect(try sandbox.readText("mcp.json") == "[]")
    }

    @Test func theNoTokenHintNamesTheFileAndTheMergeTarget() throws {
        let sandbox = try Sandbox()
        try sandbox.write("team/orch.json", Fixtures.policy)
        let run = try sandbox.run(["client-config", "team/orch.json", "--user", "alice", "--client", "cursor", "--merge-into", "my dir/mcp.json"])
        #expect(run.status == 0)
        #expect(run.err.last == "orch: no token yet? `orch keys new team/orch.json --user alice --client cursor --write --merge-into 'my dir/mcp.json'` mints a key, adds it to team/orch.json and merges this config with it")
        // The hint runs as printed.
        let minted = try sandbox.run(["keys", "new", "team/orch.json", "--user", "alice", "--client", "cursor", "--write", "--merge-into", "my dir/mcp.json"])
        #expect(minted.status == 0, "\(minted.stderr)")
        #expect(try sandbox.readText("my dir/mcp.json").contains("Bearer orch_"))
    }
}
