import Foundation
import HTTPTypes
import Hummingbird
import OrchPolicy

/// Calls waiting for a role's approval, on the dashboard. `/ui/approvals` lists each waiting call
/// the signed-in user may decide (they hold its role in the server's org, and it is not their own
/// call): caller, server, tool, the arguments as the question shows them (redactions applied), and
/// age; the page reloads every 2 s. `POST /ui/approvals/decide` (`id`, `decision`, `csrf`) records
/// the decision in `gateway.approvals`, where the replica holding the call sees it.
struct DashboardApprovals: Sendable {
    let dashboard: Dashboard
    var gateway: Gateway { dashboard.gateway }

    func addRoutes(to ui: RouterGroup<GatewayContext>) {
        ui.get("approvals") { request, context in try await dashboard.page(request, context) { self.page($0, $1) } }
        ui.post("approvals/decide") { request, context in try await self.decide(request, context) }
    }

    private var now: Int64 { Int64(gateway.clock.now().timeIntervalSince1970) }

    /// Whether `caller` may decide `pending`: they hold its role in its org, and it is not their call.
    static func mayDecide(_ caller: Caller, _ pending: ApprovalStore.Pending) -> Bool {
        pending.caller != caller.userName && caller.policy.holds(caller.user, role: pending.role, in: pending.org)
    }

    func page(_ session: DashboardSessions.Session, _ caller: Caller) -> (template: String, values: [String: Any]) {
        let now = self.now
        let all = gateway.approvalStore(caller.policy).pending(at: now)
        func row(_ pending: ApprovalStore.Pending) -> [String: Any] {
            ["id": pending.id, "caller": pending.caller, "server": pending.server, "tool": pending.tool, "role": pending.role,
             "arguments": pending.summary, "age": "\(max(0, now - pending.created)) s", "left": "\(max(0, pending.expires - now)) s"]
        }
        let rows = all.filter { Self.mayDecide(caller, $0) }.map(row)
        let own = all.filter { $0.caller == caller.userName }.map(row)
        return ("approvals", [
            "title": "Approvals", "navApprovals": true, "rows": rows, "hasRows": !rows.isEmpty, "own": own, "hasOwn": !own.isEmpty, "refresh": 2,
        ])
    }

    /// `POST /ui/approvals/decide`: the first decision on a waiting call stands.
    func decide(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let (_, caller, form) = try await dashboard.signedInForm(request, context, what: "approval")
        let id = form["id"] ?? ""
        let store = gateway.approvalStore(caller.policy)
        guard let pending = store.pending(id), pending.expires > now else {
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "approval: no call \(id) is waiting", status: 404, started: .now)
            throw GatewayError.notFound("no call \(id) is waiting for approval (it was decided, timed out, or its caller went away)")
        }
        let target = Item(.tool, pending.tool)
        let parts = pending.server.split(separator: "/", maxSplits: 1).map(String.init)
        func audit(_ decision: AuditDecision, _ reason: String, _ status: Int) {
            gateway.auditor.write(AuditRecord(RequestOrigin(context, request), caller: caller, decision: decision, reason: reason, status: status,
                                              org: parts.first, server: parts.last, method: "POST /ui/approvals/decide", item: target), started: .now)
        }
        guard pending.caller != caller.userName else {
            audit(.deny, "approval: \(caller.userName) may not approve their own call \(id)", 403)
            throw GatewayError.forbidden("you may not decide your own call: someone else holding role \(pending.role) does")
        }
        guard Self.mayDecide(caller, pending) else {
            audit(.deny, "approval: \(caller.userName) does not hold role \(pending.role) in \(pending.org) (call \(id))", 403)
            throw GatewayError.forbidden("deciding this call takes role \(pending.role) in \(pending.org), which you do not hold")
        }
        let approved: Bool
        switch form["decision"] {
        case "approve": approved = true
        case "deny": approved = false
        default: throw GatewayError.badRequest("decision must be approve or deny")
        }
        do {
            try store.decide(id, ApprovalStore.Decision(approved: approved, by: caller.userName, at: now))
        } catch {
            audit(.deny, "approval: call \(id) was decided already", 409)
            throw GatewayError(.conflict, code: "conflict", "this call was decided already")
        }
        audit(approved ? .allow : .deny, "approval: \(caller.userName) \(approved ? "approved" : "denied") \(pending.caller)'s call \(id) (role \(pending.role))", 303)
        return Response(status: .seeOther, headers: [.location: "/ui/approvals"])
    }
}
