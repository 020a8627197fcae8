import Foundation
import HTTPTypes
import NIOCore
import OrchJSON
import OrchPolicy
import Synchronization

/// Decides 2026-07-28 requests on the per-server endpoints, for every adapter alike (the router's
/// endpoint and the NIO fast path): it reads a request, answers what the gateway answers itself,
/// audits, and says what to forward on the key's held leg. It does no I/O of its own; the adapter
/// opens the leg, carries out the action and writes the reply.
struct ModernExchange: Sendable {
    let gateway: Gateway

    /// An answer of the gateway's own: its status, and the JSON-RPC message (none for a 202, or for
    /// the 405 that carries `Allow: POST`).
    struct Answer: Sendable {
        let status: HTTPResponse.Status
        let body: JSONValue?
        var allowsPOSTOnly: Bool { status == .methodNotAllowed }
    }

    enum Read: Sendable {
        case answered(Answer)
        case request(ModernRequest)
    }

    /// A request to forward on `leg`: under `upstreamID`, its reply rewritten by `hooks` for the
    /// client (its id, the era's stamp) and `errorCode` set to the reply's code.
    struct Call: Sendable {
        let leg: HeldLeg
        let bytes: [UInt8]
        let upstreamID: JSONValue
        let clientID: JSONValue
        let method: String
        let params: JSONObject
        let hooks: ReplyHooks
        let errorCode: ErrorCode
        /// The request carries a `progressToken`: progress may come before its reply.
        let mayProgress: Bool
        /// Set when the server may ask the client something during the call (`HeldCall`): the
        /// reply goes to its queue, and the POST waits there.
        var held: HeldCall? = nil
        /// Set when the call waits for a role's approval first (`CallGuard.approve`): true once
        /// approved; else it answered the call on the target it was given.
        var approval: (@Sendable (SessionStateMachine.Target) async -> Bool)? = nil

        /// Hands the call to the leg; its reply (or the gateway's answer in its place) goes to `queue`.
        func forward(to queue: MessageQueue, streamed: Bool, timeout: TimeAmount) {
            leg.session.forward(request: bytes, id: upstreamID, clientID: clientID, method: method, params: params,
                                target: .response(queue, interim: streamed), timeout: timeout, hooks: hooks)
        }
    }

    enum Action: Sendable {
        case answer(Answer)
        case forward(Call)
        /// A `subscriptions/listen`, whose filter was read.
        case listen(ListenFilter)
        /// A retry that answered the server's question: the POST waits on the held call again.
        case resume(HeldCall, on: HeldLeg)
    }

    /// What a request is sent to: one server (`org` and `name` are the path's; `resolved`, when the
    /// adapter resolved it already, is the server they name), or an aggregated endpoint's servers.
    enum Target {
        case server(org: String?, name: String, resolved: ResolvedServer?)
        case aggregate(any AggregateMembers)
    }

    /// The reading of a request the era says is modern: refusals and notifications are answered
    /// (and audited) here. A `tools/call`'s `Mcp-Param-*` headers are checked against its tool's
    /// schema as `target`'s server last listed it.
    func read(
        method: HTTPRequest.Method, headers: HTTPFields, message: JSONRPCMessage?, caller: Caller, target: Target,
        origin: RequestOrigin, started: ContinuousClock.Instant
    ) -> Read {
        let reading = ModernReading(method: method, headers: headers, message: message) { tool in
            guard gateway.catalog.hasSeenHeaderSchemas else { return nil }
            switch target {
            case .server(let org, let name, let resolved):
                guard let server = resolved ?? gateway.resolver.find(caller, org: org, name: name) else { return nil }
                return inputSchema(of: tool, caller, server)
            case .aggregate(let members):
                guard let (server, original) = AggregateEndpoint(gateway: gateway).lookUp(tool, .tool, caller, members) else { return nil }
                return inputSchema(of: original, caller, server)
            }
        }
        let (org, server): (String?, String?) = switch target {
        case .server(let org, let name, _): (org, name)
        case .aggregate(let members): (members.org, nil)
        }
        switch reading {
        case .modern(let request):
            return .request(request)
        case .legacy, .acknowledged:
            // Dropped, as every notification of this era is; one no client sends is audited as on a session.
            if case .acknowledged(let notification) = reading, let refusal = MCPExchange.notificationRefusal(notification) {
                gateway.auditor.record(origin, caller: caller, decision: .deny, reason: refusal, status: 202, started: started, org: org, server: server,
                              mcpMethod: notification)
            }
            return .answered(Answer(status: .accepted, body: nil))
        case .refused(let refusal, let id):
            gateway.auditor.record(origin, caller: caller, decision: .deny, reason: "2026-07-28: \(refusal.message)", status: Int(refusal.status.code),
                          started: started, org: org, server: server, mcpMethod: message?.method ?? method.rawValue)
            return .answered(Answer(status: refusal.status, body: refusal.reply(id: id)))
        }
    }

