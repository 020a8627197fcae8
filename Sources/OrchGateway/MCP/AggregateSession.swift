import Foundation
import Hummingbird
import NIOCore
import NIOPosix
import OrchJSON
import OrchPolicy
import Synchronization

/// One downstream session on an aggregated endpoint (`/orgs/{org}/mcp`, or `/mcp` for every org):
/// every server the key may reach behind one MCP server.
///
/// Each server is a member: an ordinary `MCPSession` of the caller's key on that server (with its
/// own upstream, limits, deadlines and reload handling), started the first time a request needs
/// it. Lists are asked of every member at once and merged under exposed names (`ExposedName`,
/// `ExposedURI`); calls are routed back through the session's name tables; requests the servers
/// send the client get ids of the aggregate's own, mapped back when the client answers.
final class AggregateSession: AggregateMembers {
    let id: String
    /// The key or sign-in the session (and each member) is bound to.
    let binding: SessionBinding
    let view: AggregateView
    let user: String

    /// A member's start is the future of the request that runs it, which the others wait on.
    private typealias Machine = AggregateStateMachine<MCPSession, EventLoopFuture<MCPSession>>
    private let state: Mutex<Machine>
    private let gateway: Gateway

    /// When its sealed id expires (seconds since 1970); 0 for a legacy SSE session's random one.
    let sealedUntil: Int64

    /// `id`: the sealed one (`SessionRecreation`), good until `sealedUntil`; none for a legacy SSE
    /// session, whose id only names its stream.
    init(gateway: Gateway, caller: Caller, view: AggregateView, id: String? = nil, sealedUntil: Int64 = 0) {
        self.id = id ?? Hex.encode(Crypto.randomBytes(16))
        self.sealedUntil = sealedUntil
        self.gateway = gateway
        self.state = Mutex(AggregateStateMachine(now: .now()))
        self.binding = SessionBinding(caller)
        self.view = view
        self.user = caller.userName
        self.scope = AggregateScope(view)
    }

    private let scope: AggregateScope
    let names = AggregateNames()

    var sessionID: String? { id }

    /// Keeps the client's `initialize`, for the members.
    func keep(_ initialize: ClientInitialize) { state.withLock { $0.initialize = initialize } }

    /// The kept `initialize` params the members get.
    var initializeParams: JSONObject { state.withLock { $0.initialize }.params }

    var isEnded: Bool { state.withLock { $0.ended } }

    /// The client's requests keep the session alive; so do streams it reads.
    func touch() { state.withLock { $0.touch(.now()) } }

    func isIdle(now: NIODeadline, limit: TimeAmount) -> Bool {
        state.withLock { $0.isIdle(now: now, limit: limit) }
    }

    // MARK: servers and members

    func scoped(_ caller: Caller) -> [AggregateScope.Server] { scope.servers(caller, gateway: gateway) }

    /// The member for `server` if it has started and not ended.
    func startedMember(_ server: ResolvedServer) -> MCPSession? {
        state.withLock { $0.started(server.path) }
    }

    /// Forwards a client's request to a started member, its reply going to `queue` (the fast path).
    func forward(_ bytes: [UInt8], to member: MCPSession, id: JSONValue, method: String, params: JSONObject, queue: MessageQueue,
                 timeout: TimeAmount, hooks: ReplyHooks) {
        touch()
        member.forward(request: bytes, id: id, method: method, params: params, target: .response(queue, interim: false), timeout: timeout,
                       hooks: inFlight(id, at: member, hooks))
    }

    /// `hooks` that also keep the request in `inFlight` (for the client's cancellation) until its outcome.
    private func inFlight(_ id: JSONValue, at member: MCPSession, _ hooks: ReplyHooks) -> ReplyHooks {
        state.withLock { $0.forwarded(id, to: member) }
        var hooks = hooks
        let outcome = hooks.outcome
        hooks.outcome = { [weak self] result in
            self?.state.withLock { $0.answered(id) }
            outcome?(result)
        }
        return hooks
    }


