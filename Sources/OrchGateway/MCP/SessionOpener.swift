import Hummingbird
import NIOCore
import OrchJSON
import OrchPolicy
import Synchronization

/// Opens sessions: takes the slots (per key and server, and a process) before anything starts,
/// starts the upstream, and runs `initialize` under a deadline. A session whose upstream fails or
/// times out at initialize is ended and never handed out.
struct SessionOpener: Sendable {
    let gateway: Gateway

    /// Registers a session for the caller on `server` and starts its upstream. Throws a
    /// `GatewayError` past a limit, an `UpstreamError` when the upstream cannot start.
    /// An aggregated session's member shares its session's `binding` and tells it when it ends
    /// (`onEnd`).
    func open(
        _ request: Request, _ context: GatewayContext, _ server: ResolvedServer, transport: MCPSession.Transport,
        binding: SessionBinding? = nil, id: String? = nil, onEnd: (@Sendable (MCPSession, UpstreamError) -> Void)? = nil
    ) async throws -> MCPSession {
        let caller = try context.requireCaller()
        let policy = caller.policy
        let spec: ServerSpec, secrets: SecretUse?
        switch gateway.serverSpec(policy, server.id, user: caller.userName) {
        case .success(let resolved):
            (spec, secrets) = resolved
        case .failure(let problem):
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "\(server.path) runs with each user's own secrets: \(problem)",
                          status: 403, started: .now, org: server.org, server: server.name, mcpMethod: "initialize")
            throw GatewayError(.forbidden, code: "missing_secret", "\(server.path) runs with each user's own secrets, and \(caller.userName) has a problem with one: \(problem)")
        }
        let limits = policy.settings.limits
        let usesProcess = if case .stdio = spec.transport { true } else { false }
        let gateway = self.gateway
        let (digest, remote) = (policy.digest, context.remote)
        let access = SessionAccess(store: gateway.store, clock: gateway.clock, binding: binding ?? SessionBinding(caller), org: server.org, server: server.name)
        let session = MCPSession(
            access: access, user: caller.userName, keyID: caller.keyName, transport: transport, usesProcess: usesProcess, secrets: secrets, id: id
        ) { session, reason in
            gateway.sessionEnded(session, reason: reason, policy: digest, remote: remote)
            onEnd?(session, reason)
        }
        do {
            try gateway.sessions.insert(session, limit: limits.maxSessionsPerKey, processLimit: limits.maxUpstreamProcesses)
        } catch .perKeyServer(let limit) {
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "\(caller.signIn) has \(limit) sessions open on \(server.path)",
                          status: 429, started: .now, org: server.org, server: server.name, mcpMethod: "initialize")
            throw GatewayError.tooManySessions("\(caller.signIn) already has \(limit) open sessions on \(server.path); end one (DELETE) or wait for it to idle out")
        } catch .closed {
            throw GatewayError.shuttingDown()
        } catch .processes(let limit) {
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "the gateway runs its maximum of \(limit) upstream processes",
                          status: 503, started: .now, org: server.org, server: server.name, mcpMethod: "initialize")
            throw GatewayError.processLimit(limit)
        }
        gateway.metrics.sessionsChanged(server: server.path, count: gateway.sessions.count(server: server.path), processes: gateway.sessions.processCount)
        do {
            let account = gateway.upstreamAccount(policy, server.id, user: caller.userName)
            session.attach(try await gateway.upstreams.make(spec, label: server.path, eventLoop: EventLoopExecutor.shared(context.channel.eventLoop),
                                                            account: account))
        } catch {
            session.end(error)
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "upstream \(server.path) could not start: \(error.message)",
                          status: 502, started: .now, org: server.org, server: server.name, mcpMethod: "initialize")
            throw error
        }
        return session
    }

    enum Initialized {
        /// The upstream answered: the session is open.
        case opened(reply: [UInt8])
        /// The upstream answered with a JSON-RPC error: no session.
        case refused(reply: [UInt8])
        /// No answer (timeout, exit, unreachable): no session.
        case failed(UpstreamError)
    }

    /// The server's `initialize` result with `listChanged: true` on each of its tools, prompts and
    /// resources capabilities, since the gateway itself tells the client when a reload changes what
    /// it may see; nil when nothing needs to change.
    static func announcingListChanges(_ reply: JSONValue) -> [UInt8]? {
        guard case .object(var object) = reply, case .object(var result) = object["result"],
            case .object(var capabilities) = result["capabilities"]
        else { return nil }
        var changed = false
        for field in ["tools", "prompts", "resources"] {
            guard case .object(var capability) = capabilities[field], capability["listChanged"] != .bool(true) else { continue }
            capability["listChanged"] = .bool(true)
            capabilities[field] = .object(capability)
            changed = true
        }
        guard changed else { return nil }
        result["capabilities"] = .object(capabilities)
        object["result"] = .object(result)
        return MCPSession.encode(.object(object))
    }

    /// Forwards the client's `initialize` and waits for its answer, at most `timeout`. A server that
    /// speaks 2026-07-28 (as orch.json says, or as it answers the gateway's `server/discover` when
    /// orch.json leaves it to `auto`) has no `initialize`: the gateway answers it from the server's
    /// discover result, and the session speaks that era to it from then on.
    func initialize(_ session: MCPSession, _ message: IncomingMessage, id: JSONValue, params: JSONObject, timeout: TimeAmount) async -> Initialized {
        session.clientCapabilities(params["capabilities"])
        switch await era(of: session, params: params, timeout: timeout) {
        case .failure(let error):
            session.end(error)
            return .failed(error)
        case .success(.modern(let discover)):
            session.speaksModern(envelope: ModernUpstream.envelope(initialize: params), capabilities: discover["capabilities"]?.objectValue ?? [:])
            session.opened()
            let result = ModernUpstream.initializeResult(discover, requested: params["protocolVersion"]?.stringValue)
            return .opened(reply: MCPSession.encode(["jsonrpc": "2.0", "id": id, "result": .object(result)]))
        case .success(.legacy):
            break
        }
        let outcome = Mutex<ReplyOutcome?>(nil)
        let queue = session.makeQueue()
        session.forward(
            request: message.bytes, id: id, method: "initialize", params: params, target: .response(queue, interim: false), timeout: timeout,
            hooks: ReplyHooks(outcome: { result in outcome.withLock { $0 = result } }))
        let event = await queue.next()
        switch (outcome.withLock { $0 }, event) {
        case (.replied(let value)?, .message(let reply)):
            if value["error"] != nil {
                session.end(.refused("the server refused initialize"))
                return .refused(reply: reply)
            }
            session.opened()
            return .opened(reply: Self.announcingListChanges(value) ?? reply)
        case (.failed(let error)?, _):
            session.end(error)
            return .failed(error)
        default:
            let error = UpstreamError.exited("the server ended before answering initialize")
            session.end(error)
            return .failed(error)
        }
    }

    /// The era `session`'s server speaks: known, or asked now with `server/discover` (the client's
    /// capabilities and identity in its envelope) and remembered. A server orch.json says speaks
    /// 2026-07-28 that does not answer so fails the session.
    private func era(of session: MCPSession, params: JSONObject, timeout: TimeAmount) async -> Result<UpstreamEras.Era, UpstreamError> {
        guard let policy = gateway.store.policy, let id = policy.server(org: session.org, name: session.server) else { return .success(.legacy) }
        let spec = policy.server(id).spec
        if let known = gateway.eras.era(of: spec) { return .success(known) }
        // Nothing is learnt from the gateway's own answers in the place of a server the caller
        // has no working account at.
        if let waiting = session.upstream as? AccountUpstream, waiting.isWaiting { return .success(.legacy) }
        let probeID: JSONValue = "orch-discover"
        let probe = JSONRPC.request(id: probeID, method: MCPMethod.discover.rawValue, params: ["_meta": .object(ModernUpstream.envelope(initialize: params))])
        let queue = session.makeQueue()
        let outcome = Mutex<ReplyOutcome?>(nil)
        session.forward(request: MCPSession.encode(probe), id: probeID, method: MCPMethod.discover.rawValue, params: [:],
                        target: .response(queue, interim: false), timeout: timeout,
                        hooks: ReplyHooks(outcome: { result in outcome.withLock { $0 = result } }))
        let next = await queue.next()
        // The gateway's own answer in the server's place (a timeout, the session's end, a remote
        // server that could not be asked): nothing learnt, and the session fails with the cause.
        if case .failed(let error)? = outcome.withLock({ $0 }) { return .failure(error) }
        guard case .message(let bytes) = next else { return .failure(.exited("the server ended before answering server/discover")) }
        let reply = try? JSONRPC.parse(bytes)
        if reply?["error"]?["code"] == .integer(JSONRPC.requestTimeout) { return .failure(.timedOut("server/discover timed out")) }
        if session.isEnded { return .failure(.exited("the server ended before answering server/discover")) }
        let era = gateway.eras.read(discoverReply: reply, path: session.serverPath, logger: gateway.logger)
        if spec.upstreamProtocol == .modern, era == .legacy {
            return .failure(.refused("the server does not answer server/discover for 2026-07-28, as orch.json's \"protocol\" says it does"))
        }
        gateway.eras.remember(era, for: spec)
        return .success(era)
    }
}