    /// The leg of `caller` on `server` in the held legs' table, for clients that declare `asks`.
    static func legKey(_ caller: Caller, _ server: ResolvedServer, asks: String = "") -> HeldLegs.Key {
        HeldLegs.Key(credential: caller.credential, org: server.org, server: server.name, asks: asks)
    }

    /// Which of the capabilities a handshake-era server may ask a client for (`elicitation`,
    /// `sampling`, `roots`) a request's envelope declares, sorted and joined: its requests go on a
    /// leg that declared the same (none: the leg that declared none).
    static func asks(_ params: JSONObject) -> String {
        guard case .object(let capabilities)? = params["_meta"]?[ModernProtocol.MetaKey.clientCapabilities], !capabilities.isEmpty else { return "" }
        return ["elicitation", "roots", "sampling"].filter { capabilities[$0] != nil }.joined(separator: ",")
    }

    /// Decides `modern` on `leg`: discover is answered from the leg, a refused item with the era's
    /// status, and anything else is decided by `CallGuard` as on a session and forwarded.
    /// `request` is the body as it came (forwarded as it is but for its id, where it can be), and
    /// `read` the same body as `ModernForwarding.envelopeApart` read it, when the adapter did.
    func decide(
        _ modern: ModernRequest, request: [UInt8], read: JSONSetAside? = nil, caller: Caller, server: ResolvedServer, leg: HeldLeg, origin: RequestOrigin,
        started: ContinuousClock.Instant
    ) -> Action {
        _ = leg.session.access.binding.admits(caller)  // a newer sign-in token carries the leg on
        switch modern.known {
        case .subscriptionsListen?:
            switch ListenFilter.read(modern.params) {
            case .success(let filter): return .listen(filter)
            case .failure(let error):
                gateway.auditor.record(origin, caller: caller, decision: .deny, reason: error.message, status: 400, started: started,
                              org: server.org, server: server.name, session: leg.session.id, mcpMethod: modern.method)
                return .answer(Answer(status: .badRequest, body: JSONRPC.error(id: modern.id, code: JSONRPC.invalidParams, error.message)))
            }
        case .discover?:
            gateway.auditor.record(origin, caller: caller, decision: .allow, reason: caller.policy.describe(server.decision.reason),
                          status: 200, started: started, org: server.org, server: server.name, session: leg.session.id, mcpMethod: modern.method)
            var result = ModernForwarding.discover(leg.initialized, ttl: CacheTTL(gateway.catalog.ttl))
            if let empty = gateway.emptyView(caller, servers: [server.id]) { result.instructions = Instructions.joined(empty, result.instructions) }
            return .answer(Answer(status: .ok, body: ["jsonrpc": "2.0", "id": modern.id, "result": .object(result.json)]))
        default:
            break
        }
        var params = modern.params
        var rewritten = false
        // A handshake-era server may ask this client something: its questions are relayed.
        let relays = !leg.asks.isEmpty && !leg.session.speaksModernUpstream
        let requestState = params["requestState"]
        let approvalRetry = requestState?.stringValue.flatMap { RequestStateSeal(gateway.stateSeal(caller.policy)).open($0) }?.heldCall
            == Self.approvalState
        if !relays, !approvalRetry, requestState != nil, !leg.session.speaksModernUpstream {
            return .answer(refusedState(modern, "no question of the server's is waiting for it", origin, caller, server, leg, started))
        }
        let admitted: ReplyHooks
        switch gateway.callGuard.admit(origin, caller: caller, server: server, session: leg.session, id: modern.id,
                                                 method: modern.method, params: params, started: started) {
        case .forward(let hooks, let decided):
            admitted = hooks
            if let decided { (params, rewritten) = (decided, true) }
        case .refuse(let reply):
            return .answer(Answer(status: ModernErrorStatus.status(forCode: reply["error"]?["code"]?.integerValue ?? 0), body: reply))
        }
        // No working account at an `oauth` server: the refusal reads this request's own envelope
        // (a client that declared URL elicitation is asked to connect by URL).
        if let refusal = gateway.accountRefusal(caller.policy, server.id, user: caller.userName, method: modern.method) {
            let reply = refusal.reply(id: modern.id, params: modern.params, urlElicitation: false)
            admitted.outcome?(.replied(reply))
            return .answer(Answer(status: ModernErrorStatus.status(forCode: reply["error"]?["code"]?.integerValue ?? 0), body: reply))
        }
        var waitsForRoles: ApprovalQuestion?
        if let question = ApprovalQuestion(policy: caller.policy, server: server, method: modern.method, params: params) {
            switch approval(modern, question, params: params, caller: caller, server: server, leg: leg, origin: origin, hooks: admitted) {
            case .answer(let answer): return .answer(answer)
            case .forward(let approved, let roles):
                if approved != params { (params, rewritten) = (approved, true) }
                waitsForRoles = roles
            }
        }
        if relays, case .string(let state)? = params["requestState"] {
            switch resume(modern, state: state, params: params, caller: caller, server: server, leg: leg) {
            case .success(let held): return .resume(held, on: leg)
            case .failure(.gone):
                // Not held here (it ended, or another gateway holds it): the call runs again.
                params["requestState"] = nil
                params["inputResponses"] = nil
                rewritten = true
            case .failure(.refused(let why)):
                return .answer(refusedState(modern, why, origin, caller, server, leg, started))
            }
        }
        let upstreamID = leg.nextID()
        let ttl = gateway.catalog.ttl
        let (clientID, method, known) = (modern.id, modern.method, modern.known)
        let errorCode = ErrorCode()
        let filter = admitted.transform
        let hooks = ReplyHooks(
            rewrite: { reply, bytes in
                if filter == nil, let kept = ModernForwarding.splicedReply(bytes, reply, id: clientID, method: known) {
                    errorCode.record(reply)
                    return kept
                }
                let stamp = ModernResultStamp(ttlBound: CacheTTL(ttl), serverInfo: nil)
                let answer = ModernForwarding.reply(filter?(reply) ?? reply, id: clientID, method: method, stamp: stamp)
                errorCode.record(answer)
                return MCPSession.encode(answer)
            },
            outcome: admitted.outcome)
        // A handshake-era server: the envelope stays with the gateway.
        let cutsEnvelope = !leg.session.speaksModernUpstream
        let bytes = rewritten ? nil : ModernForwarding.splicedRequest(request, upstreamID: upstreamID, cutsEnvelope: cutsEnvelope, read: read)
        // The params go upstream only when the bytes could not be spliced.
        if bytes == nil, cutsEnvelope { params = ModernForwarding.withoutEnvelope(params) }
        let forwarded = bytes ?? MCPSession.encode(JSONRPC.request(id: upstreamID, method: method, params: params))
        var call = Call(
            leg: leg, bytes: forwarded, upstreamID: upstreamID,
            clientID: clientID, method: method, params: params, hooks: hooks, errorCode: errorCode,
            mayProgress: params["_meta"]?["progressToken"] != nil)
        if let question = waitsForRoles {
            let (guardian, session, progressToken) = (gateway.callGuard, leg.session, params["_meta"]?["progressToken"])
            call.approval = { target in
                await guardian.approve(question, origin, caller: caller, server: server, session: session, id: clientID, on: target,
                                       replyTarget: target, hooks: hooks, progressToken: progressToken)
            }
        }
        if relays {
            let held = HeldCall(queue: leg.session.makeQueue(), method: method, digest: RequestStateSeal.digest(method: method, params: params),
                                upstreamID: upstreamID, clientID: clientID, user: caller.userName, credential: Self.identity(caller.credential),
                                server: server.path, seal: RequestStateSeal(gateway.stateSeal(caller.policy)),
                                inputTimeout: .seconds(caller.policy.settings.limits.inputTimeoutSeconds), clock: gateway.clock)
            leg.hold(held)
            call.held = held
        }
        return .forward(call)
    }

