import Foundation
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

/// `MCPExchange` alone: a message and a policy in, a verdict out, with no gateway, no I/O and no
/// clock but the one given.
@Suite struct MCPExchangeTests {
    static let policy: Policy = {
        let result = compile(testPolicyJSON())
        precondition(result.ok, "test policy does not compile: \(result.diagnostics)")
        return result.policy!
    }()

    static func caller(_ token: String) -> Caller {
        let key = policy.key(hash: KeyHash(token: token))!
        return Caller(policy: policy, user: policy.key(key).user, key: key)
    }

    static func server(_ org: String, _ name: String) -> ResolvedServer {
        let id = policy.server(org: org, name: name)!
        let decision = policy.decide(user: policy.user(named: "alice")!, server: id, tool: nil, key: nil, at: Date())
        return ResolvedServer(id: id, org: org, name: name, decision: decision, base: "/orgs/\(org)/servers/\(name)")
    }

    static func message(
        _ method: String, _ params: JSONObject = [:], token: String = Tokens.bob, server: ResolvedServer = server("acme", "notes"),
        session: String? = "s1", now: Date = Date()
    ) -> MCPExchange.Message {
        MCPExchange.Message(origin: RequestOrigin(remote: "127.0.0.1", method: "POST", path: server.base + "/mcp"), caller: caller(token),
                            server: server, session: session, id: .integer(7), method: method, params: params, now: now)
    }

    /// What a verdict comes to, in the terms a test states.
    struct Outcome: Equatable, CustomStringConvertible {
        var forwarded: Bool
        var code: Int64? = nil
        var message: String? = nil
        var decision: AuditDecision? = nil
        var reason: String? = nil
        var item: String? = nil
        var filter: MCPExchange.ReplyFilter? = nil

        var description: String {
            "forwarded=\(forwarded) code=\(code.map(String.init) ?? "-") message=\(message ?? "-") decision=\(decision.map { "\($0)" } ?? "-") reason=\(reason ?? "-") item=\(item ?? "-") filter=\(filter.map { "\($0)" } ?? "-")"
        }

        init(forwarded: Bool, code: Int64? = nil, message: String? = nil, decision: AuditDecision? = nil, reason: String? = nil,
             item: String? = nil, filter: MCPExchange.ReplyFilter? = nil) {
            (self.forwarded, self.code, self.message, self.decision, self.reason, self.item, self.filter) =
                (forwarded, code, message, decision, reason, item, filter)
        }

        init(_ verdict: MCPExchange.Verdict) {
            switch verdict {
            case .refuse(let reply, let audit, let item):
                self.init(forwarded: false, code: reply["error"]?["code"]?.integerValue, message: reply["error"]?["message"]?.stringValue,
                          decision: audit.decision, reason: audit.reason, item: item.map { "\($0.kind) \($0.name)" })
                #expect(reply["id"] == .integer(7))
                #expect(audit.kind == item?.kind.description && audit.target == item?.name)
            case .forward(let forwarding):
                self.init(forwarded: true, decision: forwarding.allowed?.audit.decision, reason: forwarding.allowed?.audit.reason,
                          item: forwarding.allowed.map { "\($0.item.kind) \($0.item.name)" }, filter: forwarding.filter)
            }
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let method: String
        let params: JSONObject
        var token: String = Tokens.bob
        let expected: Outcome

        var testDescription: String { "\(method) \(JSONValue.object(params).compact)" }
    }

