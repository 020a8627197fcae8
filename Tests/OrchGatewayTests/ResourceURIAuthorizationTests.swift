import Foundation
import Hummingbird
import HummingbirdTesting
import OrchJSON
import OrchPolicy
import Testing

@testable import OrchGateway

// Resource URIs are decided in normal form, on a server's own endpoint and on an aggregated one:
// another spelling of a resource a rule refuses (case, dot segments, encoded dots, spaces) is
// refused too, the audit says so, and what reaches the server is the URI that was decided.

/// acme/notes is the sample server behind a tap that records what reaches it. bob may read only
/// public notes (`notes://note/public/*`); wendy may use the whole server but not the index, the
/// secret notes nor `file:///etc/*`.
private func normalFormPolicyJSON(tap: String) -> String {
    """
    {
      "version": 1,
      "gateway": { "limits": { "callTimeoutSeconds": 5 } },
      "roles": {
        "reader": { "allow": ["notes:write_note", "notes:resources/notes://note/public/*"] },
        "guarded": { "allow": ["notes"],
                     "deny": ["notes:resources/notes://index", "notes:resources/notes://note/secret*", "notes:resources/file:///etc/*"] }
      },
      "orgs": { "acme": {
        "members": { "bob": "reader", "wendy": "guarded" },
        "servers": { "notes": { "command": "/bin/sh", "args": ["-c", "tee -a \\"$TAP\\" | \\"$ORCH\\" sample-server"],
                                "env": { "TAP": "\(tap)", "ORCH": "\(orchBinary)" } } } } },
      "users": {
        "bob": { "keys": [ { "id": "laptop", "sha256": "\(Tokens.hash(Tokens.bob))" } ] },
        "wendy": { "keys": [ { "id": "laptop", "sha256": "\(Tokens.hash(Tokens.dave))" } ] }
      }
    }
    """
}

