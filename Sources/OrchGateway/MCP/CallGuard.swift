import Foundation
import Hummingbird
import OrchJSON
import OrchPolicy

/// How the gateway treats each method a client sends (docs/guide/operations.md, "What each MCP method may do").
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

/// Carries `MCPExchange`'s verdict on a client's message out: writes its audit record (a
/// refusal's at once, an allowed item's with its outcome), counts item decisions, and hooks the
/// reply with the list filter it names. Every endpoint admits its messages here.
struct CallGuard: Sendable {
    let auditor: Auditor
    let metrics: GatewayMetrics
    /// The time decisions and list filters are made at.
    let clock: WallClock
    let pins: PinCheck
    let limiter: Limiter
    /// Where calls wait for a role's approval under a policy.
    let approvals: @Sendable (Policy) -> ApprovalStore

    enum Admission {
        /// Forward with these hooks; with `rewritten`, the request carries those params instead of
        /// the client's (a resource URI in the normal form it was decided in).
        case forward(ReplyHooks, rewritten: JSONObject?)
        case refuse(JSONValue)
    }

    var exchange: MCPExchange {
        let pins = self.pins
        return MCPExchange(pinRefusal: { pins.refusal(server: $0, $1, $2) })
    }

    func admit(
        _ origin: RequestOrigin, caller: Caller, server: ResolvedServer, session: MCPSession,
        id: JSONValue, method: String, params: JSONObject, started: ContinuousClock.Instant
    ) -> Admission {
        let message = MCPExchange.Message(origin: origin, caller: caller, server: server, session: session.id, id: id,
                                          method: method, params: params, now: clock.now())
        switch exchange.decide(message) {
        case .refuse(let reply, let record, let item):
            if let item { metrics.itemDecision(item.kind, server: server.path, allowed: false) }
            auditor.write(record, started: started)
            return .refuse(reply)
        case .forward(let forwarding):
            var hooks = ReplyHooks.none
            if let filter = forwarding.filter { hooks = ReplyHooks(transform: replyFilter(filter, session.access)) }
            if let allowed = forwarding.allowed {
                var permit: CallPermit?
                if method == "tools/call" {
                    let limits = caller.policy.settings.limits.perUser, serverLimits = caller.policy.limits(of: server.id)
                    switch limiter.admitCall(user: caller.userName, server: server.path, tool: allowed.item.name, limits, serverLimits) {
                    case .success(let granted): permit = granted
                    case .failure(let refusal):
                        var record = allowed.audit
                        (record.decision, record.reason) = (.deny, refusal.message)
                        auditor.write(record, started: started)
                        metrics.limited(refusal.limit)
                        return .refuse(Self.limitReply(id: id, refusal))
                    }
                }
                metrics.itemDecision(allowed.item.kind, server: server.path, allowed: true)
                let auditor = self.auditor
                hooks = ReplyHooks(outcome: { [permit] outcome in
                    permit?.release()
                    var record = allowed.audit
                    record.reason += MCPExchange.outcomeNote(outcome)
                    auditor.write(record, started: started)
                })
            }
            return .forward(hooks, rewritten: forwarding.params)
        }
    }

    /// The JSON-RPC answer to a message over a limit: -32000, the message naming the limit, and
    /// `data.limit` and `data.retryAfterSeconds` (in an HTTP 200: SDK clients raise on a 429 and
    /// never read the error).
    static func limitReply(id: JSONValue, _ refusal: Limiter.Refusal) -> JSONValue {
        JSONRPC.error(id: id, code: JSONRPC.limited, refusal.message,
                      data: ["limit": .string(refusal.limit), "retryAfterSeconds": .integer(Int64(refusal.retryAfterSeconds))])
    }

    /// Whether a client notification goes on to the server. A request method sent without an id,
    /// and any notification a client does not send, is dropped and audited.
    func admitNotification(_ origin: RequestOrigin, caller: Caller, server: ResolvedServer, session: MCPSession, method: String) -> Bool {
        guard let refusal = MCPExchange.notificationRefusal(method) else { return true }
        auditor.write(AuditRecord(origin, caller: caller, decision: .deny, reason: refusal, status: 200,
                                  org: server.org, server: server.name, session: session.id, method: method), started: .now)
        return false
    }

    /// A reply hook applying `filter` for `access` under the policy running when the reply arrives.
    func replyFilter(_ filter: MCPExchange.ReplyFilter, _ access: SessionAccess) -> @Sendable (JSONValue) -> JSONValue {
        let server = "\(access.org)/\(access.server)"
        let (clock, pins) = (self.clock, self.pins)
        return { reply in
            MCPExchange.filter(reply, filter, access: access.current, now: clock.now(), pinAdmits: { pins.admits(server: server, $0, $1) })
        }
    }
}