    enum ResumeFailure: Error {
        /// The state is sound, but no held call of this leg has it.
        case gone
        case refused(String)
    }

    /// A retry's `requestState`, opened and checked against the caller, the server, the method and
    /// the call; its answer goes to the server's waiting question.
    private func resume(
        _ modern: ModernRequest, state: String, params: JSONObject, caller: Caller, server: ResolvedServer, leg: HeldLeg
    ) -> Result<HeldCall, ResumeFailure> {
        guard let binding = RequestStateSeal(gateway.stateSeal(caller.policy)).open(state) else {
            return .failure(.refused("requestState is not one mcp-orch made, or it was changed"))
        }
        guard binding.user == caller.userName, binding.credential == Self.identity(caller.credential), binding.server == server.path,
            binding.method == modern.method, binding.call == RequestStateSeal.digest(method: modern.method, params: params)
        else { return .failure(.refused("requestState belongs to another call")) }
        guard Int64(gateway.clock.now().timeIntervalSince1970) <= binding.expires else { return .failure(.refused("requestState has expired")) }
        guard let held = leg.heldCall(binding.heldCall) else { return .failure(.gone) }
        guard case .object(let responses)? = params["inputResponses"], let answer = responses[binding.question] else {
            return .failure(.refused("inputResponses has no answer to \(binding.question)"))
        }
        guard let upstreamID = held.answering(binding.question, clientID: modern.id) else {
            return .failure(.refused("the question \(binding.question) was answered already"))
        }
        let reply: JSONValue = ["jsonrpc": "2.0", "id": upstreamID, "result": answer]
        leg.session.forward(notification: MCPSession.encode(reply), method: nil, params: [:])
        return .success(held)
    }

