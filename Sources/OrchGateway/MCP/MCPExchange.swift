import Foundation
import OrchJSON
import OrchPolicy

/// The one place a client's message to a server is decided, whatever carried it: the NIO fast
/// path, the per-server and short-form Streamable HTTP endpoints, legacy HTTP+SSE, the aggregated
/// endpoints (after their names are mapped back) and 2026-07-28 requests alike. It does no I/O and
/// reads no clock: the caller's policy, the message and `now` go in, a verdict comes out with the
/// audit record it calls for; `CallGuard` carries the verdict out (writes the record, counts the
/// decision, hooks the reply).
///
/// A tool call, prompt, resource or completion the caller may not use is refused with -32602 and
/// never reaches the server; lists are filtered on their way back, under the policy running when
/// they arrive; a method the gateway does not forward gets -32601. Each decision on one item is
/// audited: a refusal at once, an allowed call with its outcome.
struct MCPExchange: Sendable {
    /// A client's request to one server.
    struct Message: Sendable {
        let origin: RequestOrigin
        let caller: Caller
        let server: ResolvedServer
        /// The session it came on; nil for a 2026-07-28 request, which has none.
        let session: String?
        let id: JSONValue
        let method: String
        let params: JSONObject
        let now: Date
    }

    enum Verdict: Sendable {
        case forward(Forwarding)
        /// Answer `reply` in the server's place and write `audit`; `item` is the item decision
        /// to count, when the refusal is one.
        case refuse(reply: JSONValue, audit: AuditRecord, item: Item?)
    }

    /// How a request goes on to its server.
    struct Forwarding: Sendable {
        /// Sent instead of the client's params: a resource URI in the normal form it was decided in.
        var params: JSONObject? = nil
        /// Applied to the reply.
        var filter: ReplyFilter? = nil
        /// An item allowed: counted now, and audited (this record, its reason followed by
        /// `outcomeNote`) when the reply comes.
        var allowed: Allowed? = nil

        struct Allowed: Sendable {
            let item: Item
            let audit: AuditRecord
        }
    }

    /// What a list reply keeps.
    enum ReplyFilter: Sendable, Equatable {
        /// Only the `tools`, `prompts` or `resources` the caller may use (and, under
        /// `gateway.pinning` `enforce`, whose pins they match).
        case items(ItemKind)
        /// `resourceTemplates`, only for a caller who may read some resource.
        case templates
    }

    /// Why a call of an item of a server is refused under `gateway.pinning` `enforce`, or nil.
    let pinRefusal: @Sendable (_ server: String, ItemKind, _ name: String) -> String?

    init(pinRefusal: @escaping @Sendable (_ server: String, ItemKind, _ name: String) -> String? = { _, _, _ in nil }) {
        self.pinRefusal = pinRefusal
    }

    func decide(_ m: Message) -> Verdict {
        switch MethodRule(m.method) {
        case .forward:
            return .forward(Forwarding())
        case .list(let kind):
            return .forward(Forwarding(filter: .items(kind)))
        case .templates:
            return .forward(Forwarding(filter: .templates))
        case .item(let kind, let param):
            guard let written = m.params[param]?.stringValue else {
                return refuse(m, JSONRPC.invalidParams, "\(m.method) needs a string params.\(param)",
                              reason: "\(m.method) without a string params.\(param)")
            }
            // What the policy decides, and the server gets: a tool's upstream name (an exposed one is
            // mapped back through the server's overrides), a resource's URI in its normal form (the
            // form a server would read it in, whatever the spelling).
            var name = written
            switch kind {
            case .tool:
                let unknown = "Tool \(written) is not permitted for \(m.caller.userName) on \(m.server.path)"
                switch m.caller.policy.toolCall(written, server: m.server.id) {
                case .tool(let upstream): name = upstream
                case .hidden(let upstream):
                    return refuse(m, JSONRPC.invalidParams, unknown, reason: "\(upstream) is hidden by the server's overrides", item: Item(.tool, upstream))
                case .renamed(let upstream, let exposed):
                    return refuse(m, JSONRPC.invalidParams, unknown, reason: "\(upstream) is exposed as \(exposed) by the server's overrides",
                                  item: Item(.tool, upstream))
                }
            case .resource:
                switch ResourceURI.normalize(written) {
                case .failure(let refusal):
                    let message = "Resource URI \(JSONValue.string(written).compact) is refused: \(refusal)"
                    return refuse(m, JSONRPC.invalidParams, message, reason: message, item: Item(kind, written))
                case .success(let uri): name = uri
                }
            case .prompt:
                break
            }
            var rewritten: JSONObject? = nil
            if name != written {
                rewritten = m.params
                rewritten?[param] = .string(name)
            }
            let item = Item(kind, name)
            let decision = m.caller.policy.decide(user: m.caller.user, server: m.server.id, item: item, key: m.caller.key, at: m.now)
            if decision.allowed, let refusal = pinRefusal(m.server.path, kind, name) {
                return refuse(m, JSONRPC.invalidParams, refusal, reason: refusal, item: item)
            }
            let asWritten = rewritten == nil ? "" : kind == .tool ? " (called as \(written))" : " (decided in normal form; written \(JSONValue.string(written).compact))"
            return decided(m, item, allowed: decision.allowed, reason: m.caller.policy.describe(decision.reason) + asWritten,
                           params: rewritten)
        case .completion:
            let ref = m.params["ref"]
            switch (ref?["type"]?.stringValue, ref?["name"]?.stringValue, ref?["uri"]?.stringValue) {
            case ("ref/prompt", let name?, _):
                let item = Item(.prompt, name)
                let decision = m.caller.policy.decide(user: m.caller.user, server: m.server.id, item: item, key: m.caller.key, at: m.now)
                return decided(m, item, allowed: decision.allowed, reason: m.caller.policy.describe(decision.reason))
            case ("ref/resource", _, let uri?):
                let allowed = m.caller.policy.grantsSome(.resource, user: m.caller.user, server: m.server.id, key: m.caller.key, at: m.now)
                let reason = "\(m.caller.userName) may read \(allowed ? "some" : "no") resource of \(m.server.path)"
                return decided(m, Item(.resource, uri), allowed: allowed, reason: reason, template: true)
            default:
                return refuse(m, JSONRPC.invalidParams,
                              "completion/complete needs params.ref: {type: \"ref/prompt\", name} or {type: \"ref/resource\", uri}",
                              reason: "completion/complete without a usable params.ref")
            }
        case .unknown:
            return refuse(m, JSONRPC.methodNotFound, "Method not found: \(m.method)", reason: "the gateway does not forward \(m.method)")
        }
    }

