import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// The aggregated endpoints: every server a key reaches behind /orgs/{org}/mcp or /mcp.

extension TestClientProtocol {
    /// One request on an aggregated session; the reply's body.
    func aggregate(_ method: String, _ params: String = "{}", id: Int = 30, session: String, path: String = "/orgs/acme/mcp",
                   token: String = Tokens.bob) async throws -> JSONValue {
        try await mcp(path: path, token: token, session: session, #"{"jsonrpc":"2.0","id":\#(id),"method":"\#(method)","params":\#(params)}"#).body
    }

    /// Every page of a merged list: the `field` of each item, and how many pages there were.
    func mergedList(_ method: String, _ list: String, _ field: String, session: String, path: String = "/orgs/acme/mcp",
                    token: String = Tokens.bob) async throws -> (items: [String], pages: Int) {
        var items: [String] = []
        var cursor: String? = nil
        var pages = 0
        repeat {
            let page = try await aggregate(method, cursor.map { #"{"cursor":"\#($0)"}"# } ?? "{}", id: 200 + pages, session: session, path: path, token: token)
            #expect(page["error"] == nil, "\(method): \(page)")
            items += page["result"]?[list]?.arrayValue?.compactMap { $0[field]?.stringValue } ?? []
            cursor = page["result"]?["nextCursor"]?.stringValue
            pages += 1
        } while cursor != nil && pages < 20
        return (items, pages)
    }
}

@Test func anAggregatedSessionOpensWithoutStartingAnyServer() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let opened = try await client.mcp(path: "/orgs/acme/mcp", initializeBody)
        #expect(opened.status == .ok)
        let result = opened.body["result"]
        #expect(result?["serverInfo"]?["name"] == "orch")
        #expect(result?["protocolVersion"] == "2025-06-18")
        #expect(result?["capabilities"]?["tools"]?["listChanged"] == true)
        let session = try #require(opened.session)
        #expect(session.hasPrefix("s1."))
        #expect(try await client.mcp(path: "/orgs/acme/mcp", session: session, #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).status == .accepted)
        #expect(try await client.aggregate("ping", session: session)["result"] == [:])
        #expect(g.gateway.upstreamProcessCount == 0)
        // The session is the key's and the endpoint's: not another key's, not another scope's.
        #expect(try await client.mcp(path: "/orgs/acme/mcp", token: Tokens.alice, session: session, #"{"jsonrpc":"2.0","id":2,"method":"ping"}"#).status == .notFound)
        #expect(try await client.mcp(path: "/mcp", session: session, #"{"jsonrpc":"2.0","id":2,"method":"ping"}"#).status == .notFound)
        // An org the key reaches nothing in is a 404 like a missing one.
        #expect(try await client.mcp(path: "/orgs/globex/mcp", initializeBody).status == .notFound)
        #expect(try await client.mcp(path: "/orgs/nope/mcp", initializeBody).status == .notFound)
    }
}

@Test func mergedListsCarryEveryServersFilteredItemsUnderExposedNamesPageByPage() async throws {
    let g = try TestGateway(json: mcpPolicyJSON(pageSize: 2))
    try await g.test { client in
        let session = try await client.openSession("/orgs/acme/mcp")
        let tools = try await client.mergedList("tools/list", "tools", "name", session: session)
        // notes pages by two (three pages); clock answers in one; bob's role filters notes.
        #expect(Set(tools.items) == ["notes__add", "notes__echo", "notes__now",
                                    "clock__add", "clock__delete_note", "clock__echo", "clock__now", "clock__write_note"])
        #expect(tools.items.count == 8)
        #expect(tools.pages == 3)
        let prompts = try await client.mergedList("prompts/list", "prompts", "name", session: session)
        #expect(Set(prompts.items) == ["clock__summarize", "clock__draft_note"])
        let resources = try await client.mergedList("resources/list", "resources", "uri", session: session)
        #expect(resources.items.contains(ExposedURI.make(prefix: "notes", uri: "notes://index")))
        #expect(resources.items.allSatisfy { $0.hasPrefix("orch:notes/") || $0.hasPrefix("orch:clock/") })
        #expect(g.gateway.upstreamProcessCount == 2)
        // A cursor the gateway did not make is refused.
        #expect(try await client.aggregate("tools/list", #"{"cursor":"not-a-cursor"}"#, session: session)["error"]?["code"] == -32602)
    }
}

