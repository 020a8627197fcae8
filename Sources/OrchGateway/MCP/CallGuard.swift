import Foundation
import Hummingbird
import OrchJSON
import OrchPolicy

/// Decides a client's request before it is forwarded: a tool call the caller may not make is
/// answered here and never reaches the server; a tool list is filtered on its way back; a tool
/// call's outcome and real duration go to the audit log.
struct CallGuard: Sendable {
    let gateway: Gateway

    enum Admission {
        case forward(ReplyHooks)
        case refuse(JSONValue)
    }

    func admit(
        _ origin: RequestOrigin, caller: Caller, server: ResolvedServer, session: MCPSession,
        id: JSONValue, method: String, params: JSONObject, started: ContinuousClock.Instant
    ) -> Admission {
        switch method {
        case "tools/list":
            return .forward(ReplyHooks(transform: toolsFilter(caller, server)))
        case "tools/call":
            let tool = params["name"]?.stringValue ?? ""
            let policy = caller.policy
            let decision = policy.decide(user: caller.user, server: server.id, tool: tool, key: caller.key, at: Date())
            let reason = policy.describe(decision.reason)
            gateway.metrics.toolCall(server: server.path, allowed: decision.allowed)
            guard decision.allowed else {
                gateway.audit(origin, caller: caller, decision: "deny", reason: reason, status: 200, started: started,
                              org: server.org, server: server.name, session: session.id, mcpMethod: method, tool: tool)
                return .refuse(JSONRPC.error(id: id, code: JSONRPC.invalidParams, "Tool \(tool) is not permitted for \(caller.userName) on \(server.path)"))
            }
            let gateway = self.gateway
            return .forward(ReplyHooks(outcome: { outcome in
                let note: String = switch outcome {
                case .replied where outcome.isFailure: " (the call failed)"
                case .replied: ""
                case .failed(let error): " (\(error.message))"
                }
                gateway.audit(origin, caller: caller, decision: "allow", reason: reason + note, status: 200, started: started,
                              org: server.org, server: server.name, session: session.id, mcpMethod: method, tool: tool)
            }))
        default:
            return .forward(.none)
        }
    }

    /// The `tools/list` reply with only the tools this key may call, decided on the caller's policy.
    private func toolsFilter(_ caller: Caller, _ server: ResolvedServer) -> @Sendable (JSONValue) -> JSONValue {
        let policy = caller.policy, user = caller.user, key = caller.key, id = server.id
        return { reply in
            guard case .object(var object) = reply, case .object(var result) = object["result"],
                let tools = result["tools"]?.arrayValue
            else { return reply }
            let now = Date()
            result["tools"] = .array(tools.filter { tool in
                guard let name = tool["name"]?.stringValue else { return false }
                return policy.decide(user: user, server: id, tool: name, key: key, at: now).allowed
            })
            object["result"] = .object(result)
            return .object(object)
        }
    }
}