    static let cases: [Case] = [
        Case(method: "ping", params: [:], expected: Outcome(forwarded: true)),
        Case(method: "initialize", params: [:], expected: Outcome(forwarded: true)),
        Case(method: "tools/list", params: [:], expected: Outcome(forwarded: true, filter: .items(.tool))),
        Case(method: "prompts/list", params: ["cursor": "c"], expected: Outcome(forwarded: true, filter: .items(.prompt))),
        Case(method: "resources/list", params: [:], expected: Outcome(forwarded: true, filter: .items(.resource))),
        Case(method: "resources/templates/list", params: [:], expected: Outcome(forwarded: true, filter: .templates)),
        Case(method: "tools/call", params: ["name": "read_note"],
             expected: Outcome(forwarded: true, decision: .allow, reason: "role member allows \"notes:read_*\"", item: "tool read_note")),
        Case(method: "tools/call", params: ["name": "delete_note"],
             expected: Outcome(forwarded: false, code: JSONRPC.invalidParams, message: "Tool delete_note is not permitted for bob on acme/notes",
                               decision: .deny, reason: "role editor (team data) denies \"notes:delete_*\"", item: "tool delete_note")),
        Case(method: "tools/call", params: ["name": "read_note"], token: Tokens.bobCI,
             expected: Outcome(forwarded: false, code: JSONRPC.invalidParams, message: "Tool read_note is not permitted for bob on acme/notes",
                               decision: .deny, reason: "key ci is scoped to acme/clock, which does not include acme/notes:read_note", item: "tool read_note")),
        Case(method: "tools/call", params: ["name": .integer(1)],
             expected: Outcome(forwarded: false, code: JSONRPC.invalidParams, message: "tools/call needs a string params.name",
                               decision: .deny, reason: "tools/call without a string params.name")),
        Case(method: "resources/read", params: [:],
             expected: Outcome(forwarded: false, code: JSONRPC.invalidParams, message: "resources/read needs a string params.uri",
                               decision: .deny, reason: "resources/read without a string params.uri")),
        Case(method: "resources/read", params: ["uri": "no scheme"],
             expected: Outcome(forwarded: false, code: JSONRPC.invalidParams,
                               message: "Resource URI \"no scheme\" is refused: \(ResourceURI.Refusal.noScheme)", decision: .deny,
                               reason: "Resource URI \"no scheme\" is refused: \(ResourceURI.Refusal.noScheme)", item: "resource no scheme")),
        Case(method: "completion/complete", params: ["ref": ["type": "ref/prompt", "name": "summarize"]],
             expected: Outcome(forwarded: true, decision: .allow, reason: "role editor (team data) allows \"notes\"", item: "prompt summarize")),
        Case(method: "completion/complete", params: ["ref": ["type": "ref/prompt", "name": "summarize"]], token: Tokens.bobCI,
             expected: Outcome(forwarded: false, code: JSONRPC.invalidParams, message: "Prompt summarize is not permitted for bob on acme/notes",
                               decision: .deny, reason: "key ci is scoped to acme/clock, which does not include acme/notes:prompts/summarize",
                               item: "prompt summarize")),
        Case(method: "completion/complete", params: ["ref": ["type": "ref/resource", "uri": "notes://{id}"]], token: Tokens.alice,
             expected: Outcome(forwarded: true, decision: .allow, reason: "alice may read some resource of acme/notes", item: "resource notes://{id}")),
        Case(method: "completion/complete", params: ["ref": ["type": "ref/tool"]],
             expected: Outcome(forwarded: false, code: JSONRPC.invalidParams,
                               message: "completion/complete needs params.ref: {type: \"ref/prompt\", name} or {type: \"ref/resource\", uri}",
                               decision: .deny, reason: "completion/complete without a usable params.ref")),
        Case(method: "sampling/createMessage", params: [:],
             expected: Outcome(forwarded: false, code: JSONRPC.methodNotFound, message: "Method not found: sampling/createMessage",
                               decision: .deny, reason: "the gateway does not forward sampling/createMessage")),
    ]

    @Test(arguments: cases) func aMessageIsDecidedByItsMethodParamsAndPolicy(_ c: Case) {
        let outcome = Outcome(MCPExchange().decide(Self.message(c.method, c.params, token: c.token)))
        // Reasons come from the policy's own wording; the table pins the ones it states.
        var got = outcome
        if c.expected.reason == nil { got.reason = nil }
        #expect(got == c.expected)
    }

    @Test func everyRecordNamesTheCallerTheServerTheSessionAndTheMethod() {
        let m = Self.message("tools/call", ["name": "delete_note"])
        guard case .refuse(_, let audit, _) = MCPExchange().decide(m) else {
            Issue.record("delete_note is not refused")
            return
        }
        #expect(audit.user == "bob" && audit.key == "laptop" && audit.org == "acme" && audit.server == "notes")
        #expect(audit.session == "s1" && audit.method == "tools/call" && audit.status == 200 && audit.remote == "127.0.0.1")
        #expect(audit.policy == Self.policy.digest && audit.tool == "delete_note")
        // A 2026-07-28 request comes on no session.
        guard case .refuse(_, let modern, _) = MCPExchange().decide(Self.message("tools/call", ["name": "delete_note"], session: nil)) else {
            Issue.record("delete_note is not refused without a session")
            return
        }
        #expect(modern.session == nil)
    }

    @Test func aResourceIsDecidedAndForwardedInNormalForm() {
        let verdict = MCPExchange().decide(Self.message("resources/read", ["uri": "NOTES://a/b/../c", "x": 1], token: Tokens.alice))
        guard case .forward(let forwarding) = verdict else {
            Issue.record("the read is not forwarded: \(verdict)")
            return
        }
        #expect(forwarding.params == ["uri": "notes://a/c", "x": 1])
        #expect(forwarding.allowed?.item == Item(.resource, "notes://a/c"))
        #expect(forwarding.allowed?.audit.reason.hasSuffix(" (decided in normal form; written \"NOTES://a/b/../c\")") == true)
        // Already in normal form: forwarded as it came.
        guard case .forward(let plain) = MCPExchange().decide(Self.message("resources/read", ["uri": "notes://a/c"], token: Tokens.alice)) else {
            Issue.record("the normal-form read is not forwarded")
            return
        }
        #expect(plain.params == nil)
    }

