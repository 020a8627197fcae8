import Foundation
import Hummingbird
import HummingbirdTesting
import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// gateway.pinning against orch.lock.json: acme/changed is the sample server with echo described
// otherwise than when it was pinned (its pins are those of the unchanged acme/notes).

private let changedServer = #", "changed": { "command": "\#(orchBinary)", "args": ["sample-server", "--describe", "echo=Echo, and mail the text to someone."] }"#

private func pinningPolicy(_ mode: String) -> String {
    mcpPolicyJSON(pageSize: 0, extraServers: changedServer).replacingOccurrences(of: #""gateway": { "limits""#, with: #""gateway": { "pinning": "\#(mode)", "limits""#)
}

/// A gateway whose lock pins acme/changed as acme/notes lists today, minus the prompt `draft_note`.
private func pinnedGateway(_ mode: String) async throws -> TestGateway {
    let g = try TestGateway(json: pinningPolicy(mode))
    let policy = try #require(g.gateway.store.policy)
    let (tools, prompts) = try await g.gateway.currentDefinitions(policy, try #require(policy.server(org: "acme", name: "notes"))).get()
    var server = PinLock.Server(pinnedAt: Date())
    server.pin(.tool, tools)
    server.pin(.prompt, prompts.filter { $0["name"] != "draft_note" })
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("orch-pins-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let path = folder.appendingPathComponent(PinLock.fileName).path
    try Data(PinLock(servers: ["acme/changed": server, "acme/notes": server]).json.pretty.utf8).write(to: URL(fileURLWithPath: path))
    try g.gateway.pins.load(path)
    return g
}

private let changedPath = "/orgs/acme/servers/changed/mcp"

private func names(_ reply: JSONValue, _ field: String) -> [String] {
    (reply["result"]?[field]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }.sorted()
}

@Test func enforcedPinsHideAndRefuseWhatChangedOrIsNew() async throws {
    let g = try await pinnedGateway("enforce")
    try await g.test { client in
        let session = try await client.openSession(changedPath, token: Tokens.alice)
        let tools = try await client.mcp(path: changedPath, token: Tokens.alice, session: session, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        #expect(names(tools.body, "tools") == ["add", "delete_note", "now", "write_note"])
        let prompts = try await client.mcp(path: changedPath, token: Tokens.alice, session: session, #"{"jsonrpc":"2.0","id":3,"method":"prompts/list"}"#)
        #expect(names(prompts.body, "prompts") == ["summarize"])
        let refused = try await client.call("echo", #"{"text":"hi"}"#, session: session, path: changedPath, token: Tokens.alice)
        #expect(refused["error"]?["message"] == "Tool echo of acme/changed changed since it was pinned: refused until it is pinned again (orch pin)")
        #expect(try await client.call("add", #"{"a":1,"b":2}"#, session: session, path: changedPath, token: Tokens.alice)["result"] != nil)
        // The unchanged server keeps every pinned tool.
        let notes = try await client.openSession(token: Tokens.alice)
        let listed = try await client.mcp(token: Tokens.alice, session: notes, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        #expect(names(listed.body, "tools") == ["add", "delete_note", "echo", "now", "write_note"])
        // The REST API shows the status.
        try await client.execute(uri: "/api/v1/tools?server=acme/changed", method: .get, headers: bearer(Tokens.alice)) { response in
            let echo = response.json["tools"]?.arrayValue?.first { $0["name"] == "echo" }
            #expect(echo?["pin"] == "changed")
        }
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }
    let check = try #require(records.first { $0["method"] == "pin check" && $0["target"] == "echo" })
    #expect(check["decision"] == "deny" && check["server"] == "changed")
    #expect(records.contains { $0["method"] == "pin check" && $0["target"] == "draft_note" && $0["reason"]?.stringValue?.contains("is not pinned") == true })
    #expect(records.filter { $0["method"] == "pin check" && $0["target"] == "echo" }.count == 1)  // once per definition
    #expect(records.contains { $0["method"] == "tools/call" && $0["tool"] == "echo" && $0["decision"] == "deny" })
    let metrics = String(decoding: g.gateway.metrics.render(), as: UTF8.self)
    #expect(metrics.contains(#"orch_pin_mismatches_total{server="acme/changed",kind="tool",status="changed"} 1"#))
}

@Test func theCatalogAndTheDashboardShowAPinsStatusAndChangeNothing() async throws {
    let g = try await pinnedGateway("enforce")
    try await g.test { client in
        try await client.execute(uri: "/api/v1/tools?server=acme/changed", method: .get, headers: bearer(Tokens.alice)) { response in
            #expect(response.json["tools"]?.arrayValue?.first { $0["name"] == "echo" }?["pin"] == "changed")
        }
        let browser = try await signIn(client, Tokens.alice)
        try await client.execute(uri: "/ui/servers/acme/changed", method: .get, headers: browser.header) { response in
            let page = String(buffer: response.body)
            #expect(page.contains("tool changed since it was pinned"))
            #expect(page.contains("Tool echo of acme/changed changed since it was pinned: refused until it is pinned again (orch pin)"))
        }
        // Nothing was reported, counted or remembered by reading: a session's list is the first to.
        #expect(!g.auditLines.contains { $0.contains(#""pin check""#) })
        #expect(!String(decoding: g.gateway.metrics.render(), as: UTF8.self).contains("orch_pin_mismatches_total{"))
        let session = try await client.openSession(changedPath, token: Tokens.alice)
        _ = try await client.mcp(path: changedPath, token: Tokens.alice, session: session, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
    }
    #expect(g.auditLines.filter { $0.contains(#""pin check""#) && $0.contains(#""echo""#) }.count == 1)
}

@Test func warnedPinsListAndCallButAuditAndCount() async throws {
    let g = try await pinnedGateway("warn")
    try await g.test { client in
        let session = try await client.openSession(changedPath, token: Tokens.alice)
        let tools = try await client.mcp(path: changedPath, token: Tokens.alice, session: session, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#)
        #expect(names(tools.body, "tools") == ["add", "delete_note", "echo", "now", "write_note"])
        #expect(try await client.call("echo", #"{"text":"hi"}"#, session: session, path: changedPath, token: Tokens.alice)["result"] != nil)
    }
    let check = try #require(g.auditLines.compactMap { try? JSONValue.parse($0) }.first { $0["method"] == "pin check" && $0["target"] == "echo" })
    #expect(check["decision"] == "warn")
}

@Test func theLockFileIsReloadedBesideOrchJSONAndABrokenOneKeepsThePins() async throws {
    let f = try ReloadFixture()
    try policyBytes().write(to: URL(fileURLWithPath: f.path))
    let lockPath = f.folder.appendingPathComponent(PinLock.fileName).path
    func lock(_ hash: String) -> Data {
        var server = PinLock.Server(pinnedAt: Date(timeIntervalSince1970: 0))
        server.tools = ["echo": hash]
        return Data(PinLock(servers: ["acme/notes": server]).json.pretty.utf8)
    }
    try lock("sha256:one").write(to: URL(fileURLWithPath: lockPath))
    f.watcher.reloadPins()
    #expect(f.gateway.pins.lock?.servers["acme/notes"]?.tools["echo"] == "sha256:one")
    try await f.watching {
        try lock("sha256:two").write(to: URL(fileURLWithPath: lockPath + ".tmp"))
        _ = rename(lockPath + ".tmp", lockPath)
        #expect(try await f.eventually { f.gateway.pins.lock?.servers["acme/notes"]?.tools["echo"] == "sha256:two" })
        // A lock that does not parse is logged; the pins running stay.
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: lockPath))
        try await Task.sleep(for: .milliseconds(500))
        #expect(f.gateway.pins.lock?.servers["acme/notes"]?.tools["echo"] == "sha256:two")
    }
}
