import Foundation
import Hummingbird
import OrchJSON
import OrchPolicy

/// How the gateway treats each method a client sends (README, "What each MCP method may do").
enum MethodRule: Equatable {
    /// Forwarded as it is.
    case forward
    /// A list whose items are filtered, page by page.
    case list(ItemKind)
    /// `resources/templates/list`: listed only to a caller holding some resource grant.
    case templates
    /// One item, named by a parameter: decided before it is forwarded.
    case item(ItemKind, param: String)
    /// `completion/complete`: decided on its reference.
    case completion
    /// Not a method the gateway forwards.
    case unknown

    init(_ method: String) {
        switch method {
        case "tools/list": self = .list(.tool)
        case "prompts/list": self = .list(.prompt)
        case "resources/list": self = .list(.resource)
        case "resources/templates/list": self = .templates
        case "tools/call": self = .item(.tool, param: "name")
        case "prompts/get": self = .item(.prompt, param: "name")
        case "resources/read", "resources/subscribe", "resources/unsubscribe": self = .item(.resource, param: "uri")
        case "completion/complete": self = .completion
        case "initialize", "ping", "logging/setLevel", "tasks/get", "tasks/result", "tasks/list", "tasks/cancel": self = .forward
        default: self = .unknown
        }
    }

    /// The notifications a client may send a server. `notifications/tasks/status` is the client's
    /// answer as the receiver of a task-augmented request of the server.
    static func forwardsNotification(_ method: String) -> Bool {
        switch method {
        case "notifications/initialized", "notifications/cancelled", "notifications/progress",
            "notifications/roots/list_changed", "notifications/tasks/status":
            true
        default:
            false
        }
    }
}

/// Decides a client's message before it is forwarded: a tool call, prompt, resource or
/// completion the caller may not use is answered here and never reaches the server; lists are
/// filtered on their way back under the policy running when they arrive; unknown methods are
/// refused; every decision on one item goes to the audit log with its outcome.
struct CallGuard: Sendable {
    let gateway: Gateway

    enum Admission {
        /// Forward with these hooks; with `rewritten`, the request carries those params instead of
        /// the client's (a resource URI in the normal form it was decided in).
        case forward(ReplyHooks, rewritten: JSONObject?)
        case refuse(JSONValue)
    }

    func admit(
        _ origin: RequestOrigin, caller: Caller, server: ResolvedServer, session: MCPSession,
        id: JSONValue, method: String, params: JSONObject, started: ContinuousClock.Instant
    ) -> Admission {
        let decided = Decided(gateway: gateway, origin: origin, caller: caller, server: server, session: session, method: method, started: started)
        switch MethodRule(method) {
        case .forward:
            return .forward(.none, rewritten: nil)
        case .list(let kind):
            return .forward(ReplyHooks(transform: Self.listFilter(kind, session.access, gateway: gateway)), rewritten: nil)
        case .templates:
            return .forward(ReplyHooks(transform: Self.templatesFilter(session.access)), rewritten: nil)
        case .item(let kind, let param):
            guard let written = params[param]?.stringValue else {
                decided.audit(.deny, "\(method) without a string params.\(param)")
                return .refuse(JSONRPC.error(id: id, code: JSONRPC.invalidParams, "\(method) needs a string params.\(param)"))
            }
            // A resource is decided, and forwarded, by the normal form of its URI: the form a
            // server would read it in, whatever the spelling.
            var name = written
            var rewritten: JSONObject? = nil
            if kind == .resource {
                switch ResourceURI.normalize(written) {
                case .failure(let refusal):
                    let message = "Resource URI \(JSONValue.string(written).compact) is refused: \(refusal)"
                    decided.audit(.deny, message, item: Item(kind, written))
                    gateway.metrics.itemDecision(kind, server: server.path, allowed: false)
                    return .refuse(JSONRPC.error(id: id, code: JSONRPC.invalidParams, message))
                case .success(let uri) where uri != written:
                    name = uri
                    rewritten = params
                    rewritten?[param] = .string(uri)
                case .success:
                    break
                }
            }
            let item = Item(kind, name)
            let decision = caller.policy.decide(user: caller.user, server: server.id, item: item, key: caller.key, at: Date())
            if decision.allowed, let refusal = gateway.pinRefusal(server: server.path, kind, name) {
                decided.audit(.deny, refusal, item: item)
                gateway.metrics.itemDecision(kind, server: server.path, allowed: false)
                return .refuse(JSONRPC.error(id: id, code: JSONRPC.invalidParams, refusal))
            }
            let asWritten = rewritten == nil ? "" : " (decided in normal form; written \(JSONValue.string(written).compact))"
            return decided.item(item, allowed: decision.allowed, reason: caller.policy.describe(decision.reason) + asWritten, id: id,
                                rewritten: rewritten)
        case .completion:
            let ref = params["ref"]
            switch (ref?["type"]?.stringValue, ref?["name"]?.stringValue, ref?["uri"]?.stringValue) {
            case ("ref/prompt", let name?, _):
                let item = Item(.prompt, name)
                let decision = caller.policy.decide(user: caller.user, server: server.id, item: item, key: caller.key, at: Date())
                return decided.item(item, allowed: decision.allowed, reason: caller.policy.describe(decision.reason), id: id)
            case ("ref/resource", _, let uri?):
                let allowed = caller.policy.grantsSome(.resource, user: caller.user, server: server.id, key: caller.key, at: Date())
                let reason = allowed ? "\(caller.userName) may read some resource of \(server.path)" : "\(caller.userName) may read no resource of \(server.path)"
                return decided.item(Item(.resource, uri), allowed: allowed, reason: reason, id: id, template: true)
            default:
                decided.audit(.deny, "completion/complete without a usable params.ref")
                return .refuse(JSONRPC.error(id: id, code: JSONRPC.invalidParams, "completion/complete needs params.ref: {type: \"ref/prompt\", name} or {type: \"ref/resource\", uri}"))
            }
        case .unknown:
            decided.audit(.deny, "the gateway does not forward \(method)")
            return .refuse(JSONRPC.error(id: id, code: JSONRPC.methodNotFound, "Method not found: \(method)"))
        }
    }

