import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// A server's `overrides.tools`: exposed names and descriptions in every list of every endpoint and
// era, mapped back on every call; hidden tools neither listed nor callable. Rules, limits,
// approval and the audit stay on upstream names.

/// `mcpPolicyJSON` with acme/notes renaming echo to say, describing add anew, and hiding now.
private func overriddenPolicy(approve: String = "") -> String {
    let notes = #""notes": { "command": "\#(orchBinary)", "args": ["sample-server", "--page-size", "10"] }"#
    let policy = mcpPolicyJSON(pageSize: 10)
    let overridden = #"""
        "notes": { "command": "\#(orchBinary)", "args": ["sample-server", "--page-size", "10"]\#(approve),
          "overrides": { "tools": {
            "echo": { "name": "say", "description": "Says the text back." },
            "add": { "description": "Adds two numbers." },
            "now": { "hidden": true } } } }
        """#
    precondition(policy.contains(notes))
    return policy.replacingOccurrences(of: notes, with: overridden)
}

private func tools(_ reply: JSONValue) -> [String: String] {
    Dictionary(uniqueKeysWithValues: (reply["result"]?["tools"]?.arrayValue ?? []).compactMap { tool in
        tool["name"]?.stringValue.map { ($0, tool["description"]?.stringValue ?? "") }
    })
}

@Test func overridesRenameDescribeAndHideToolsOnTheServersOwnEndpoint() async throws {
    let g = try TestGateway(json: overriddenPolicy())
    try await g.test { client in
        let session = try await client.openSession()
        let listed = tools(try await client.mcp(session: session, #"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#).body)
        #expect(Set(listed.keys) == ["add", "say"])
        #expect(listed["say"] == "Says the text back.")
        #expect(listed["add"] == "Adds two numbers.")
        // A call by the exposed name reaches the upstream tool.
        let said = try await client.call("say", #"{"text":"renamed"}"#, session: session)
        #expect(said["result"]?["content"]?.arrayValue?.first?["text"] == "renamed", "\(said)")
        // The upstream name of a renamed tool, and a hidden tool, are refused as unknown.
        #expect(refusal(try await client.call("echo", #"{"text":"x"}"#, id: 8, session: session)) == "Tool echo is not permitted for bob on acme/notes")
        #expect(refusal(try await client.call("now", id: 9, session: session)) == "Tool now is not permitted for bob on acme/notes")
        // The REST catalog shows both names.
        let catalog = try await client.execute(uri: "/api/v1/tools?server=acme/notes", method: .get, headers: bearer(Tokens.bob)) {
            try JSONValue.parse(String(buffer: $0.body))
        }
        let entries = catalog["tools"]?.arrayValue ?? []
        #expect(entries.contains { $0["name"] == "say" && $0["upstreamName"] == "echo" && $0["description"] == "Says the text back." })
        #expect(!entries.contains { $0["name"] == "now" || $0["upstreamName"] == "now" })
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["method"] == "tools/call" }
    // The audit keeps upstream names, and says how a call was written.
    #expect(records.contains { $0["tool"] == "echo" && $0["decision"] == "allow" && $0["reason"]?.stringValue?.contains("(called as say)") == true })
    #expect(records.contains { $0["tool"] == "echo" && $0["decision"] == "deny" && $0["reason"] == "echo is exposed as say by the server's overrides" })
    #expect(records.contains { $0["tool"] == "now" && $0["decision"] == "deny" && $0["reason"] == "now is hidden by the server's overrides" })
}

@Test func overriddenNamesCarryTheirPrefixOnTheAggregatedEndpointAndIn2026() async throws {
    let g = try TestGateway(json: overriddenPolicy())
    try await g.test { client in
        let session = try await client.openSession("/orgs/acme/mcp")
        let merged = try await client.mergedList("tools/list", "tools", "name", session: session)
        #expect(merged.items.contains("notes__say") && merged.items.contains("notes__add"))
        #expect(!merged.items.contains("notes__echo") && !merged.items.contains("notes__now"))
        #expect(merged.items.contains("clock__echo"))  // another server's tool of the same name is its own
        let said = try await client.aggregate("tools/call", #"{"name":"notes__say","arguments":{"text":"aggregated"}}"#, session: session)
        #expect(said["result"]?["content"]?.arrayValue?.first?["text"] == "aggregated", "\(said)")
        #expect(refusal(try await client.aggregate("tools/call", #"{"name":"notes__now","arguments":{}}"#, id: 31, session: session)) != nil)

        let modern = tools(try await client.modern("tools/list").body)
        #expect(Set(modern.keys) == ["add", "say"])
        let call = try await client.modern("tools/call", ["name": "say", "arguments": ["text": "modern"]], id: 5)
        #expect(call.body["result"]?["content"]?.arrayValue?.first?["text"] == "modern", "\(call.body)")
        #expect(try await client.modern("tools/call", ["name": "echo", "arguments": ["text": "x"]], id: 6).body["error"]?["code"] == -32602)
    }
}

@Test func anApprovalRuleOnTheUpstreamNameHoldsACallByTheExposedName() async throws {
    let approve = #", "approve": [{ "tools": ["echo"], "by": "caller" }]"#
    let g = try TestGateway(json: overriddenPolicy(approve: approve))
    try await g.test { client in
        let session = try await client.openSession()
        // bob's client declares no elicitation: the call is refused, not run, on every path.
        let said = try await client.call("say", #"{"text":"needs approval"}"#, session: session)
        #expect(said["result"]?["content"]?.arrayValue?.first?["text"] != "needs approval", "\(said)")
        #expect(said["result"]?["isError"] == true || said["error"] != nil, "\(said)")
        let added = try await client.call("add", #"{"a":1,"b":2}"#, id: 8, session: session)
        #expect(added["result"] != nil, "\(added)")
    }
}
