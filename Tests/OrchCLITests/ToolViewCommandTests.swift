import Foundation
import OrchJSON
import Testing

// The CLI side of tools that fit every client: `orch client-config --toolset/--search`, Cursor's
// name-length warnings, and `orch check` reading the pins for the servers' overrides.

private let policy = #"""
{ "version": 1,
  "roles": { "dev": { "allow": ["*"] } },
  "orgs": { "acme": { "members": { "alice": "dev" },
    "servers": { "github": { "command": "gh-mcp", "overrides": { "tools": { "gone": { "description": "x" } } } } },
    "toolsets": { "triage": { "tools": ["github:*_issue"] } } } },
  "users": { "alice": {} } }
"""#

private let lock = #"""
{ "version": 1, "servers": { "acme/github": { "pinnedAt": "2026-12-01T00:00:00Z",
  "tools": { "create_issue": "h1", "another_tool_with_a_rather_long_name_past_the_limit": "h2" }, "prompts": {} } } }
"""#

@Suite struct ToolViewCommandTests {
    @Test func clientConfigPointsAtAToolsetOrSearchModeAndWarnsOfCursorsLimit() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", policy)
        try sandbox.write("orch.lock.json", lock)
        let cursor = try sandbox.run(["client-config", "--user", "alice", "--client", "cursor"])
        #expect(cursor.status == 0)
        #expect(cursor.err.first == "orch: warning: cursor: acme + github__another_tool_with_a_rather_long_name_past_the_limit is 63 characters, past Cursor's 60: set a shorter prefix for acme/github or override the name of another_tool_with_a_rather_long_name_past_the_limit")
        let toolset = try sandbox.run(["client-config", "--user", "alice", "--client", "cline", "--toolset", "triage", "--search"])
        #expect(toolset.status == 0)
        let document = try JSONValue.parse(toolset.stdout)
        #expect(document["mcpServers"]?["triage"]?["url"] == "http://127.0.0.1:8080/orgs/acme/toolsets/triage/mcp?tools=search", "\(toolset.stdout)")
        let unknown = try sandbox.run(["client-config", "--user", "alice", "--client", "cline", "--toolset", "nope"])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("toolset nope"))
        let perServer = try sandbox.run(["client-config", "--user", "alice", "--client", "cline", "--search", "--per-server"])
        #expect(perServer.status != 0)
    }

    @Test func checkWarnsOfAnOverrideOfAToolTheServerDoesNotList() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", policy)
        try sandbox.write("orch.lock.json", lock)
        let check = try sandbox.run(["check", "orch.json"])
        #expect(check.status == 0)
        #expect(check.err.contains { $0.contains("orgs.acme.servers.github.overrides.tools.gone: acme/github lists no tool gone (orch.lock.json): the override changes nothing") }, "\(check.err)")
        #expect(try sandbox.run(["check", "--strict", "orch.json"]).status == 1)
    }
}