    /// Whether a client notification goes on to the server. A request method sent without an id,
    /// and any notification a client does not send, is dropped and audited.
    func admitNotification(_ origin: RequestOrigin, caller: Caller, server: ResolvedServer, session: MCPSession, method: String) -> Bool {
        guard let refusal = Self.notificationRefusal(method) else { return true }
        let decided = Decided(gateway: gateway, origin: origin, caller: caller, server: server, session: session, method: method, started: .now)
        decided.audit(.deny, refusal)
        return false
    }

    /// Why a client notification `method` is dropped and audited; nil for one a client sends.
    static func notificationRefusal(_ method: String) -> String? {
        if MethodRule.forwardsNotification(method) { return nil }
        return MethodRule(method) == .unknown
            ? "dropped notification \(method): not one a client sends"
            : "dropped \(method) sent without an id: a request is never forwarded as a notification"
    }

    /// One message's decision, audited and counted.
    private struct Decided {
        let gateway: Gateway
        let origin: RequestOrigin
        let caller: Caller
        let server: ResolvedServer
        let session: MCPSession
        let method: String
        let started: ContinuousClock.Instant

        func audit(_ decision: AuditDecision, _ reason: String, item: Item? = nil) {
            gateway.audit(origin, caller: caller, decision: decision, reason: reason, status: 200, started: started,
                          org: server.org, server: server.name, session: session.id, mcpMethod: method, item: item)
        }

        /// Refuses with -32602 naming the item, or forwards and audits the outcome when it comes.
        func item(_ item: Item, allowed: Bool, reason: String, id: JSONValue, template: Bool = false, rewritten: JSONObject? = nil) -> Admission {
            gateway.metrics.itemDecision(item.kind, server: server.path, allowed: allowed)
            guard allowed else {
                audit(.deny, reason, item: item)
                let what = template ? "Completion of resource template" : item.kind.description.capitalized
                return .refuse(JSONRPC.error(id: id, code: JSONRPC.invalidParams, "\(what) \(item.name) is not permitted for \(caller.userName) on \(server.path)"))
            }
            let decided = self
            return .forward(ReplyHooks(outcome: { outcome in
                let note: String = switch outcome {
                case .replied where outcome.isFailure: " (the call failed)"
                case .replied: ""
                case .failed(let error): " (\(error.message))"
                }
                decided.audit(.allow, reason + note, item: item)
            }), rewritten: rewritten)
        }
    }

    /// A list reply (`tools`, `prompts` or `resources`) with only the items the session may use
    /// under the policy running when the reply arrives (and, under `gateway.pinning` `enforce`,
    /// that match their pins).
    static func listFilter(_ kind: ItemKind, _ access: SessionAccess, gateway: Gateway) -> @Sendable (JSONValue) -> JSONValue {
        let key = kind == .resource ? "uri" : "name"
        return { reply in
            guard case .object(var object) = reply, case .object(var result) = object["result"],
                let items = result[kind.plural]?.arrayValue
            else { return reply }
            let now = Date()
            let current = access.current
            let server = "\(access.org)/\(access.server)"
            result[kind.plural] = .array(items.filter { entry in
                guard let r = current, let name = entry[key]?.stringValue, let item = Item.named(kind, name) else { return false }
                return r.policy.decide(user: r.user, server: r.server, item: item, key: r.key, at: now).allowed
                    && gateway.pinAdmits(server: server, kind, entry)
            })
            object["result"] = .object(result)
            return .object(object)
        }
    }

    /// A `resources/templates/list` reply, emptied for a session that may read no resource.
    static func templatesFilter(_ access: SessionAccess) -> @Sendable (JSONValue) -> JSONValue {
        { reply in
            guard !access.grantsSome(.resource), case .object(var object) = reply, case .object(var result) = object["result"],
                result["resourceTemplates"] != nil
            else { return reply }
            result["resourceTemplates"] = .array([])
            result["nextCursor"] = nil
            object["result"] = .object(result)
            return .object(object)
        }
    }
}