    /// The member for `server`, started (and initialized with the client's params) on first use:
    /// the request that finds it absent starts it, and requests that come meanwhile wait for that
    /// start's outcome (its failure is theirs too; the next request starts it again).
    func member(_ server: ResolvedServer, _ request: Request, _ context: GatewayContext, timeout: TimeAmount) async throws -> MCPSession {
        let (membership, promise) = try state.withLock { state -> (Machine.Membership, EventLoopPromise<MCPSession>?) in
            guard let membership = try? state.membership(server.path) else { throw GatewayError.unknownSession() }
            guard case .absent = membership else { return (membership, nil) }
            let promise = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: MCPSession.self)
            state.starting(server.path, promise.futureResult)
            return (.starting(promise.futureResult), promise)
        }
        if let promise {
            do {
                let member = try await start(server, request, context, timeout: timeout)
                promise.succeed(member)
                return member
            } catch {
                promise.fail(error)
                throw error
            }
        }
        switch membership {
        case .started(let member): return member
        case .starting(let start): return try await start.get()
        case .absent: throw GatewayError.unknownSession()
        }
    }

    private func start(_ server: ResolvedServer, _ request: Request, _ context: GatewayContext, timeout: TimeAmount) async throws -> MCPSession {
        defer { state.withLock { $0.finishedStarting(server.path) } }
        let opener = SessionOpener(gateway: gateway)
        let session = try await opener.open(request, context, server, transport: .streamableHTTP, binding: binding) { [weak self] member, reason in
            self?.memberEnded(member, reason: reason)
        }
        let initializeParams = self.initializeParams
        let initialize: JSONValue = ["jsonrpc": "2.0", "id": "orch-initialize", "method": "initialize", "params": .object(initializeParams)]
        let message = IncomingMessage(bytes: MCPSession.encode(initialize), message: .request(id: "orch-initialize", method: "initialize", params: initializeParams))
        switch await opener.initialize(session, message, id: "orch-initialize", params: initializeParams, timeout: timeout) {
        case .opened:
            break
        case .refused:
            throw UpstreamError.refused("the server refused initialize")
        case .failed(let error):
            throw error
        }
        session.forward(notification: MCPSession.encode(["jsonrpc": "2.0", "method": "notifications/initialized"]), method: "notifications/initialized", params: [:])
        // The member's own stream (its server's notifications and requests) comes to the client,
        // relayed as each message arrives.
        _ = session.attachStream(MessageQueue(relay: { [weak self, weak session] event in
            if case .message(let bytes) = event, let self, let session { self.fromMember(session, bytes) }
            return .accepted
        }))
        if !state.withLock({ $0.join(server.path, session) }) {
            session.end(.stopped("the aggregated session ended"))
            throw GatewayError.unknownSession()
        }
        return session
    }

    private func memberEnded(_ member: MCPSession, reason: UpstreamError) {
        guard state.withLock({ $0.leave(member.serverPath, member) }) else { return }
        // What the server offered is gone until it starts again: the client lists afresh.
        notifyListsChanged()
        if reason.kind != .stopped {
            log(.warning, "server \(member.serverPath) ended: \(reason.message)")
        }
    }

    // MARK: asking members

    func ask(_ member: MCPSession, method: String, params: JSONObject, timeout: TimeAmount, transform: (@Sendable (JSONValue) -> JSONValue)?) async -> JSONValue {
        let id = state.withLock { $0.requestID() }
        return await ask(member, id: id, method: method, params: params, timeout: timeout, transform: transform)
    }

    /// Sends `method` to `member` on the gateway's behalf without waiting: the reply, or the
    /// gateway's answer in its place, goes to a queue of its own and is dropped.
    func tell(_ member: MCPSession, method: String, params: JSONObject, timeout: TimeAmount) {
        let id = state.withLock { $0.requestID() }
        member.forward(request: MCPSession.encode(JSONRPC.request(id: id, method: method, params: params)), id: id, method: method,
                       params: params, target: .response(MessageQueue(), interim: false), timeout: timeout)
    }

    /// Where the reply to a forwarded request goes.
    enum Sink {
        /// In the POST's response: JSON, or (`streamed`) an SSE stream of its own.
        case response(streamed: Bool)
        /// On the session's one stream (the legacy SSE transport).
        case sessionStream
    }

    /// Forwards a client's request to a member as `bytes` (already renamed), with its reply going
    /// to the client as `sink` says; the server's requests on the way get the aggregate's ids. Nil
    /// for `.sessionStream` (the POST is answered 202).
    /// `approve`: asked first, on the call's stream, before the request goes to the member (an
    /// `approve` rule's question); when it says no, it has answered the call itself.
    func forward(
        _ bytes: [UInt8], to member: MCPSession, id: JSONValue, method: String, params: JSONObject, sink: Sink,
        timeout: TimeAmount, hooks: ReplyHooks, approve: (@Sendable (SessionStateMachine.Target, ReplyHooks) async -> Bool)? = nil
    ) async -> Response? {
        let streamed: Bool
        switch sink {
        case .response(let s): streamed = s
        case .sessionStream: streamed = true
        }
        let hooks = inFlight(id, at: member, hooks)
        /// Forwards to the member on `target`, once approved where it must be.
        func send(_ target: SessionStateMachine.Target) {
            guard let approve else {
                return member.forward(request: bytes, id: id, method: method, params: params, target: target, timeout: timeout, hooks: hooks)
            }
            Task {
                guard await approve(target, hooks) else { return }
                member.forward(request: bytes, id: id, method: method, params: params, target: target, timeout: timeout, hooks: hooks)
            }
        }
        guard streamed else {
            let queue = member.makeQueue()
            member.forward(request: bytes, id: id, method: method, params: params, target: .response(queue, interim: false), timeout: timeout,
                           hooks: hooks)
            guard case .message(let reply) = await queue.next() else { return Response(status: .accepted) }
            return StreamableHTTPEndpoint.json(reply)
        }
        // The reply and the server's messages on the way are relayed as they come, the server's
        // requests under ids of the aggregate's own: to the session's stream, or to the POST's.
        if case .sessionStream = sink {
            let relay = MessageQueue(relay: { [weak self] event in
                if case .message(let message) = event, let self { self.deliver(self.clientBound(message, from: member)) }
                return .accepted
            })
            send(.response(relay, interim: true))
            return nil
        }
        let downstream = MessageQueue()
        let relay = MessageQueue(relay: { [weak self] event in
            switch event {
            case .message(let message): return downstream.push(self?.clientBound(message, from: member) ?? message)
            case .keepAlive: downstream.keepAlive()
            case .end: downstream.finish()
            }
            return .accepted
        })
        send(.response(relay, interim: true))
        return SSEEncoder.response(queue: downstream) { relay.hangUp() }
    }

    // MARK: member → client

    /// A message of a member's server for the client: its requests get ids of the aggregate's own.
    private func clientBound(_ bytes: [UInt8], from member: MCPSession) -> [UInt8] {
        guard let value = try? JSONRPC.parse(bytes), case .request(let original, _, _)? = JSONRPCMessage(value),
            case .object(var object) = value
        else { return bytes }
        object["id"] = state.withLock { $0.expose(original, of: member) }
        return MCPSession.encode(.object(object))
    }

    private func fromMember(_ member: MCPSession, _ bytes: [UInt8]) {
        let message = clientBound(bytes, from: member)
        if let value = try? JSONRPC.parse(message), case .notification(let method, let params)? = JSONRPCMessage(value) {
            switch method {
            case _ where method.hasSuffix("/list_changed"):
                if let kind = ItemKind.allCases.first(where: { method == "notifications/\($0.plural)/list_changed" }) { listChanged(kind) }
                return
            case "notifications/resources/updated":
                guard let uri = params["uri"]?.stringValue, let policy = gateway.store.policy,
                    let server = policy.server(org: member.org, name: member.server)
                else { return }
                let prefix = policy.server(server).spec.exposedPrefix
                var rewritten = params
                rewritten["uri"] = .string(ExposedURI.make(org: org == nil ? member.org : nil, prefix: prefix, uri: uri))
                deliver(MCPSession.encode(["jsonrpc": "2.0", "method": .string(method), "params": .object(rewritten)]))
                return
            default:
                break
            }
        }
        deliver(message)
    }

    // MARK: client → members

    /// The client's answer to a server's request: back to the member that asked, with its id.
    func answerFromClient(_ value: JSONValue, id: JSONValue) {
        guard let (member, original) = state.withLock({ $0.answer(id) }),
            case .object(var object) = value
        else { return }
        object["id"] = original
        member.forward(notification: MCPSession.encode(.object(object)), method: nil, params: [:])
    }

    /// A client notification: cancellation goes to the member with the request, roots changes to
    /// every member; the rest concerns the aggregate alone.
    func notificationFromClient(_ bytes: [UInt8], method: String, params: JSONObject) {
        switch method {
        case "notifications/cancelled":
            guard let requestID = params["requestId"], let member = state.withLock({ $0.member(with: requestID) }) else { return }
            member.forward(notification: bytes, method: method, params: params)
        case "notifications/roots/list_changed":
            for member in startedMembers { member.forward(notification: bytes, method: method, params: params) }
        default:
            break
        }
    }

    /// Every started member, for requests sent to all (`logging/setLevel`).
    var startedMembers: [MCPSession] { state.withLock { $0.ended ? [] : Array($0.members.values) } }

    // MARK: the client's stream

    /// Attaches the client's GET stream (a newer one replaces an older one); the backlog goes first.
    func attachStream(_ queue: MessageQueue) -> Int? {
        guard let attachment = state.withLock({ $0.attach(queue) }) else { return nil }
        attachment.replaced?.finish()
        for message in attachment.backlog { _ = queue.push(message) }
        return attachment.generation
    }

    func streamClosed(generation: Int) {
        state.withLock { $0.detach(generation, now: .now()) }
    }

    /// A message for the client: on its GET stream, or kept (boundedly) until it opens one.
    func deliver(_ message: [UInt8]) {
        if let stream = state.withLock({ $0.deliver(message) }), stream.push(message) == .closed {
            state.withLock { $0.keep(message) }
        }
    }

    func notifyListsChanged() {
        for kind in ItemKind.allCases { listChanged(kind) }
    }

    /// Tells the client a merged list changed: the servers behind the session (and a reload) may
    /// say so at once, and the client hears it once until it lists again.
    func listChanged(_ kind: ItemKind) {
        if kind == .tool { names.forgetSearch() }
        guard state.withLock({ $0.listChanged(kind) }) else { return }
        deliver(MCPSession.encode(["jsonrpc": "2.0", "method": .string("notifications/\(kind.plural)/list_changed")]))
    }

    /// The client asked for a list of `kind`: the next change is told again.
    func listed(_ kind: ItemKind) { state.withLock { $0.listed(kind) } }

    enum Level: String { case warning, error }

    /// A `notifications/message` from the gateway itself (a server left out of a list).
    func log(_ level: Level, _ text: String) {
        deliver(MCPSession.encode(["jsonrpc": "2.0", "method": "notifications/message",
                                   "params": ["level": .string(level.rawValue), "logger": "orch", "data": .string(text)]]))
    }

    func keepAlive() { state.withLock { $0.openStream }?.keepAlive() }

    /// Why the session must end on the clock: its sign-in expired (a key's expiry ends each member).
    func expiry(at time: Date) -> String? {
        if sealedUntil > 0, Int64(time.timeIntervalSince1970) >= sealedUntil { return "its session id expired (limits.maxSessionSeconds)" }
        return binding.expiry(at: time)
    }

    // MARK: end

    /// Ends the session and every member.
    func end(_ reason: String) {
        // A member still starting is ended when it finds the session gone (`start`).
        guard let ending = state.withLock({ $0.end() }) else { return }
        ending.stream?.finish()
        for member in ending.members { member.end(.stopped(reason)) }
        gateway.aggregates.remove(self)
    }

    func waitUntilStopped() async {
        for member in state.withLock({ Array($0.members.values) }) { await member.waitUntilStopped() }
    }
}

