import Foundation
@testable import OrchPolicy
import OrchJSON
import Testing

// gateway.limits.perUser and a server's limits.

private func document(perUser: String = "", server: String = "") -> String {
    """
    { "version": 1,
      "gateway": { "limits": { \(perUser.isEmpty ? "" : #""perUser": \#(perUser)"#) } },
      "roles": { "dev": { "allow": ["notes"] } },
      "orgs": { "acme": { "members": { "bob": "dev" },
        "servers": { "notes": { "command": "notes-server"\(server.isEmpty ? "" : #", "limits": \#(server)"#) } } } },
      "users": { "bob": {} } }
    """
}

private func lines(_ text: String) -> [String] { unplaced(rendered(compile(text).diagnostics)) }

@Test func perUserAndServerLimitsAreRead() throws {
    let result = compile(document(perUser: #"{"requestsPerMinute": 600, "toolCallsPerMinute": 60, "concurrentCalls": 4}"#,
                                  server: #"{"concurrentCalls": 8, "tools": {"delete_*": {"callsPerMinute": 5}, "echo": {"callsPerMinute": 100}}}"#))
    #expect(result.diagnostics.isEmpty)
    let policy = try #require(result.policy)
    #expect(policy.settings.limits.perUser == PerUserLimits(requestsPerMinute: 600, toolCallsPerMinute: 60, concurrentCalls: 4))
    let limits = policy.server(policy.server(org: "acme", name: "notes")!).spec.limits
    #expect(limits.concurrentCalls == 8)
    #expect(limits.tools.map(\.glob.pattern) == ["delete_*", "echo"] && limits.tools.map(\.callsPerMinute) == [5, 100])
    // orch explain shows them.
    let explained = policy.explain(policy.user(named: "bob")!, at: Date())
    #expect(explained.text.contains("limits (counted on each replica): requestsPerMinute 600, toolCallsPerMinute 60, concurrentCalls 4"))
    #expect(explained.text.contains("    limits: concurrentCalls 8 (all users together); delete_* 5 a minute per user; echo 100 a minute per user"))
    #expect(explained.json["limits"]?["toolCallsPerMinute"] == 60)
    #expect(explained.json["servers"]?.arrayValue?.first?["limits"]?["tools"]?["delete_*"]?["callsPerMinute"] == 5)
    // None set: none shown, nothing counted.
    let plain = try #require(compile(document()).policy)
    #expect(plain.settings.limits.perUser.isEmpty)
    #expect(!plain.explain(plain.user(named: "bob")!, at: Date()).text.contains("limits"))
}

@Test func aLimitThatIsNoPositiveWholeNumberOrNamesAnUnknownFieldIsAnError() {
    #expect(lines(document(perUser: #"{"requestsPerMinute": 0}"#)) == [
        "orch.json: error: gateway.limits.perUser.requestsPerMinute: expected a whole number from 1 to 2147483647, found 0",
    ])
    #expect(lines(document(perUser: #"{"toolCallsPerMinut": 5}"#)).first?.contains(#"unknown key "toolCallsPerMinut" (did you mean "toolCallsPerMinute"?)"#) == true)
    #expect(lines(document(server: #"{"tools": {"notes:echo": {"callsPerMinute": 1}}}"#)).first?.contains("is not a tool glob") == true)
    #expect(lines(document(server: #"{"tools": {"echo": {}}}"#)) == [
        "orch.json: error: orgs.acme.servers.notes.limits.tools.echo: missing required key \"callsPerMinute\"",
    ])
    #expect(lines(document(server: #"{"concurrentCalls": "8"}"#)).count == 1)
    #expect(lines(document(perUser: #"{"requestsPerMinute": 10, "toolCallsPerMinute": 20}"#)) == [
        "orch.json: warning: gateway.limits.perUser.toolCallsPerMinute: 20 tool calls a minute can never be reached: each is a request, and requestsPerMinute allows 10",
    ])
}
