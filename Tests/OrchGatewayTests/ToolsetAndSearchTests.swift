import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// Toolsets (/orgs/{org}/toolsets/{name}/mcp) and search mode (?tools=search): curated and searched
// views of the aggregated tools, each tool still decided per caller.

/// `mcpPolicyJSON` with acme's toolset `basics`: notes' echo and add, clock's write_note and now.
private func toolsetPolicy() -> String {
    let policy = mcpPolicyJSON(pageSize: 2)
    let servers = #""clock": { "command": "\#(orchBinary)", "args": ["sample-server"] }"#
    precondition(policy.contains(servers))
    return policy.replacingOccurrences(of: servers, with: servers + #"""
        },
        "toolsets": { "basics": { "description": "The basics", "tools": ["notes:echo", "notes:add", "notes:write_note", "clock:*_note", "clock:now"] }
        """#)
}

private func names(_ reply: JSONValue) -> [String] {
    reply["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
}

@Test func aToolsetServesItsToolsDecidedPerCaller() async throws {
    let g = try TestGateway(json: toolsetPolicy())
    try await g.test { client in
        let path = "/orgs/acme/toolsets/basics/mcp"
        let opened = try await client.mcp(path: path, initializeBody)
        #expect(opened.body["result"]?["capabilities"]?["prompts"] == nil)
        let session = try await client.openSession(path)
        let tools = try await client.mergedList("tools/list", "tools", "name", session: session, path: path)
        // bob's role denies notes' write_note; the toolset leaves out notes' now and clock's echo.
        #expect(Set(tools.items) == ["notes__echo", "notes__add", "clock__write_note", "clock__delete_note", "clock__now"])
        #expect(try await client.aggregate("prompts/list", session: session, path: path)["result"]?["prompts"] == [])
        let echoed = try await client.aggregate("tools/call", #"{"name":"notes__echo","arguments":{"text":"toolset"}}"#, session: session, path: path)
        #expect(echoed["result"]?["content"]?.arrayValue?.first?["text"] == "toolset", "\(echoed)")
        // A tool of the org outside the toolset is refused here, even one the caller may use.
        let outside = try await client.aggregate("tools/call", #"{"name":"clock__echo","arguments":{"text":"x"}}"#, id: 31, session: session, path: path)
        #expect(refusal(outside) == "Tool clock__echo is not permitted for bob on /orgs/acme/toolsets/basics/mcp")
        let denied = try await client.aggregate("tools/call", #"{"name":"notes__write_note","arguments":{"name":"a","text":"t"}}"#, id: 32, session: session, path: path)
        #expect(refusal(denied) == "Tool write_note is not permitted for bob on acme/notes")
        // The session is the toolset's: not the org endpoint's.
        #expect(try await client.mcp(path: "/orgs/acme/mcp", session: session, #"{"jsonrpc":"2.0","id":2,"method":"ping"}"#).status == .notFound)
        // An unknown toolset is a 404.
        #expect(try await client.mcp(path: "/orgs/acme/toolsets/nope/mcp", initializeBody).status == .notFound)
        // In 2026-07-28 too.
        let modern = try await client.modern("tools/list", path: path)
        #expect(Set(names(modern.body)).isSubset(of: ["notes__echo", "notes__add", "clock__write_note", "clock__delete_note", "clock__now"]))
        let call = try await client.modern("tools/call", ["name": "clock__echo", "arguments": ["text": "x"]], id: 5, path: path)
        #expect(call.body["error"]?["code"] == -32602)
    }
}

@Test func searchModeListsTwoToolsFindsOnlyPermittedOnesAndCallsThroughTheGate() async throws {
    let g = try TestGateway(json: mcpPolicyJSON(pageSize: 2))
    try await g.test { client in
        let path = "/orgs/acme/mcp?tools=search"
        let session = try await client.openSession(path)
        #expect(names(try await client.aggregate("tools/list", session: session, path: path)) == ["find_tools", "call_tool"])
        let found = try await client.aggregate("tools/call", #"{"name":"find_tools","arguments":{"query":"write a note","limit":50}}"#, session: session, path: path)
        let hits = found["result"]?["structuredContent"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        // clock's write_note is bob's; notes' is denied by his role and never found.
        #expect(hits.first == "clock__write_note", "\(found)")
        #expect(!hits.contains("notes__write_note"))
        #expect(found["result"]?["content"]?.arrayValue?.first?["text"]?.stringValue.flatMap { try? JSONValue.parse($0) } == found["result"]?["structuredContent"])
        #expect(found["result"]?["structuredContent"]?["tools"]?.arrayValue?.first?["inputSchema"]?["type"] == "object")
        let called = try await client.aggregate("tools/call", #"{"name":"call_tool","arguments":{"name":"notes__echo","arguments":{"text":"searched"}}}"#, id: 31, session: session, path: path)
        #expect(called["result"]?["content"]?.arrayValue?.first?["text"] == "searched", "\(called)")
        let refused = try await client.aggregate("tools/call", #"{"name":"call_tool","arguments":{"name":"notes__write_note","arguments":{"name":"a","text":"t"}}}"#, id: 32, session: session, path: path)
        #expect(refusal(refused) == "Tool write_note is not permitted for bob on acme/notes")
        // Any query is bounded and answered.
        let huge = String(repeating: "note ", count: 20_000)
        let bounded = try await client.aggregate("tools/call", #"{"name":"find_tools","arguments":{"query":"\#(huge)"}}"#, id: 33, session: session, path: path)
        #expect(bounded["result"]?["structuredContent"]?["tools"]?.arrayValue?.isEmpty == false)
        let noQuery = try await client.aggregate("tools/call", #"{"name":"find_tools","arguments":{}}"#, id: 34, session: session, path: path)
        #expect(noQuery["error"]?["code"] == -32602)
        // In 2026-07-28 too.
        #expect(names(try await client.modern("tools/list", path: path).body) == ["find_tools", "call_tool"])
        let modern = try await client.modern("tools/call", ["name": "call_tool", "arguments": ["name": "notes__echo", "arguments": ["text": "modern"]]], id: 6, path: path)
        #expect(modern.body["result"]?["content"]?.arrayValue?.first?["text"] == "modern", "\(modern.body)")
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["method"] == "tools/call" }
    // call_tool is audited under the real tool's name.
    #expect(records.contains { $0["tool"] == "echo" && $0["server"] == "notes" && $0["decision"] == "allow" })
    #expect(records.contains { $0["tool"] == "write_note" && $0["server"] == "notes" && $0["decision"] == "deny" })
    #expect(!records.contains { $0["tool"] == "call_tool" })
}

/// A policy where carol's role grants only a prompt of acme/notes: her view of tools is empty.
private func emptyViewPolicy() -> String {
    toolsetPolicy()
        .replacingOccurrences(of: #""admin": { "allow": ["*"] },"#, with: #""admin": { "allow": ["*"] }, "reader": { "allow": ["notes:prompts/*"] },"#)
        .replacingOccurrences(of: #""bob": "member" }"#, with: #""bob": "member", "carol": "reader" }"#)
        .replacingOccurrences(of: #""bob": { "keys""#, with: #""carol": { "keys": [ { "id": "laptop", "sha256": "\#(Tokens.hash(Tokens.carol))" } ] }, "bob": { "keys""#)
}

@Test func anEmptyViewSaysWhyInInstructionsDiscoverAndTheAPI() async throws {
    let g = try TestGateway(json: emptyViewPolicy())
    try await g.test { client in
        let why = "No tools here for carol: their roles grant no tool of acme/notes (only prompts or resources, or nothing). An admin grants tools in orch.json."
        let aggregated = try await client.mcp(path: "/orgs/acme/mcp", token: Tokens.carol, initializeBody)
        #expect(aggregated.body["result"]?["instructions"]?.stringValue?.hasPrefix(why) == true, "\(aggregated.body)")
        let own = try await client.mcp(token: Tokens.carol, initializeBody)
        #expect(own.body["result"]?["instructions"]?.stringValue?.hasPrefix(why) == true, "\(own.body)")
        let discover = try await client.modern("server/discover", path: "/orgs/acme/mcp", token: Tokens.carol)
        #expect(discover.body["result"]?["instructions"]?.stringValue?.hasPrefix(why) == true, "\(discover.body)")
        let toolset = try await client.mcp(path: "/orgs/acme/toolsets/basics/mcp", token: Tokens.carol, initializeBody)
        #expect(toolset.body["result"]?["instructions"]?.stringValue?.hasPrefix("No tools here for carol") == true, "\(toolset.body)")
        let api = try await client.execute(uri: "/api/v1/tools", method: .get, headers: bearer(Tokens.carol)) { try JSONValue.parse(String(buffer: $0.body)) }
        #expect(api["tools"] == [])
        #expect(api["errors"]?.arrayValue?.first?["message"]?.stringValue == why, "\(api)")
        // bob sees tools: no such instructions.
        let bob = try await client.mcp(path: "/orgs/acme/mcp", initializeBody)
        #expect(bob.body["result"]?["instructions"]?.stringValue?.hasPrefix("No tools") != true)
    }
}

@Test func toolsetsAreListedAndConfiguredPerCaller() async throws {
    let g = try TestGateway(json: toolsetPolicy())
    try await g.test { client in
        let listed = try await client.execute(uri: "/api/v1/toolsets", method: .get, headers: bearer(Tokens.bob)) { try JSONValue.parse(String(buffer: $0.body)) }
        let basics = try #require(listed["toolsets"]?.arrayValue?.first)
        #expect(basics["org"] == "acme" && basics["name"] == "basics" && basics["description"] == "The basics")
        #expect(basics["servers"] == ["acme/notes", "acme/clock"])
        #expect(basics["endpoints"]?["streamableHttp"]?.stringValue?.hasSuffix("/orgs/acme/toolsets/basics/mcp") == true)
        let config = try await client.execute(uri: "/api/v1/client-config?client=cursor&toolset=basics&tools=search", method: .get, headers: bearer(Tokens.bob)) {
            try JSONValue.parse(String(buffer: $0.body))
        }
        #expect(config["mcpServers"]?["basics"]?["url"]?.stringValue?.hasSuffix("/orgs/acme/toolsets/basics/mcp?tools=search") == true, "\(config)")
        let unknown = try await client.execute(uri: "/api/v1/client-config?client=cursor&toolset=nope", method: .get, headers: bearer(Tokens.bob)) { $0.status }
        #expect(unknown == .notFound)
        // tools= takes search alone: anything else, empty included, is refused rather than read as absent.
        for tools in ["", "all", "Search"] {
            let refused = try await client.execute(uri: "/api/v1/client-config?client=cursor&tools=\(tools)", method: .get, headers: bearer(Tokens.bob)) {
                ($0.status, String(buffer: $0.body))
            }
            #expect(refused.0 == .badRequest && refused.1.contains("valid: search"), "\(tools): \(refused)")
        }
        // The dashboard's servers page lists them under their org.
        let browser = try await signIn(client, Tokens.bob)
        let page = try await client.execute(uri: "/ui/", method: .get, headers: browser.header) { String(buffer: $0.body) }
        #expect(page.contains(#"data-toolset="acme/basics""#), "\(page)")
        #expect(page.contains("/orgs/acme/toolsets/basics/mcp?tools=search"))
    }
}