/// Other spellings of resources the policy refuses: (who, as written, refusal message) on acme/notes.
private let bypasses: [(token: String, uri: String, message: String)] = [
    // Outside bob's only allow rule once resolved.
    (Tokens.bob, "notes://note/public/../secret", "Resource notes://note/secret is not permitted for bob on acme/notes"),
    (Tokens.bob, "notes://note/public/%2e%2e/secret", "Resource notes://note/secret is not permitted for bob on acme/notes"),
    (Tokens.bob, "notes://note/public/.%2E/./secret", "Resource notes://note/secret is not permitted for bob on acme/notes"),
    // Under one of wendy's deny rules once in normal form.
    (Tokens.dave, "NOTES://index", "Resource notes://index is not permitted for wendy on acme/notes"),
    (Tokens.dave, "notes://INDEX", "Resource notes://index is not permitted for wendy on acme/notes"),
    (Tokens.dave, "notes://NOTE/public/../secret", "Resource notes://note/secret is not permitted for wendy on acme/notes"),
    (Tokens.dave, "notes://note/%73ecret", "Resource notes://note/secret is not permitted for wendy on acme/notes"),
    (Tokens.dave, "FILE:///etc/secret.txt", "Resource file:///etc/secret.txt is not permitted for wendy on acme/notes"),
    (Tokens.dave, "file://localhost/etc/secret.txt", "Resource file:///etc/secret.txt is not permitted for wendy on acme/notes"),
    (Tokens.dave, "file:/etc/secret.txt", "Resource file:///etc/secret.txt is not permitted for wendy on acme/notes"),
    (Tokens.dave, "file:///srv/../etc/secret.txt", "Resource file:///etc/secret.txt is not permitted for wendy on acme/notes"),
    // Refused before any rule: servers read these in ways that differ.
    (Tokens.dave, " notes://index", #"Resource URI " notes://index" is refused: it starts or ends with a space"#),
    (Tokens.dave, "notes://index\n", #"Resource URI "notes://index\n" is refused: it contains a control character"#),
    (Tokens.dave, "notes://note/public/..%2Fsecret", #"Resource URI "notes://note/public/..%2Fsecret" is refused: an encoded '/' or '\' (%2F, %5C) hides a '.' or '..' segment, which a server that decodes it would resolve"#),
]

private func tapFile() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("orch-tap-\(UUID().uuidString).jsonl").path
}

/// The `params.uri` of every resources/* request that reached the tapped server.
private func urisThatReachedTheServer(_ tap: String) -> [String] {
    let lines = ((try? String(contentsOfFile: tap, encoding: .utf8)) ?? "").split(separator: "\n")
    return lines.compactMap { try? JSONValue.parse(String($0)) }
        .filter { $0["method"]?.stringValue?.hasPrefix("resources/") == true }
        .compactMap { $0["params"]?["uri"]?.stringValue }
}

private func jsonString(_ text: String) -> String { JSONValue.string(text).compact }

/// One resource decision of the audit log.
private struct ResourceDecision {
    let method: String, decision: String, target: String, reason: String

    init(_ record: JSONValue) {
        func field(_ name: String) -> String { record[name]?.stringValue ?? "" }
        (method, decision, target, reason) = (field("method"), field("decision"), field("target"), field("reason"))
    }
}

private func resourceDecisions(_ g: TestGateway) -> [ResourceDecision] {
    let records: [JSONValue] = g.auditLines.compactMap { try? JSONValue.parse($0) }
    return records.filter { $0["kind"] == "resource" }.map(ResourceDecision.init)
}

@Test func otherSpellingsOfARefusedResourceAreRefusedOnTheServersEndpoint() async throws {
    let tap = tapFile()
    let g = try TestGateway(json: normalFormPolicyJSON(tap: tap))
    try await g.test { client in
        let sessions = [Tokens.bob: try await client.openSession(token: Tokens.bob), Tokens.dave: try await client.openSession(token: Tokens.dave)]
        for (token, uri, message) in bypasses {
            for method in ["resources/read", "resources/subscribe"] {
                let reply = try await client.rpc(method, #"{"uri":\#(jsonString(uri))}"#, session: sessions[token]!, token: token)
                #expect(refusal(reply) == message, "\(method) \(uri.debugDescription): \(reply)")
            }
        }
    }
    #expect(urisThatReachedTheServer(tap) == [], "forwarded: \(urisThatReachedTheServer(tap))")
    let decisions = resourceDecisions(g)
    #expect(decisions.count == bypasses.count * 2)
    #expect(decisions.allSatisfy { $0.decision == "deny" }, "\(decisions.filter { $0.decision != "deny" })")
    // The audit names the URI that was decided, and the spelling the client used.
    let index = try #require(decisions.first { $0.reason.contains(#"written "NOTES://index""#) })
    #expect(index.target == "notes://index")
    #expect(index.reason == #"role guarded denies "notes:resources/notes://index" (decided in normal form; written "NOTES://index")"#)
    let spaced = try #require(decisions.first { $0.target == " notes://index" })
    #expect(spaced.reason == #"Resource URI " notes://index" is refused: it starts or ends with a space"#)
}

@Test func otherSpellingsOfARefusedResourceAreRefusedOnTheAggregatedEndpoint() async throws {
    let tap = tapFile()
    let g = try TestGateway(json: normalFormPolicyJSON(tap: tap))
    try await g.test { client in
        let sessions = [Tokens.bob: try await client.openSession("/orgs/acme/mcp", token: Tokens.bob),
                        Tokens.dave: try await client.openSession("/orgs/acme/mcp", token: Tokens.dave)]
        for (token, uri, message) in bypasses {
            let exposed = ExposedURI.make(prefix: "notes", uri: uri)
            for method in ["resources/read", "resources/subscribe"] {
                let reply = try await client.aggregate(method, #"{"uri":\#(jsonString(exposed))}"#, session: sessions[token]!, token: token)
                #expect(refusal(reply) == message, "\(method) \(uri.debugDescription) as \(exposed): \(reply)")
            }
        }
    }
    #expect(urisThatReachedTheServer(tap) == [], "forwarded: \(urisThatReachedTheServer(tap))")
    let decisions = resourceDecisions(g)
    #expect(decisions.count == bypasses.count * 2)
    #expect(decisions.allSatisfy { $0.decision == "deny" }, "\(decisions.filter { $0.decision != "deny" })")
}

@Test func theServerReceivesTheURIThatWasDecided() async throws {
    let tap = tapFile()
    let g = try TestGateway(json: normalFormPolicyJSON(tap: tap))
    try await g.test { client in
        let session = try await client.openSession(token: Tokens.dave)
        _ = try await client.call("write_note", #"{"name":"a","text":"first"}"#, session: session, token: Tokens.dave)
        let read = try await client.rpc("resources/read", #"{"uri":"NOTES://note/./b/../a"}"#, session: session, token: Tokens.dave)
        #expect(read["result"]?["contents"]?.arrayValue?.first?["text"] == "first", "\(read)")
        #expect(try await client.rpc("resources/subscribe", #"{"uri":"notes://NOTE/%61"}"#, session: session, token: Tokens.dave)["result"] == [:])

        // The aggregated session has a server process of its own.
        let aggregated = try await client.openSession("/orgs/acme/mcp", token: Tokens.dave)
        _ = try await client.aggregate("tools/call", #"{"name":"notes__write_note","arguments":{"name":"a","text":"first"}}"#,
                                       session: aggregated, token: Tokens.dave)
        let exposed = ExposedURI.make(prefix: "notes", uri: "notes://note/%2e/a")
        let viaAggregate = try await client.aggregate("resources/read", #"{"uri":\#(jsonString(exposed))}"#, session: aggregated, token: Tokens.dave)
        #expect(viaAggregate["result"]?["contents"]?.arrayValue?.first?["text"] == "first", "\(viaAggregate)")
    }
    #expect(urisThatReachedTheServer(tap) == ["notes://note/a", "notes://note/a", "notes://note/a"])
    let allowed = resourceDecisions(g).filter { $0.decision == "allow" }
    #expect(allowed.map(\.target) == ["notes://note/a", "notes://note/a", "notes://note/a"])
    #expect(allowed.first?.reason == #"role guarded allows "notes" (decided in normal form; written "NOTES://note/./b/../a")"#)
}