/// The aggregated sessions of the gateway, by id. Each holds a slot of its key's in `slots`, its
/// endpoint counted as one server against `maxSessionsPerKey`.
final class AggregateTable: Sendable {
    private struct State {
        var sessions: [String: AggregateSession] = [:]
        /// The sessions holding slots (`SessionTable` keeps its own so).
        var registered: Set<ObjectIdentifier> = []
        /// Set at shutdown: no session may open after that.
        var closed = false
    }

    private let state = Mutex(State())
    private let slots: SessionTable

    init(slots: SessionTable) { self.slots = slots }

    /// Registers `session`, taking its slot; refuses past `limit` sessions of its key on its
    /// endpoint. A session re-created under an id another request re-created first is not
    /// registered: that one is returned instead.
    @discardableResult
    func insert(_ session: AggregateSession, limit: Int) throws(SessionTable.Refusal) -> AggregateSession {
        try state.withLock { (state: inout State) throws(SessionTable.Refusal) in
            guard !state.closed else { throw .closed }
            if let held = state.sessions[session.id], !held.isEnded { return held }
            try slots.reserve(session.binding.credential, on: session.endpoint, limit: limit)
            state.sessions[session.id] = session
            state.registered.insert(ObjectIdentifier(session))
            return session
        }
    }