@Test func callsGoToTheServerUnderTheirOriginalNameAndAreDecidedThere() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let session = try await client.openSession("/orgs/acme/mcp")
        // Called by name without listing first: only that server starts.
        let echoed = try await client.aggregate("tools/call", #"{"name":"notes__echo","arguments":{"text":"through the aggregate"}}"#, session: session)
        #expect(echoed["result"]?["content"]?.arrayValue?.first?["text"] == "through the aggregate")
        #expect(g.gateway.upstreamProcessCount == 1)
        // A tool the role does not grant is refused by the gateway, as on the server's own endpoint.
        let refused = try await client.aggregate("tools/call", #"{"name":"notes__write_note","arguments":{"name":"a","text":"t"}}"#, id: 31, session: session)
        #expect(refusal(refused) == "Tool write_note is not permitted for bob on acme/notes")
        let unknown = try await client.aggregate("tools/call", #"{"name":"nowhere__echo","arguments":{}}"#, id: 32, session: session)
        #expect(refusal(unknown) == "Tool nowhere__echo is not permitted for bob on /orgs/acme/mcp")
        // Prompts and resources route the same way.
        let prompt = try await client.aggregate("prompts/get", #"{"name":"clock__summarize","arguments":{"topic":"x"}}"#, id: 33, session: session)
        #expect(prompt["result"]?["messages"] != nil, "\(prompt)")
        let uri = ExposedURI.make(prefix: "notes", uri: "notes://index")
        let read = try await client.aggregate("resources/read", #"{"uri":"\#(uri)"}"#, id: 34, session: session)
        #expect(read["result"]?["contents"]?.arrayValue?.first?["uri"] == "notes://index", "\(read)")
        // Completions follow their prompt or template; the log level goes to every started server.
        let topics = try await client.aggregate("completion/complete", #"{"ref":{"type":"ref/prompt","name":"clock__summarize"},"argument":{"name":"topic","value":""}}"#,
                                               id: 35, session: session)
        #expect(topics["result"]?["completion"]?["values"] != nil, "\(topics)")
        let template = ExposedURI.make(prefix: "clock", uri: "notes://note/{name}", template: true)
        let names = try await client.aggregate("completion/complete", #"{"ref":{"type":"ref/resource","uri":"\#(template)"},"argument":{"name":"name","value":""}}"#,
                                              id: 36, session: session)
        #expect(names["result"]?["completion"] != nil, "\(names)")
        #expect(try await client.aggregate("logging/setLevel", #"{"level":"debug"}"#, id: 37, session: session)["result"] == [:])
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }
    let denied = records.first { $0["decision"] == "deny" && $0["tool"] == "write_note" }
    #expect(denied?["server"] == "notes")
    #expect(denied?["org"] == "acme")
    #expect(records.contains { $0["decision"] == "allow" && $0["tool"] == "echo" && $0["server"] == "notes" })
}

@Test func everyOrgAppearsOnTheTopEndpointWithItsNameInFront() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        let session = try await client.openSession("/mcp", token: Tokens.alice)
        let tools = try await client.mergedList("tools/list", "tools", "name", session: session, path: "/mcp", token: Tokens.alice)
        #expect(tools.items.contains("acme__notes__echo") && tools.items.contains("globex__notes__echo"))
        let reply = try await client.aggregate("tools/call", #"{"name":"globex__notes__echo","arguments":{"text":"globex"}}"#, session: session,
                                              path: "/mcp", token: Tokens.alice)
        #expect(reply["result"]?["content"]?.arrayValue?.first?["text"] == "globex")
    }
}

@Test func aServerThatFailsIsLeftOutAndTheOthersAnswer() async throws {
    let broken = #", "broken": { "command": "/nonexistent/orch-missing-server" }"#
    let g = try TestGateway(json: mcpPolicyJSON(extraServers: broken))
    try await g.test { client in
        let session = try await client.openSession("/orgs/acme/mcp", token: Tokens.alice)
        let tools = try await client.mergedList("tools/list", "tools", "name", session: session, token: Tokens.alice)
        #expect(tools.items.contains("notes__echo") && tools.items.contains("clock__echo"))
        #expect(!tools.items.contains { $0.hasPrefix("broken__") })
        // The client hears why, on its stream.
        let text = try await streamUntilEnded(client, path: "/orgs/acme/mcp", token: Tokens.alice, session: session)
        #expect(text.contains("acme/broken is left out of tools/list"), "\(text)")
    }
    #expect(g.auditLines.contains { $0.contains(#""decision":"error""#) && $0.contains("acme/broken is left out") })
}

@Test func aReloadTellsTheSessionItsListsChangedAndKeepsIt() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let session = try await client.openSession("/orgs/acme/mcp")
        _ = try await client.mergedList("tools/list", "tools", "name", session: session)
        ReloadWatcher.install(compile(mcpPolicyJSON(limits: #""maxSessionsPerKey": 4, "callTimeoutSeconds": 2"#)), path: "test.json", gateway: g.gateway)
        #expect(try await client.aggregate("ping", session: session)["result"] == [:])
        let text = try await streamUntilEnded(client, path: "/orgs/acme/mcp", token: Tokens.bob, session: session)
        #expect(text.contains(#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#), "\(text)")
        // However many of its servers said so too, the client hears it once.
        #expect(text.components(separatedBy: "notifications/tools/list_changed").count == 2, "\(text)")
        // DELETE ended the members too.
        #expect(try await waitFor { g.gateway.upstreamProcessCount == 0 })
        #expect(try await client.mcp(path: "/orgs/acme/mcp", session: session, #"{"jsonrpc":"2.0","id":9,"method":"ping"}"#).status == .notFound)
    }
}

@Test func aReloadThatRemovesTheKeyEndsTheSession() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let session = try await client.openSession("/orgs/acme/mcp")
        _ = try await client.aggregate("tools/call", #"{"name":"notes__echo","arguments":{"text":"x"}}"#, session: session)
        ReloadWatcher.install(compile(mcpPolicyJSON(bobKey: false)), path: "test.json", gateway: g.gateway)
        #expect(try await waitFor { g.gateway.upstreamProcessCount == 0 })
        #expect(try await client.mcp(path: "/orgs/acme/mcp", token: Tokens.alice, initializeBody).status == .ok)
    }
}

@Test func aMembersServerIsStillHeardAfterTheSessionsKeepAlive() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let session = try await client.openSession("/orgs/acme/mcp", token: Tokens.alice)
        _ = try await client.mergedList("tools/list", "tools", "name", session: session, token: Tokens.alice)
        // The sessions' ticker wakes every open stream for a keep-alive comment, the members' own
        // streams to the aggregated session too.
        try await Task.sleep(for: .milliseconds(100))
        for member in g.gateway.sessions.all { member.keepAlive() }
        let reply = try await client.aggregate("tools/call", #"{"name":"notes__write_note","arguments":{"name":"a","text":"x"}}"#,
                                              session: session, token: Tokens.alice)
        #expect(reply["result"]?["isError"] == false, "\(reply)")
        // What the server says on its own afterwards still reaches the client.
        let text = try await streamUntilEnded(client, path: "/orgs/acme/mcp", token: Tokens.alice, session: session)
        #expect(text.contains(#"{"jsonrpc":"2.0","method":"notifications/resources/list_changed"}"#), "\(text)")
    }
}

@Test func concurrentRequestsOfANewSessionShareEachServersStart() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let opened = try await client.mcp(path: "/orgs/acme/mcp", initializeBody)
        let session = try #require(opened.session)
        // Three lists at once each need every server: each server starts once, for all three.
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for id in 0..<3 {
                group.addTask {
                    let tools = try await client.aggregate("tools/list", id: 40 + id, session: session)
                    return tools["result"]?["tools"]?.arrayValue?.count ?? -1
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts.count == 3 && Set(counts).count == 1 && counts[0] > 0)
        #expect(g.gateway.upstreamProcessCount == 2)
        #expect(g.gateway.sessionCount == 2)
    }
}
