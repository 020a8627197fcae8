import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import OrchJSON
import OrchPolicy
import Testing

@testable import OrchGateway

// Every MCP method decided by the gateway, against `orch sample-server`: lists filtered on every
// page, single items refused before they are forwarded, unknown methods refused, server
// notifications filtered, and reloads and key expiry applied to live sessions.

/// acme/notes pages its lists one item a page. bob may echo and write notes, get the summarize
/// prompt and read notes (not the index or readme); carol may use every tool and nothing else;
/// wendy watches `notes://*` but may not read the index; alice may use everything.
func authzPolicyJSON(
    bobAllow: String = #""notes:echo", "notes:write_note", "notes:prompts/summarize", "notes:resources/notes://note/*""#,
    bobExpires: String? = nil, notesArgs: String = #""sample-server", "--page-size", "1""#
) -> String {
    """
    {
      "version": 1,
      "gateway": { "limits": { "callTimeoutSeconds": 5 } },
      "roles": {
        "admin": { "allow": ["*"] },
        "reader": { "allow": [\(bobAllow)] },
        "tools": { "allow": ["notes:*"] },
        "watcher": { "allow": ["notes:write_note", "notes:resources/notes://*"], "deny": ["notes:resources/notes://index"] }
      },
      "orgs": { "acme": {
        "members": { "alice": "admin", "bob": "reader", "carol": "tools", "wendy": "watcher" },
        "servers": { "notes": { "command": "\(orchBinary)", "args": [\(notesArgs)] } } } },
      "users": {
        "alice": { "keys": [ { "id": "laptop", "sha256": "\(Tokens.hash(Tokens.alice))" } ] },
        "bob": { "keys": [
          { "id": "laptop", "sha256": "\(Tokens.hash(Tokens.bob))"\(bobExpires.map { #", "expires": "\#($0)""# } ?? "") },
          { "id": "ci", "sha256": "\(Tokens.hash(Tokens.bobCI))", "scope": ["acme/notes:resources/notes://note/*"] } ] },
        "carol": { "keys": [ { "id": "laptop", "sha256": "\(Tokens.hash(Tokens.carolExpired))" } ] },
        "wendy": { "keys": [ { "id": "laptop", "sha256": "\(Tokens.hash(Tokens.dave))" } ] }
      }
    }
    """
}