    /// A retry whose state cannot be used: -32602, audited, and nothing forwarded.
    private func refusedState(
        _ modern: ModernRequest, _ why: String, _ origin: RequestOrigin, _ caller: Caller, _ server: ResolvedServer, _ leg: HeldLeg,
        _ started: ContinuousClock.Instant
    ) -> Answer {
        gateway.auditor.record(origin, caller: caller, decision: .deny, reason: "2026-07-28: \(why)", status: 400, started: started,
                      org: server.org, server: server.name, session: leg.session.id, mcpMethod: modern.method)
        return Answer(status: .badRequest, body: JSONRPC.error(id: modern.id, code: JSONRPC.invalidParams, why))
    }

    /// A credential as a sealed state names it: a key by its hash, a sign-in by issuer and subject.
    static func identity(_ credential: Credential) -> String {
        switch credential {
        case .key(let hash): "key:\(hash)"
        case .token(let issuer, let subject, _): "sso:\(issuer):\(subject)"
        }
    }

    /// The `inputSchema` of `tool` as the server's last listing gave it, when it declares
    /// `Mcp-Param-*` headers; nil when none is kept (the check is then skipped, as the reference
    /// server skips it for an unknown tool), and nil for a tool the caller may not use, which is
    /// refused as such whatever its headers say.
    private func inputSchema(of tool: String, _ caller: Caller, _ server: ResolvedServer) -> JSONValue? {
        guard case .success(let (_, cacheKey)) = gateway.catalogSource(caller.policy, server.id, user: caller.userName),
            case .success(let listing)? = gateway.catalog.known(cacheKey: cacheKey),
            let schema = listing.headerSchemas[tool],
            caller.policy.decide(user: caller.user, server: server.id, item: Item(.tool, tool), key: caller.key, at: gateway.clock.now()).allowed
        else { return nil }
        return schema
    }
}

/// The JSON-RPC error code of the reply a modern request got (0 for a result), set where the reply
/// is made and read once it has been taken from its queue: the HTTP status of the era follows it.
final class ErrorCode: Sendable {
    private let code = Atomic<Int64>(0)

    func record(_ reply: JSONValue) {
        code.store(reply["error"]?["code"]?.integerValue ?? 0, ordering: .relaxed)
    }

    var status: HTTPResponse.Status { ModernErrorStatus.status(forCode: code.load(ordering: .relaxed)) }
}