    /// Unregisters `session` and gives its slot back (once).
    func remove(_ session: AggregateSession) {
        let removed = state.withLock { state -> Bool in
            guard state.registered.remove(ObjectIdentifier(session)) != nil else { return false }
            if state.sessions[session.id] === session { state.sessions[session.id] = nil }
            return true
        }
        if removed { slots.release(session.binding.credential, on: session.endpoint) }
    }

    func session(_ id: String) -> AggregateSession? { state.withLock { $0.sessions[id] } }

    var all: [AggregateSession] { state.withLock { Array($0.sessions.values) } }

    /// After a reload: a session whose key or user is gone ends; the others hear that their lists
    /// may have changed (servers may have been granted or taken away, each member's lists re-decided).
    func apply(_ change: PolicyChange) {
        for session in all {
            if session.binding.credential.resolve(in: change.new, user: session.user, at: change.at) == nil {
                if case .key = session.binding.credential {
                    session.end("the key was removed from the policy")
                } else {
                    session.end("its user \(session.user) was removed, disabled or no longer signs in so, by a policy reload")
                }
            } else {
                // A view the reload empties says why.
                if let reason = Gateway.emptyView(change.new, session.binding.credential, user: session.user, view: session.view, at: change.at),
                    change.old.map({ Gateway.emptyView($0, session.binding.credential, user: session.user, view: session.view, at: change.at) == nil }) ?? true
                {
                    session.log(.warning, reason)
                }
                session.notifyListsChanged()
            }
        }
    }

    func endAll(reason: String) async {
        let sessions = state.withLock { state in
            state.closed = true
            return Array(state.sessions.values)
        }
        for session in sessions { session.end(reason) }
        for session in sessions { await session.waitUntilStopped() }
    }
}