extension TestClientProtocol {
    /// One request on a session; the reply's JSON.
    func rpc(_ method: String, _ params: String = "{}", id: Int = 20, session: String, token: String = Tokens.bob) async throws -> JSONValue {
        try await mcp(token: token, session: session, #"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)","params":\#(params)}"#).body
    }

    /// Every page of a list: the `field` of each item.
    func listAll(_ method: String, _ list: String, _ field: String, session: String, token: String = Tokens.bob) async throws -> [String] {
        var names: [String] = []
        var cursor: String? = nil
        var pages = 0
        repeat {
            let page = try await rpc(method, cursor.map { #"{"cursor":"\#($0)"}"# } ?? "{}", id: 100 + pages, session: session, token: token)
            #expect(page["error"] == nil, "\(method): \(page)")
            names += page["result"]?[list]?.arrayValue?.compactMap { $0[field]?.stringValue } ?? []
            cursor = page["result"]?["nextCursor"]?.stringValue
            pages += 1
        } while cursor != nil && pages < 20
        return names
    }
}

/// The -32602 a refusal carries, with the text of its message.
func refusal(_ reply: JSONValue) -> String? {
    guard reply["error"]?["code"] == -32602 else { return nil }
    return reply["error"]?["message"]?.stringValue
}

@Test func everyListIsFilteredOnEveryPage() async throws {
    try await TestGateway(json: authzPolicyJSON()).test { client in
        let session = try await client.openSession(token: Tokens.bob)
        _ = try await client.call("write_note", #"{"name":"a","text":"first"}"#, session: session)
        _ = try await client.call("write_note", #"{"name":"b","text":"second"}"#, id: 8, session: session)
        #expect(try await client.listAll("tools/list", "tools", "name", session: session) == ["echo", "write_note"])
        #expect(try await client.listAll("prompts/list", "prompts", "name", session: session) == ["summarize"])
        #expect(try await client.listAll("resources/list", "resources", "uri", session: session) == ["notes://note/a", "notes://note/b"])
        #expect(try await client.listAll("resources/templates/list", "resourceTemplates", "uriTemplate", session: session) == ["notes://note/{name}"])
        // The same lists unfiltered, for a caller allowed everything.
        let admin = try await client.openSession(token: Tokens.alice)
        #expect(try await client.listAll("prompts/list", "prompts", "name", session: admin, token: Tokens.alice) == ["summarize", "draft_note"])
        #expect(try await client.listAll("resources/list", "resources", "uri", session: admin, token: Tokens.alice) == ["notes://index", "notes://readme"])
    }
}

@Test func singleItemMethodsAreDecidedBeforeTheyAreForwarded() async throws {
    let g = try TestGateway(json: authzPolicyJSON())
    try await g.test { client in
        let session = try await client.openSession(token: Tokens.bob)
        _ = try await client.call("write_note", #"{"name":"a","text":"first"}"#, session: session)

        let summary = try await client.rpc("prompts/get", #"{"name":"summarize","arguments":{"topic":"x"}}"#, session: session)
        #expect(summary["result"]?["messages"]?.arrayValue?.first?["content"]?["text"] == "Summarize the notes about x.")
        #expect(refusal(try await client.rpc("prompts/get", #"{"name":"draft_note","arguments":{"name":"n"}}"#, session: session))
            == "Prompt draft_note is not permitted for bob on acme/notes")

        let note = try await client.rpc("resources/read", #"{"uri":"notes://note/a"}"#, session: session)
        #expect(note["result"]?["contents"]?.arrayValue?.first?["text"] == "first")
        #expect(refusal(try await client.rpc("resources/read", #"{"uri":"notes://index"}"#, session: session))
            == "Resource notes://index is not permitted for bob on acme/notes")
        #expect(refusal(try await client.rpc("resources/subscribe", #"{"uri":"notes://index"}"#, session: session))
            == "Resource notes://index is not permitted for bob on acme/notes")
        #expect(try await client.rpc("resources/subscribe", #"{"uri":"notes://note/a"}"#, session: session)["result"] == [:])
        #expect(try await client.rpc("resources/unsubscribe", #"{"uri":"notes://note/a"}"#, session: session)["result"] == [:])
        #expect(refusal(try await client.rpc("resources/unsubscribe", #"{"uri":"notes://readme"}"#, session: session))
            == "Resource notes://readme is not permitted for bob on acme/notes")
        #expect(refusal(try await client.rpc("resources/read", "{}", session: session)) == "resources/read needs a string params.uri")

        let topics = try await client.rpc("completion/complete", #"{"ref":{"type":"ref/prompt","name":"summarize"},"argument":{"name":"topic","value":""}}"#, session: session)
        #expect(topics["result"]?["completion"]?["values"] == ["a"])
        #expect(refusal(try await client.rpc("completion/complete", #"{"ref":{"type":"ref/prompt","name":"draft_note"},"argument":{"name":"name","value":""}}"#, session: session))
            == "Prompt draft_note is not permitted for bob on acme/notes")
        let names = try await client.rpc("completion/complete", #"{"ref":{"type":"ref/resource","uri":"notes://note/{name}"},"argument":{"name":"name","value":"a"}}"#, session: session)
        #expect(names["result"]?["completion"]?["values"] == ["a"])
        #expect(refusal(try await client.rpc("completion/complete", #"{"ref":{"type":"ref/tool"},"argument":{"name":"x","value":""}}"#, session: session))?
            .hasPrefix("completion/complete needs params.ref") == true)
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["kind"] != nil && $0["kind"] != .null }
    let denied = records.filter { $0["decision"] == "deny" }.map { "\($0["method"]?.stringValue ?? "") \($0["kind"]?.stringValue ?? "") \($0["target"]?.stringValue ?? "")" }
    #expect(denied == [
        "prompts/get prompt draft_note", "resources/read resource notes://index", "resources/subscribe resource notes://index",
        "resources/unsubscribe resource notes://readme", "completion/complete prompt draft_note",
    ])
    let read = try #require(records.first { $0["method"] == "resources/read" && $0["decision"] == "allow" })
    #expect(read["target"] == "notes://note/a")
    #expect(read["reason"] == #"role reader allows "notes:resources/notes://note/*""#)
    let metrics = String(decoding: g.gateway.metrics.render(), as: UTF8.self)
    #expect(metrics.contains(#"orch_mcp_decisions_total{org="acme",server="acme/notes",kind="prompt",decision="deny"} 2"#), "\(metrics)")
    #expect(metrics.contains(#"orch_mcp_decisions_total{org="acme",server="acme/notes",kind="resource",decision="deny"} 3"#))
}

@Test func withoutAResourceGrantTemplatesAreEmptyAndTheirCompletionRefused() async throws {
    try await TestGateway(json: authzPolicyJSON()).test { client in
        let session = try await client.openSession(token: Tokens.carolExpired)
        let templates = try await client.rpc("resources/templates/list", session: session, token: Tokens.carolExpired)
        #expect(templates["result"]?["resourceTemplates"] == [])
        #expect(templates["result"]?["nextCursor"] == nil)
        #expect(refusal(try await client.rpc("completion/complete", #"{"ref":{"type":"ref/resource","uri":"notes://note/{name}"},"argument":{"name":"name","value":""}}"#, session: session, token: Tokens.carolExpired))
            == "Completion of resource template notes://note/{name} is not permitted for carol on acme/notes")
        #expect(try await client.listAll("prompts/list", "prompts", "name", session: session, token: Tokens.carolExpired) == [])
        // `notes:*` is every tool.
        #expect(try await client.listAll("tools/list", "tools", "name", session: session, token: Tokens.carolExpired).count == 5)
    }
}

@Test func aScopedKeyIsContainedToItsScope() async throws {
    try await TestGateway(json: authzPolicyJSON()).test { client in
        let session = try await client.openSession(token: Tokens.bobCI)
        #expect(try await client.listAll("tools/list", "tools", "name", session: session, token: Tokens.bobCI) == [])
        #expect(try await client.listAll("prompts/list", "prompts", "name", session: session, token: Tokens.bobCI) == [])
        #expect(refusal(try await client.call("echo", #"{"text":"x"}"#, session: session, token: Tokens.bobCI))
            == "Tool echo is not permitted for bob on acme/notes")
        #expect(refusal(try await client.rpc("prompts/get", #"{"name":"summarize"}"#, session: session, token: Tokens.bobCI))
            == "Prompt summarize is not permitted for bob on acme/notes")
        // Inside the scope the server answers (no such note yet).
        let read = try await client.rpc("resources/read", #"{"uri":"notes://note/x"}"#, session: session, token: Tokens.bobCI)
        #expect(read["error"]?["code"] == -32002)
    }
}

