import Foundation
import HTTPTypes
import OrchJSON
import OrchPolicy

extension ModernExchange {
    /// What a 2026-07-28 call under an `approve` rule comes to before it is forwarded.
    enum ApprovalVerdict: Sendable {
        /// No approval needed, or the retry approved: forward with these params (the approval's
        /// `requestState` and `inputResponses` taken out), once the roles' rules are satisfied
        /// (`roles`: the question whose roles the call then waits for).
        case forward(JSONObject, roles: ApprovalQuestion?)
        /// The question (`input_required`), a declined call's tool error, or a refusal.
        case answer(Answer)
    }

    /// The name of the approval's question among a call's `inputRequests` and `inputResponses`.
    static let approvalQuestion = "approve"
    /// The `heldCall` of a state the gateway seals for an approval (a held call's is its token).
    static let approvalState = "approval"

    /// The caller's approval of a 2026-07-28 call, asked as `input_required` with a sealed
    /// `requestState` bound to a hash of the exact call (the caller, the key, the server, the name
    /// and arguments) and expiring after the rule's `timeoutSeconds`; the retry's
    /// `inputResponses.approve` is the answer, taken once by any replica sharing `gateway.approvals`
    /// (and by this one even without it): the same state again, or a retry with
    /// other arguments, is asked again. A client whose envelope declares no elicitation is refused
    /// with -32021 naming it.
    func approval(
        _ modern: ModernRequest, _ question: ApprovalQuestion, params: JSONObject, caller: Caller, server: ResolvedServer, leg: HeldLeg,
        origin: RequestOrigin, hooks: ReplyHooks
    ) -> ApprovalVerdict {
        let guardian = gateway.callGuard
        let seal = RequestStateSeal(gateway.stateSeal(caller.policy))
        let digest = RequestStateSeal.digest(method: modern.method, params: params)
        let now = Int64(gateway.clock.now().timeIntervalSince1970)
        func refuse(_ code: Int64, _ message: String, data: JSONValue? = nil) -> ApprovalVerdict {
            guardian.auditApproval(question, origin, caller, server, leg.session, decision: .deny, "approval: " + message)
            guardian.metrics.approval(outcome: "cannot_ask")
            let reply = data.map { JSONRPC.error(id: modern.id, code: code, message, data: $0) } ?? JSONRPC.error(id: modern.id, code: code, message)
            hooks.outcome?(.replied(reply))
            return .answer(Answer(status: ModernErrorStatus.status(forCode: code), body: reply))
        }
        // The roles' rules make the call wait on the dashboard once the caller has approved.
        let roles = question.roleRules.isEmpty ? nil : question.forRolesOnly
        guard question.callerRule != nil else { return .forward(params, roles: roles) }
        let timeout = question.callerRule?.timeoutSeconds ?? ApprovalRule.defaultTimeoutSeconds
        var why = "asked"
        if case .string(let state)? = params["requestState"], let binding = seal.open(state) {
            // A state of a server's question: this call was approved before it was forwarded.
            if binding.heldCall != Self.approvalState, binding.call == digest { return .forward(params, roles: nil) }
            if binding.heldCall == Self.approvalState {
                if binding.user != caller.userName || binding.credential != Self.identity(caller.credential)
                    || binding.server != server.path || binding.call != digest
                {
                    why = "asked again: the requestState was for another call"
                } else if binding.expires < now {
                    why = "asked again: the requestState has expired"
                } else if !gateway.usedApprovalStates.firstUse(state, expires: binding.expires, now: now)
                    || !gateway.approvalStore(caller.policy).firstUse(state, expires: binding.expires, now: now)
                {
                    why = "asked again: the requestState was used already"
                } else {
                    var forwarded = params
                    forwarded["requestState"] = nil
                    forwarded["inputResponses"] = nil
                    switch ApprovalQuestion.read(params["inputResponses"]?[Self.approvalQuestion]) {
                    case .approved:
                        guardian.auditApproval(question, origin, caller, server, leg.session, decision: .allow, "approval: \(caller.userName) (the caller) approved")
                        guardian.metrics.approval(outcome: "approved")
                        return .forward(forwarded, roles: roles)
                    case .declined(let reason):
                        guardian.auditApproval(question, origin, caller, server, leg.session, decision: .deny, "approval: \(reason) by \(caller.userName) (the caller)")
                        guardian.metrics.approval(outcome: "declined")
                        let stamp = ModernResultStamp(ttlBound: CacheTTL(gateway.catalog.ttl), serverInfo: nil)
                        let declined = stamp.apply(to: question.declined(reason + " by \(caller.userName)"), method: modern.method)
                        let result: JSONValue = ["jsonrpc": "2.0", "id": modern.id, "result": .object(declined)]
                        hooks.outcome?(.replied(result))
                        return .answer(Answer(status: .ok, body: result))
                    }
                }
            }
        }
        guard case .object(let elicitation)? = params["_meta"]?[ModernProtocol.MetaKey.clientCapabilities]?["elicitation"],
            elicitation.isEmpty || elicitation["form"] != nil
        else {
            return refuse(JSONRPC.missingRequiredClientCapability,
                          "\(question.server) \(question.tool) needs the caller's approval, and this request's envelope declares no form elicitation to ask it with; the call does not run",
                          data: ["requiredCapabilities": .strings(["elicitation"])])
        }
        let binding = RequestStateSeal.Binding(user: caller.userName, credential: Self.identity(caller.credential), server: server.path, method: modern.method,
                                               call: digest, heldCall: Self.approvalState, question: Self.approvalQuestion,
                                               expires: now + Int64(timeout))
        guardian.auditApproval(question, origin, caller, server, leg.session, decision: .allow, "approval: \(why) of \(caller.userName) (the caller)")
        let result: JSONObject = [
            "resultType": .string(ModernResultStamp.inputRequired),
            "inputRequests": [Self.approvalQuestion: ["method": "elicitation/create", "params": .object(question.elicitation)]],
            "requestState": .string(seal.seal(binding)),
        ]
        let reply: JSONValue = ["jsonrpc": "2.0", "id": modern.id, "result": .object(result)]
        hooks.outcome?(.replied(reply))
        return .answer(Answer(status: .ok, body: reply))
    }
}
