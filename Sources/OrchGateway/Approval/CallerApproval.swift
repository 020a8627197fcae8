import Foundation
import NIOCore
import OrchJSON
import OrchPolicy

extension CallGuard {
    /// What a call admitted by `admit` needs before it is forwarded.
    enum ApprovalStep: Sendable {
        /// Nothing: forward it.
        case none
        /// Approval first: `approve` before forwarding.
        case ask(ApprovalQuestion)
        /// The call does not run: this is its answer (audited already).
        case refuse(JSONValue)
    }

    /// The approval a handshake-era call needs (the `approve` rules of its server for its tool).
    /// A caller's rule needs a client that declared form elicitation and a way to carry the
    /// question (`canAsk`); without them the call is refused with -32602 and never runs.
    func approvalStep(
        _ origin: RequestOrigin, caller: Caller, server: ResolvedServer, session: MCPSession, id: JSONValue, method: String, params: JSONObject,
        canAsk: Bool
    ) -> ApprovalStep {
        guard let question = ApprovalQuestion(policy: caller.policy, server: server, method: method, params: params) else { return .none }
        guard question.callerRule != nil else { return .ask(question) }
        let refusal: String
        if !session.declaresElicitation {
            refusal = "\(question.server) \(question.tool) needs the caller's approval, and this client cannot be asked: it declared no elicitation at initialize; the call does not run"
        } else if !canAsk {
            refusal = "\(question.server) \(question.tool) needs the caller's approval, and this request cannot carry the question: send it accepting text/event-stream, or open the session's GET stream; the call does not run"
        } else {
            return .ask(question)
        }
        auditApproval(question, origin, caller, server, session, decision: .deny, "approval: " + refusal)
        metrics.approval(outcome: "cannot_ask")
        return .refuse(JSONRPC.error(id: id, code: JSONRPC.invalidParams, refusal))
    }

    /// Satisfies every rule of `question`, the caller's first (asked on `target`), then each role's
    /// (the call waits on the dashboard); true when all approved. Otherwise the call's answer, a tool
    /// error saying why, went to `replyTarget` through `hooks` (so the call's own record says it did
    /// not run), or the caller went away and nothing is answered.
    func approve(
        _ question: ApprovalQuestion, _ origin: RequestOrigin, caller: Caller, server: ResolvedServer, session: MCPSession, id: JSONValue,
        on target: SessionStateMachine.Target, replyTarget: SessionStateMachine.Target, hooks: ReplyHooks, progressToken: JSONValue? = nil
    ) async -> Bool {
        session.holdForApproval(id)
        defer { session.releaseApprovalHold(id) }
        /// The caller cancelled or went away: nothing runs, and a JSON POST is told so.
        func abandon() -> Bool {
            hooks.outcome?(.failed(.stopped("the caller went away before the approval")))
            if case .response(let queue, let interim) = replyTarget {
                if !interim { _ = queue.push(MCPSession.encode(JSONRPC.error(id: id, code: JSONRPC.requestCancelled, "request cancelled by the client"))) }
                queue.finish()
            }
            return false
        }
        func decline(_ why: String) -> Bool {
            let result = question.declinedResult(id: id, why)
            hooks.outcome?(.replied(result))
            // Through the call's own rewrite, where it has one (a 2026-07-28 call's stamp).
            let bytes = hooks.rewrite.map { $0(result, MCPSession.encode(result)) } ?? MCPSession.encode(result)
            session.send(bytes, to: replyTarget)
            if case .response(let queue, _) = replyTarget { queue.finish() }
            return false
        }
        if let rule = question.callerRule {
            let timeout = rule.timeoutSeconds
            let reply = await session.ask(client: "elicitation/create", params: .object(question.elicitation), on: target, timeout: .seconds(timeout))
            let answer: ApprovalQuestion.Answer = switch reply {
            case nil: .declined("not given within \(timeout) s")
            case let reply? where reply["error"] != nil: .declined("refused by the client (\(reply["error"]?["message"]?.stringValue ?? "an error"))")
            case let reply?: ApprovalQuestion.read(reply["result"])
            }
            if session.cancelledWhileHeld(id) {
                auditApproval(question, origin, caller, server, session, decision: .deny, "approval: the caller cancelled the call; it does not run")
                metrics.approval(outcome: "abandoned")
                return abandon()
            }
            switch answer {
            case .approved:
                auditApproval(question, origin, caller, server, session, decision: .allow, "approval: \(caller.userName) (the caller) approved")
                metrics.approval(outcome: "approved")
            case .declined(let why):
                auditApproval(question, origin, caller, server, session, decision: .deny, "approval: \(why) by \(caller.userName) (the caller)")
                metrics.approval(outcome: reply == nil ? "timeout" : "declined")
                return decline(why + " by \(caller.userName)")
            }
        }
        for (role, rule) in question.roleRules {
            switch await waitForRole(question, role: role, rule: rule, origin, caller: caller, server: server, session: session, id: id, on: target,
                                     replyTarget: replyTarget, progressToken: progressToken) {
            case .approved: continue
            case .declined(let why): return decline(why)
            case .abandoned: return abandon()
            }
        }
        return true
    }