@Test func unknownMethodsAreRefusedAndRequestsWithoutAnIdDropped() async throws {
    let g = try TestGateway(json: authzPolicyJSON())
    try await g.test { client in
        let session = try await client.openSession(token: Tokens.alice)
        for method in ["Tools/Call", "foo/bar", "sampling/createMessage"] {
            let reply = try await client.rpc(method, session: session, token: Tokens.alice)
            #expect(reply["error"]?["code"] == -32601, "\(method): \(reply)")
            #expect(reply["error"]?["message"] == .string("Method not found: \(method)"))
        }
        let dropped = try await client.mcp(token: Tokens.alice, session: session,
            #"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"write_note","arguments":{"name":"ghost","text":"boo"}}}"#)
        #expect(dropped.status == .accepted)
        #expect(try await client.mcp(token: Tokens.alice, session: session, #"{"jsonrpc":"2.0","method":"notifications/whatever"}"#).status == .accepted)
        // Had the notification reached the process, the note would exist.
        let ghost = try await client.rpc("resources/read", #"{"uri":"notes://note/ghost"}"#, session: session, token: Tokens.alice)
        #expect(ghost["error"]?["code"] == -32002, "\(ghost)")
        #expect(try await client.call("echo", #"{"text":"alive"}"#, session: session, token: Tokens.alice)["result"]?["content"]?.arrayValue?.first?["text"] == "alive")
    }
    let denied = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["decision"] == "deny" }
    #expect(denied.map { $0["method"]?.stringValue ?? "" } == ["Tools/Call", "foo/bar", "sampling/createMessage", "tools/call", "notifications/whatever"])
    #expect(denied[3]["reason"] == "dropped tools/call sent without an id: a request is never forwarded as a notification")
}

/// Calls write_note as a streamed request (a progress token makes the gateway answer as SSE) and
/// returns every message the stream carried, notifications and the reply.
func streamedWrite(_ client: some TestClientProtocol, name: String, session: String, token: String) async throws -> String {
    let headers: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json",
                               .accept: "application/json, text/event-stream", .sessionID: session]
    let body = #"{"jsonrpc":"2.0","id":50,"method":"tools/call","params":{"name":"write_note","arguments":{"name":"\#(name)","text":"t"},"_meta":{"progressToken":"p"}}}"#
    return try await client.execute(uri: "/orgs/acme/servers/notes/mcp", method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
        #expect(response.headers[.contentType] == "text/event-stream")
        return String(buffer: response.body)
    }
}