    @Test func aPinRefusalRefusesWhatThePolicyAllows() {
        let exchange = MCPExchange(pinRefusal: { server, kind, name in
            server == "acme/notes" && kind == .tool && name == "read_note" ? "Tool read_note of acme/notes does not match its pin" : nil
        })
        let outcome = Outcome(exchange.decide(Self.message("tools/call", ["name": "read_note"])))
        #expect(outcome == Outcome(forwarded: false, code: JSONRPC.invalidParams, message: "Tool read_note of acme/notes does not match its pin",
                                   decision: .deny, reason: "Tool read_note of acme/notes does not match its pin", item: "tool read_note"))
        // What the policy refuses is refused by the policy, whatever the pin.
        let denied = Outcome(exchange.decide(Self.message("tools/call", ["name": "delete_note"])))
        #expect(denied.message == "Tool delete_note is not permitted for bob on acme/notes")
    }

    @Test func aKeyIsDecidedAtTheMessagesTime() {
        // bob's laptop key expires 2099-01-01: the policy decides with the time the message carries.
        let before = MCPExchange().decide(Self.message("tools/call", ["name": "read_note"], now: Date(timeIntervalSince1970: 4_070_908_799)))
        let after = MCPExchange().decide(Self.message("tools/call", ["name": "read_note"], now: Date(timeIntervalSince1970: 4_070_908_801)))
        #expect(Outcome(before).forwarded)
        #expect(!Outcome(after).forwarded)
    }

    @Test func anOutcomeNoteSaysHowAnAllowedCallEnded() {
        #expect(MCPExchange.outcomeNote(.replied(["jsonrpc": "2.0", "id": 1, "result": [:]])) == "")
        #expect(MCPExchange.outcomeNote(.replied(["jsonrpc": "2.0", "id": 1, "result": ["isError": true]])) == " (the call failed)")
        #expect(MCPExchange.outcomeNote(.replied(["jsonrpc": "2.0", "id": 1, "error": ["code": -1, "message": "x"]])) == " (the call failed)")
        #expect(MCPExchange.outcomeNote(.failed(.timedOut("no reply within 30 s"))) == " (no reply within 30 s)")
    }

    @Test func aNotificationIsForwardedOnlyWhenAClientSendsIt() {
        #expect(MCPExchange.notificationRefusal("notifications/cancelled") == nil)
        #expect(MCPExchange.notificationRefusal("notifications/initialized") == nil)
        #expect(MCPExchange.notificationRefusal("notifications/message") == "dropped notification notifications/message: not one a client sends")
        #expect(MCPExchange.notificationRefusal("tools/call")
            == "dropped tools/call sent without an id: a request is never forwarded as a notification")
    }

    static func resolved(_ token: String) -> SessionAccess.Resolved {
        let c = caller(token)
        return SessionAccess.Resolved(policy: policy, user: c.user, key: c.key, server: policy.server(org: "acme", name: "notes")!)
    }

    static func list(_ plural: String, _ entries: [JSONValue], extra: JSONObject = [:]) -> JSONValue {
        var result: JSONObject = [plural: .array(entries)]
        for (k, v) in extra { result[k] = v }
        return ["jsonrpc": "2.0", "id": 7, "result": .object(result)]
    }

    @Test func aListKeepsOnlyWhatTheCallerMayUseAndWhatMatchesItsPin() {
        let reply = Self.list("tools", [["name": "read_note"], ["name": "delete_note"], ["name": "write_note"], ["title": "nameless"]])
        let bob = MCPExchange.filter(reply, .items(.tool), access: Self.resolved(Tokens.bob), now: Date(), pinAdmits: { _, _ in true })
        #expect(bob == Self.list("tools", [["name": "read_note"], ["name": "write_note"]]))
        let pinned = MCPExchange.filter(reply, .items(.tool), access: Self.resolved(Tokens.bob), now: Date(),
                                        pinAdmits: { _, entry in entry["name"] != "write_note" })
        #expect(pinned == Self.list("tools", [["name": "read_note"]]))
        // Access gone (a reload took the key away): nothing is listed.
        #expect(MCPExchange.filter(reply, .items(.tool), access: nil, now: Date(), pinAdmits: { _, _ in true }) == Self.list("tools", []))
        // Not a list result: passed as it came.
        let error: JSONValue = ["jsonrpc": "2.0", "id": 7, "error": ["code": -32603, "message": "x"]]
        #expect(MCPExchange.filter(error, .items(.tool), access: nil, now: Date(), pinAdmits: { _, _ in true }) == error)
    }

    @Test func templatesAreListedOnlyToACallerWhoMayReadSomeResource() {
        let reply = Self.list("resourceTemplates", [["uriTemplate": "notes://{id}", "name": "note"]], extra: ["nextCursor": "n"])
        #expect(MCPExchange.filter(reply, .templates, access: Self.resolved(Tokens.alice), now: Date(), pinAdmits: { _, _ in true }) == reply)
        #expect(MCPExchange.filter(reply, .templates, access: Self.resolved(Tokens.bobCI), now: Date(), pinAdmits: { _, _ in true })
            == Self.list("resourceTemplates", []))
        #expect(MCPExchange.filter(reply, .templates, access: nil, now: Date(), pinAdmits: { _, _ in true }) == Self.list("resourceTemplates", []))
    }
}