    enum RoleAnswer: Sendable { case approved, declined(String), abandoned }

    /// Puts the call on the dashboard's list for someone holding `role` in the server's org (a
    /// sealed file in `gateway.approvals`, seen by every replica sharing it) and waits for the
    /// decision, at most the rule's `timeoutSeconds`, sending a progress notification every 2 s
    /// when the caller sent a `progressToken`. A caller that goes away (the session ends, the
    /// call's stream closes, or it cancels the request) takes the call off the list.
    func waitForRole(
        _ question: ApprovalQuestion, role: String, rule: ApprovalRule, _ origin: RequestOrigin, caller: Caller, server: ResolvedServer,
        session: MCPSession, id: JSONValue, on target: SessionStateMachine.Target, replyTarget: SessionStateMachine.Target, progressToken: JSONValue?
    ) async -> RoleAnswer {
        let store = approvals(caller.policy)
        let now = Int64(clock.now().timeIntervalSince1970)
        let pending = ApprovalStore.Pending(
            id: ApprovalStore.newID(), org: server.org, server: question.server, tool: question.tool, role: role, caller: caller.userName,
            summary: question.summary, created: now, expires: now + Int64(rule.timeoutSeconds))
        do {
            try store.add(pending)
        } catch {
            auditApproval(question, origin, caller, server, session, decision: .deny, "approval: the call could not be put before role \(role): \(error)")
            metrics.approval(outcome: "cannot_ask")
            return .declined("not asked: the pending call could not be recorded")
        }
        defer { store.remove(pending.id) }
        auditApproval(question, origin, caller, server, session, decision: .allow, "approval: waiting for someone holding role \(role) (call \(pending.id))")
        let deadline = ContinuousClock.now + .seconds(rule.timeoutSeconds)
        var nextProgress = ContinuousClock.now + .seconds(2)
        var ticks: Int64 = 0
        while ContinuousClock.now < deadline {
            if let decision = store.decision(pending.id) {
                let verb = decision.approved ? "approved" : "denied"
                auditApproval(question, origin, caller, server, session, decision: decision.approved ? .allow : .deny,
                              "approval: \(verb) by \(decision.by) (role \(role), call \(pending.id))")
                metrics.approval(outcome: decision.approved ? "approved" : "declined")
                return decision.approved ? .approved : .declined("denied by \(decision.by) (role \(role))")
            }
            let gone = if case .response(let queue, _) = replyTarget { queue.isEnded } else { false }
            if session.isEnded || gone || session.cancelledWhileHeld(id) {
                auditApproval(question, origin, caller, server, session, decision: .deny, "approval: the caller cancelled or went away; the call does not run (call \(pending.id))")
                metrics.approval(outcome: "abandoned")
                return .abandoned
            }
            if let progressToken, ContinuousClock.now >= nextProgress {
                ticks += 1
                nextProgress = ContinuousClock.now + .seconds(2)
                session.send(MCPSession.encode(["jsonrpc": "2.0", "method": "notifications/progress", "params": [
                    "progressToken": progressToken, "progress": .integer(ticks),
                    "message": .string("waiting for the approval of someone holding role \(role)"),
                ]]), to: target)
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        auditApproval(question, origin, caller, server, session, decision: .deny, "approval: no one holding role \(role) answered within \(rule.timeoutSeconds) s (call \(pending.id))")
        metrics.approval(outcome: "timeout")
        return .declined("not given within \(rule.timeoutSeconds) s by anyone holding role \(role)")
    }

    func auditApproval(
        _ question: ApprovalQuestion, _ origin: RequestOrigin, _ caller: Caller, _ server: ResolvedServer, _ session: MCPSession,
        decision: AuditDecision, _ reason: String
    ) {
        auditor.write(AuditRecord(origin, caller: caller, decision: decision, reason: reason, status: 200, org: server.org, server: server.name,
                                  session: session.id, method: MCPMethod.toolsCall.rawValue, item: Item(.tool, question.tool)), started: .now)
    }
}