@Test func resourceUpdatesReachOnlyCallersWhoMayReadTheResource() async throws {
    try await TestGateway(json: authzPolicyJSON()).test { client in
        let session = try await client.openSession(token: Tokens.dave)
        // notes://* is the sample server's "every change" subscription; wendy may not read the index.
        #expect(try await client.rpc("resources/subscribe", #"{"uri":"notes://*"}"#, session: session, token: Tokens.dave)["result"] == [:])
        let stream = try await streamedWrite(client, name: "a", session: session, token: Tokens.dave)
        #expect(stream.contains(#""method":"notifications/resources/updated","params":{"uri":"notes://note/a"}"#), "\(stream)")
        #expect(!stream.contains("notes://index"), "\(stream)")
        #expect(stream.contains("wrote a"))
        // The same server sends both to a caller who may read everything.
        let admin = try await client.openSession(token: Tokens.alice)
        _ = try await client.rpc("resources/subscribe", #"{"uri":"notes://*"}"#, session: admin, token: Tokens.alice)
        let all = try await streamedWrite(client, name: "a", session: admin, token: Tokens.alice)
        #expect(all.contains(#""params":{"uri":"notes://index"}"#), "\(all)")
    }
}

@Test func aReloadThatNarrowsASessionKeepsItAndSaysWhatChanged() async throws {
    let g = try TestGateway(json: authzPolicyJSON())
    try await g.test { client in
        let session = try await client.openSession(token: Tokens.bob)
        let pid = try #require(g.gateway.upstreamPIDs.first)
        #expect(try await client.listAll("tools/list", "tools", "name", session: session) == ["echo", "write_note"])
        ReloadWatcher.install(compile(authzPolicyJSON(bobAllow: #""notes:echo", "notes:prompts/summarize", "notes:resources/notes://note/*""#)),
                              path: "test.json", gateway: g.gateway)
        #expect(try await client.listAll("tools/list", "tools", "name", session: session) == ["echo"])
        #expect(refusal(try await client.call("write_note", #"{"name":"a","text":"t"}"#, session: session)) == "Tool write_note is not permitted for bob on acme/notes")
        #expect(try await client.call("echo", #"{"text":"same session"}"#, session: session)["result"]?["content"]?.arrayValue?.first?["text"] == "same session")
        #expect(g.gateway.sessionCount == 1)
        #expect(g.gateway.upstreamPIDs == [pid])
        // The notification waited for a stream: open one, then end the session so that it ends.
        let text = try await streamUntilEnded(client, path: "/orgs/acme/servers/notes/mcp", token: Tokens.bob, session: session)
        #expect(text.contains(#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#), "\(text)")
        #expect(!text.contains("prompts/list_changed"))
        #expect(!text.contains("resources/list_changed"))
    }
}

@Test func aReloadEndsSessionsThatLoseTheServerOrWhoseServerChanged() async throws {
    let g = try TestGateway(json: authzPolicyJSON())
    try await g.test { client in
        _ = try await client.openSession(token: Tokens.bob)
        let alice = try await client.openSession(token: Tokens.alice)
        ReloadWatcher.install(compile(authzPolicyJSON(bobAllow: #""other""#)), path: "test.json", gateway: g.gateway)
        #expect(try await waitFor { g.gateway.sessionCount == 1 })
        ReloadWatcher.install(compile(authzPolicyJSON(bobAllow: #""other""#, notesArgs: #""sample-server", "--page-size", "2""#)), path: "test.json", gateway: g.gateway)
        #expect(try await waitFor { g.gateway.sessionCount == 0 })
        // alice's id re-creates her session under the server's new definition.
        let listed = try await client.mcp(token: Tokens.alice, session: alice, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#)
        #expect(listed.status == .ok && listed.body["result"]?["tools"]?.arrayValue?.count == 2)
    }
    let ends = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["method"] == "session end" }.map { $0["reason"]?.stringValue ?? "" }
    #expect(ends.sorted() == ["permission removed by a policy reload", "the gateway is shutting down", "the server's definition changed in a policy reload"])
}

@Test func aKeyThatExpiresEndsItsSessionOnTheClock() async throws {
    let g = try TestGateway(json: authzPolicyJSON())
    try await g.test { client in
        let session = try await client.openSession(token: Tokens.bob)
        let pid = try #require(g.gateway.upstreamPIDs.first)
        // The key gets an expiry a few seconds ahead: the reload keeps the session, the clock ends it.
        let expires = Timestamp.format(Date().addingTimeInterval(3))
        ReloadWatcher.install(compile(authzPolicyJSON(bobExpires: expires)), path: "test.json", gateway: g.gateway)
        #expect(try await waitFor { g.gateway.sessionCount == 0 })
        #expect(try await processGone(pid))
        #expect(try await client.mcp(session: session, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).status == .unauthorized)
    }
    let end = try #require(g.auditLines.compactMap { try? JSONValue.parse($0) }.first { $0["method"] == "session end" })
    #expect(end["reason"] == "key laptop expired")
}

@Test func theRESTAPIListsOnlyThePromptsAndResourcesACallerMayUse() async throws {
    try await TestGateway(json: authzPolicyJSON()).test { client in
        try await client.execute(uri: "/api/v1/prompts", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.json["prompts"]?.arrayValue?.map { $0["name"] } == ["summarize"])
            #expect(response.json["prompts"]?.arrayValue?.first?["server"] == "acme/notes")
            #expect(response.json["errors"] == [])
        }
        try await client.execute(uri: "/api/v1/resources", method: .get, headers: bearer(Tokens.alice)) { response in
            #expect(response.json["resources"]?.arrayValue?.map { $0["uri"] } == ["notes://index", "notes://readme"])
            #expect(response.json["resourceTemplates"]?.arrayValue?.map { $0["uriTemplate"] } == ["notes://note/{name}"])
        }
        // bob may read notes only (none exist in the catalog's fresh process), so no resource is
        // listed, but the template for them is.
        try await client.execute(uri: "/api/v1/resources?server=acme/notes", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.json["resources"] == [])
            #expect(response.json["resourceTemplates"]?.arrayValue?.count == 1)
        }
        try await client.execute(uri: "/api/v1/resources", method: .get, headers: bearer(Tokens.carolExpired)) { response in
            #expect(response.json["resources"] == [])
            #expect(response.json["resourceTemplates"] == [])
        }
    }
}

@Test func initializeAnnouncesListChangesTheGatewayMaySend() throws {
    let reply: JSONValue = ["jsonrpc": "2.0", "id": 1, "result": ["capabilities": ["tools": [:], "prompts": ["listChanged": false], "logging": [:]]]]
    let announced = try JSONValue.parse(try #require(SessionOpener.announcingListChanges(reply)))
    #expect(announced["result"]?["capabilities"] == ["tools": ["listChanged": true], "prompts": ["listChanged": true], "logging": [:]])
    let already: JSONValue = ["jsonrpc": "2.0", "id": 1, "result": ["capabilities": ["tools": ["listChanged": true]]]]
    #expect(SessionOpener.announcingListChanges(already) == nil)
}
