import NIOCore
import OrchJSON
import OrchPolicy

extension CallGuard {
    /// What a call admitted by `admit` needs before it is forwarded.
    enum ApprovalStep: Sendable {
        /// Nothing: forward it.
        case none
        /// The caller's approval: ask with `ask` before forwarding.
        case ask(ApprovalQuestion)
        /// The call does not run: this is its answer (audited already).
        case refuse(JSONValue)
    }

    /// The approval a handshake-era call needs (`approve` rules of its server for its tool). A rule
    /// of a role is not served on this path yet: such a call is refused, and never runs unapproved.
    /// A client that cannot be asked (it declared no elicitation) is refused with -32602.
    func approvalStep(
        _ origin: RequestOrigin, caller: Caller, server: ResolvedServer, session: MCPSession, id: JSONValue, method: String, params: JSONObject,
        canAsk: Bool
    ) -> ApprovalStep {
        guard let question = ApprovalQuestion(policy: caller.policy, server: server, method: method, params: params) else { return .none }
        let refusal: String
        if let role = question.roles.first {
            refusal = "\(question.server) \(question.tool) needs the approval of someone holding role \(role), which this version does not ask for; the call does not run"
        } else if !session.declaresElicitation {
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

    /// Asks the caller the question on `target` and waits for the answer, at most the rule's
    /// `timeoutSeconds`; true when approved. Otherwise the call's answer, a tool error saying why,
    /// went to `replyTarget` through `hooks` (so the call's own record says it did not run).
    func ask(
        _ question: ApprovalQuestion, _ origin: RequestOrigin, caller: Caller, server: ResolvedServer, session: MCPSession, id: JSONValue,
        on target: SessionStateMachine.Target, replyTarget: SessionStateMachine.Target, hooks: ReplyHooks
    ) async -> Bool {
        let timeout = question.rule.timeoutSeconds
        let reply = await session.ask(client: "elicitation/create", params: .object(question.elicitation), on: target, timeout: .seconds(timeout))
        let answer: ApprovalQuestion.Answer = switch reply {
        case nil: .declined("not given within \(timeout) s")
        case let reply? where reply["error"] != nil: .declined("refused by the client (\(reply["error"]?["message"]?.stringValue ?? "an error"))")
        case let reply?: ApprovalQuestion.read(reply["result"])
        }
        switch answer {
        case .approved:
            auditApproval(question, origin, caller, server, session, decision: .allow, "approval: \(caller.userName) (the caller) approved")
            metrics.approval(outcome: "approved")
            return true
        case .declined(let why):
            auditApproval(question, origin, caller, server, session, decision: .deny, "approval: \(why) by \(caller.userName) (the caller)")
            metrics.approval(outcome: reply == nil ? "timeout" : "declined")
            let result = question.declinedResult(id: id, why + " by \(caller.userName)")
            hooks.outcome?(.replied(result))
            session.answer(result, to: replyTarget)
            return false
        }
    }

    func auditApproval(
        _ question: ApprovalQuestion, _ origin: RequestOrigin, _ caller: Caller, _ server: ResolvedServer, _ session: MCPSession,
        decision: AuditDecision, _ reason: String
    ) {
        auditor.write(AuditRecord(origin, caller: caller, decision: decision, reason: reason, status: 200, org: server.org, server: server.name,
                                  session: session.id, method: MCPMethod.toolsCall.rawValue, item: Item(.tool, question.tool)), started: .now)
    }
}