    /// Refuses with -32602 naming the item, or forwards it to be audited with its outcome.
    private func decided(_ m: Message, _ item: Item, allowed: Bool, reason: String, template: Bool = false, params: JSONObject? = nil) -> Verdict {
        guard allowed else {
            let what = template ? "Completion of resource template" : item.kind.description.capitalized
            return refuse(m, JSONRPC.invalidParams, "\(what) \(item.name) is not permitted for \(m.caller.userName) on \(m.server.path)",
                          reason: reason, item: item)
        }
        return .forward(Forwarding(params: params, allowed: .init(item: item, audit: Self.record(m, .allow, reason, item: item))))
    }

    private func refuse(_ m: Message, _ code: Int64, _ message: String, reason: String, item: Item? = nil) -> Verdict {
        .refuse(reply: JSONRPC.error(id: m.id, code: code, message), audit: Self.record(m, .deny, reason, item: item), item: item)
    }

    /// The record of a decision on `m`: as every MCP message's, status 200.
    static func record(_ m: Message, _ decision: AuditDecision, _ reason: String, item: Item? = nil) -> AuditRecord {
        AuditRecord(m.origin, caller: m.caller, decision: decision, reason: reason, status: 200,
                    org: m.server.org, server: m.server.name, session: m.session, method: m.method, item: item)
    }

    /// What an allowed item's audit reason gains from how the call ended.
    static func outcomeNote(_ outcome: ReplyOutcome) -> String {
        switch outcome {
        case .replied(let reply):
            if case .string(let why)? = reply["error"]?["data"]?[AccountRefusal.auditKey] ?? reply["result"]?["_meta"]?[AccountRefusal.auditKey] {
                " (refused: \(why))"
            } else {
                outcome.isFailure ? " (the call failed)" : ""
            }
        case .failed(let error): " (\(error.message))"
        }
    }

    /// Why a client notification `method` is dropped and audited; nil for one a client sends. A
    /// request method sent without an id is never forwarded as a notification.
    static func notificationRefusal(_ method: String) -> String? {
        if MethodRule.forwardsNotification(method) { return nil }
        return MethodRule(method) == .unknown
            ? "dropped notification \(method): not one a client sends"
            : "dropped \(method) sent without an id: a request is never forwarded as a notification"
    }

    /// `reply` with what `filter` keeps for `access` at `now` (nothing, when its access is gone);
    /// `pinAdmits` says whether a listed entry matches its pin. Anything not a list result is
    /// passed as it came.
    static func filter(
        _ reply: JSONValue, _ filter: ReplyFilter, access: SessionAccess.Resolved?, now: Date,
        pinAdmits: (ItemKind, JSONValue) -> Bool
    ) -> JSONValue {
        guard case .object(var object) = reply, case .object(var result) = object["result"] else { return reply }
        switch filter {
        case .items(let kind):
            guard let items = result[kind.plural]?.arrayValue else { return reply }
            let key = kind == .resource ? "uri" : "name"
            var kept = items.filter { entry in
                guard let r = access, let name = entry[key]?.stringValue, let item = Item.named(kind, name) else { return false }
                return r.policy.decide(user: r.user, server: r.server, item: item, key: r.key, at: now).allowed && pinAdmits(kind, entry)
            }
            // Decided and pinned on upstream names, then shown as the server's overrides say.
            if kind == .tool, let r = access, case let overrides = r.policy.toolOverrides(of: r.server), !overrides.isEmpty {
                kept = kept.compactMap(overrides.apply)
            }
            result[kind.plural] = .array(kept)
        case .templates:
            guard result["resourceTemplates"] != nil else { return reply }
            if let r = access, r.policy.grantsSome(.resource, user: r.user, server: r.server, key: r.key, at: now) { return reply }
            result["resourceTemplates"] = .array([])
            result["nextCursor"] = nil
        }
        object["result"] = .object(result)
        return .object(object)
    }
}
