import Foundation
import NIOCore
import OrchJSON
import OrchPolicy
import Synchronization

/// Takes the server messages of a session that no client stream belongs to (a held leg's): those
/// that answer no request, and the gateway's own notifications.
protocol ServerMessageTap: AnyObject, Sendable {
    func take(_ message: JSONValue)
    /// Time for the streams it feeds to send a keep-alive comment.
    func keepAlive()
    /// While true, the session does not idle out (a stream is open on it).
    var holdsOpen: Bool { get }
    /// The session ended: finish what it feeds.
    func sessionEnded()
}

/// One downstream MCP session: a gateway-issued id bound to the key and server that opened it, and
/// the upstream that serves it alone. Its rules live in `SessionStateMachine`; this class holds the
/// machine under a lock, computes an action there, and carries it out outside the lock.
final class MCPSession: Sendable {
    enum Transport: Sendable {
        case streamableHTTP, legacySSE
        /// The gateway's own session for the 2026-07-28 requests of one key on one server: its id
        /// is never given to a client, and no client session is looked up among them.
        case heldLeg
    }

    /// A random id until `initialize` is answered; then, for a Streamable HTTP session, the sealed
    /// id the client gets (`SessionSeal`), which `SessionTable.rename` gives it.
    var id: String { idSlot.withLock { $0 } }
    private let idSlot: Mutex<String>
    /// When the sealed id expires (seconds since 1970); 0 before it is sealed.
    private let sealedExpiry = Atomic<Int64>(0)
    /// Re-created from its sealed id on a replica that did not hold it: the gateway sent the
    /// server `notifications/initialized`, so the client's own is dropped.
    private let recreatedFromSeal = Atomic<Bool>(false)
    let openedAt: Date
    /// The key and server the session is bound to, and what it may use under the running policy.
    let access: SessionAccess
    let user: String
    /// The key's id; nil for a session opened with a single sign-on token.
    let keyID: String?
    let transport: Transport
    /// A stdio session holds one of the gateway's upstream processes.
    let usesProcess: Bool
    /// The user's own secrets a per-user server's session runs with (names and a digest).
    let secrets: SecretUse?
    private let machine: Mutex<SessionStateMachine>
    private let upstreamSlot = Mutex<(any Upstream)?>(nil)
    private let stopTask = Mutex<Task<Void, Never>?>(nil)
    /// How many of this session's queues are over their high-water mark: while any is, the
    /// upstream is not read.
    private let fullQueues = Mutex<Int>(0)
    /// The client declared sampling, elicitation or roots at initialize: the server may send it
    /// requests in the middle of a call, so calls are answered as SSE streams.
    private let clientTakesRequests = Atomic<Bool>(false)
    private let clientTakesForms = Atomic<Bool>(false)
    /// Requests held for an approval before they are forwarded, by key: whether the client has
    /// cancelled each since.
    private let approvalHolds = Mutex<[String: Bool]>([:])
    private let onEnd: @Sendable (MCPSession, UpstreamError) -> Void
    private let tapSlot = Mutex<(any ServerMessageTap)?>(nil)
    /// Set when the session speaks 2026-07-28 to its server: the envelope its requests carry
    /// (`ModernUpstream`).
    private let modernEnvelope = Mutex<JSONObject?>(nil)
    /// `modernEnvelope` is set: read first, so a handshake-era session's requests take no lock for it.
    private let modernUpstream = Atomic<Bool>(false)
    /// Questions relayed to the client for its server (`InputBridge`), by the id they went with.
    private let awaitedAnswers = Mutex<[String: CheckedContinuation<JSONValue?, Never>]>([:])
    private let relayedQuestions = Atomic<Int>(0)

    init(
        access: SessionAccess, user: String, keyID: String?, transport: Transport, usesProcess: Bool, secrets: SecretUse? = nil,
        limits: SessionStateMachine.Limits = .init(), id: String? = nil, onEnd: @escaping @Sendable (MCPSession, UpstreamError) -> Void
    ) {
        self.idSlot = Mutex(id ?? Hex.encode(Crypto.randomBytes(16)))
        if id != nil { recreatedFromSeal.store(true, ordering: .relaxed) }
        self.openedAt = access.clock.now()
        self.access = access
        self.user = user
        self.keyID = keyID
        self.transport = transport
        self.usesProcess = usesProcess
        self.secrets = secrets
        var limits = limits
        if transport == .heldLeg { limits.keepsBacklog = false }
        // Legacy SSE sessions open with their stream; the client's initialize is an ordinary message.
        self.machine = Mutex(SessionStateMachine(now: .now(), limits: limits, open: transport == .legacySSE))
        self.onEnd = onEnd
    }

    var credential: Credential { access.credential }

    /// Takes the sealed id `id`, good until `expires`: `SessionTable.rename` only, under its lock.
    func takeID(_ id: String, expires: Int64) {
        idSlot.withLock { $0 = id }
        sealedExpiry.store(expires, ordering: .relaxed)
    }

    /// Tells the server the session is initialized, as a re-created session does in its client's
    /// stead (the client's own was sent to the replica that opened the session).
    func sendInitialized() {
        guard !speaksModernUpstream else { return }
        upstream?.send(Self.encode(["jsonrpc": "2.0", "method": "notifications/initialized"]))
    }

    /// Re-created with the sealed id it was given, good until `expires`.
    func sealed(until expires: Int64) { sealedExpiry.store(expires, ordering: .relaxed) }

    /// When its sealed id expires (seconds since 1970); 0 for an id that is not sealed.
    var sealedUntil: Int64 { sealedExpiry.load(ordering: .relaxed) }

    /// Why the session ends at `time` on its own: its sealed id expired.
    func sealExpiry(at time: Date) -> String? {
        let expires = sealedExpiry.load(ordering: .relaxed)
        guard expires > 0, Int64(time.timeIntervalSince1970) >= expires else { return nil }
        return "its session id expired (limits.maxSessionSeconds)"
    }
    /// For the audit log: which of the user's secrets the session runs with (names only).
    var secretsNote: String { secrets.map { "; runs with \($0.user)'s secrets \($0.names.joined(separator: ", "))" } ?? "" }
    var org: String { access.org }
    var server: String { access.server }
    var serverPath: String { "\(org)/\(server)" }
    var phase: SessionStateMachine.Phase { machine.withLock { $0.phase } }
    /// How long since the client or the server last did anything on the session.
    func idle(now: NIODeadline = .now()) -> TimeAmount { now - machine.withLock { $0.lastActivity } }
    var isEnded: Bool { phase == .ended }
    /// A client stream (GET, or the legacy SSE stream) is attached.
    var hasStream: Bool { machine.withLock { $0.hasStream } }
    var upstream: (any Upstream)? { upstreamSlot.withLock { $0 } }
    var requestsClientMidCall: Bool { clientTakesRequests.load(ordering: .relaxed) }

    /// Connects the started upstream; a session that ended meanwhile stops it at once.
    func attach(_ upstream: any Upstream) {
        let ended = upstreamSlot.withLock { slot -> Bool in
            slot = upstream
            return machine.withLock { $0.phase == .ended }
        }
        if ended {
            stopUpstream()
            return
        }
        upstream.start(UpstreamEvents(
            receive: { [weak self] message in self?.received(message) },
            closed: { [weak self] error in self?.end(error) }))
    }

    /// `initialize` answered: the session is usable.
    func opened() { machine.withLock { $0.opened() } }

    /// The server speaks 2026-07-28: from now on each request gets `envelope` unless it carries its
    /// own, and the server is asked (with a listen of the gateway's own) for its list changes.
    func speaksModern(envelope: JSONObject, capabilities: JSONObject) {
        modernEnvelope.withLock { $0 = envelope }
        modernUpstream.store(true, ordering: .releasing)
        listening.withLock { $0.capabilities = capabilities }
        listen(envelope: envelope)
    }

    /// The gateway's own listen to a 2026-07-28 server, and the resources it names.
    private struct Listening {
        var capabilities: JSONObject = [:]
        var resources: Set<String> = []
        var count = 0
        var current: JSONValue?
    }
    private let listening = Mutex(Listening())

    /// Asks a 2026-07-28 server for the session's list changes and the updates of the resources
    /// it subscribed to, in a listen that replaces the one before (cancelled once it is sent).
    private func listen(envelope: JSONObject) {
        let (listen, replaced) = listening.withLock { state -> (JSONValue, JSONValue?) in
            state.count += 1
            let id = JSONValue.string("orch-listen-\(state.count)")
            defer { state.current = id }
            return (ModernUpstream.listen(id: id, capabilities: state.capabilities, resources: state.resources.sorted(), envelope: envelope),
                    state.current)
        }
        // Not a pending request: it stays open as long as the session, and its frames come as the
        // server's own messages.
        upstream?.send(Self.encode(listen))
        if let replaced {
            upstream?.send(Self.encode(["jsonrpc": "2.0", "method": "notifications/cancelled", "params": ["requestId": replaced]]))
        }
    }

    /// A handshake-era client's `resources/subscribe` or `resources/unsubscribe` to a 2026-07-28
    /// server, which has neither: the gateway's listen names the resource from now on, or no more.
    /// False for another method.
    private func subscribeOnListen(_ method: String, _ params: JSONObject) -> Bool {
        guard method == "resources/subscribe" || method == "resources/unsubscribe", let uri = params["uri"]?.stringValue else { return false }
        return listen(to: method == "resources/subscribe" ? [uri] : [], stop: method == "resources/unsubscribe" ? [uri] : [])
    }

    /// Whether the session's 2026-07-28 server takes resource subscriptions on a listen.
    var listensToResources: Bool {
        speaksModernUpstream && listening.withLock { $0.capabilities["resources"]?["subscribe"] == true }
    }

    /// Names `uris` in the gateway's listen to its 2026-07-28 server from now on, and `stop` no
    /// more (listening again when that changes anything). False when the server offers no
    /// subscriptions (it then refuses `resources/subscribe` itself).
    @discardableResult
    func listen(to uris: [String], stop: [String] = []) -> Bool {
        guard listensToResources, let envelope = modernEnvelope.withLock({ $0 }) else { return false }
        let changed = listening.withLock { state in
            let before = state.resources
            state.resources.formUnion(uris)
            state.resources.subtract(stop)
            return state.resources != before
        }
        if changed { listen(envelope: envelope) }
        return true
    }

    /// Whether the session speaks 2026-07-28 to its server.
    var speaksModernUpstream: Bool { modernUpstream.load(ordering: .acquiring) }

    /// Remembers what the client said it can do (from `initialize`'s params).
    func clientCapabilities(_ capabilities: JSONValue?) {
        let takes = ["sampling", "elicitation", "roots"].contains { capabilities?[$0] != nil }
        clientTakesRequests.store(takes, ordering: .relaxed)
        // Form mode: `elicitation: {}` (before 2025-11-25, and its default) or with `form`.
        let elicitation = capabilities?["elicitation"]?.objectValue
        clientTakesForms.store(elicitation.map { $0.isEmpty || $0["form"] != nil } ?? false, ordering: .relaxed)
    }

    /// Holds request `id` for an approval: a `notifications/cancelled` for it is noted until `release`.
    func holdForApproval(_ id: JSONValue) { approvalHolds.withLock { $0[JSONRPC.key(id)] = false } }
    /// Whether the client cancelled request `id` while it was held.
    func cancelledWhileHeld(_ id: JSONValue) -> Bool { approvalHolds.withLock { $0[JSONRPC.key(id)] ?? false } }
    func releaseApprovalHold(_ id: JSONValue) { _ = approvalHolds.withLock { $0.removeValue(forKey: JSONRPC.key(id)) } }

    /// Whether the client declared form-mode elicitation at initialize: the gateway may ask it.
    var declaresElicitation: Bool { clientTakesForms.load(ordering: .relaxed) }

    /// Sends the server's messages that answer no request, and the gateway's notifications, to
    /// `tap` instead of a stream of the session; the tap is let go when the session ends.
    func tap(_ tap: any ServerMessageTap) {
        tapSlot.withLock { $0 = tap }
    }

    /// A new queue for one of this session's responses, wired to pause the upstream while full.
    func makeQueue() -> MessageQueue {
        MessageQueue { [weak self] in self?.queueDrained() }
    }

    // MARK: client → upstream

    /// Forwards a request; its reply goes to `target`. The deadline starts now, before the send.
    /// `clientID` is the id the client sent when `bytes` carry another (`id`): the gateway's own
    /// answers (a timeout, the session's end) go back with it.
    func forward(
        request bytes: [UInt8], id: JSONValue, clientID: JSONValue? = nil, method: String, params: JSONObject,
        target: SessionStateMachine.Target, timeout: TimeAmount, hooks: ReplyHooks = .none
    ) {
        if speaksModernUpstream, let envelope = modernEnvelope.withLock({ $0 }) {
            if ModernUpstream.answersLocally(method) || subscribeOnListen(method, params) {
                let reply: JSONValue = ["jsonrpc": "2.0", "id": clientID ?? id, "result": [:]]
                hooks.outcome?(.replied(reply))
                return answer(reply, to: target)
            }
            if let enveloped = ModernUpstream.enveloped(params, envelope) {
                // A handshake-era client's call: the server may answer that it needs input first.
                let bridge = InputBridge(session: self, method: method, params: enveloped, clientID: clientID ?? id, target: target,
                                         timeout: timeout, hooks: hooks, clientCapabilities: envelope[ModernProtocol.MetaKey.clientCapabilities])
                return bridge.start(upstreamID: id)
            }
        }
        let token = params["_meta"]?["progressToken"].map(\.compact)
        let action = machine.withLock {
            $0.request(id: id, clientID: clientID, method: method, target: target, hooks: hooks, timeout: timeout, progressToken: token, now: .now())
        }
        switch action {
        case .forward:
            upstream?.send(bytes)
        case .reject(let message):
            answer(JSONRPC.error(id: clientID ?? id, code: JSONRPC.invalidRequest, message), to: target)
        }
    }

    /// Forwards a notification or a response of the client. `notifications/cancelled` also ends
    /// the cancelled request's response.
    func forward(notification bytes: [UInt8], method: String?, params: JSONObject) {
        if ModernUpstream.dropsNotification(method), speaksModernUpstream { return }
        if method == "notifications/initialized", recreatedFromSeal.load(ordering: .relaxed) { return }
        // The client's answer to a question the gateway relayed for its server (`InputBridge`).
        if method == nil, !awaitedAnswers.withLock({ $0.isEmpty }), let answer = try? JSONRPC.parse(bytes), let id = answer["id"],
            let waiter = awaitedAnswers.withLock({ $0.removeValue(forKey: JSONRPC.key(id)) })
        {
            machine.withLock { $0.touch(now: .now()) }
            return waiter.resume(returning: answer)
        }
        let now = NIODeadline.now()
        if method == "notifications/cancelled", let requestID = params["requestId"] {
            approvalHolds.withLock { holds in if holds[JSONRPC.key(requestID)] != nil { holds[JSONRPC.key(requestID)] = true } }
            if let (request, queue, finish) = machine.withLock({ $0.cancelled(key: JSONRPC.key(requestID), now: now) }) {
                request.hooks.outcome?(.failed(.stopped("cancelled by the client")))
                if let queue, finish {
                    // A streamed request ends without a reply, as the client asked; a JSON one
                    // needs an answer to its POST.
                    if case .response(_, interim: false) = request.target {
                        _ = queue.push(Self.encode(JSONRPC.error(id: request.answerID, code: JSONRPC.requestCancelled, "request cancelled by the client")))
                    }
                    queue.finish()
                }
            }
        } else {
            machine.withLock { $0.touch(now: now) }
        }
        upstream?.send(bytes)
    }

    /// Answers a request on the gateway's behalf (a refused call), where its reply would go.
    func answer(_ reply: JSONValue, to target: SessionStateMachine.Target) {
        switch target {
        case .response(let queue, _):
            _ = queue.push(Self.encode(reply))
            queue.finish()
        case .sessionStream:
            if let stream = machine.withLock({ $0.openStreams.first }) { push(Self.encode(reply), to: stream) }
        }
    }

    /// Forwards a request as it is (no envelope added): `InputBridge`'s rounds.
    func forwardUnchanged(
        request bytes: [UInt8], id: JSONValue, clientID: JSONValue?, method: String, params: JSONObject, target: SessionStateMachine.Target,
        timeout: TimeAmount
    ) {
        let token = params["_meta"]?["progressToken"].map(\.compact)
        let action = machine.withLock {
            $0.request(id: id, clientID: clientID, method: method, target: target, hooks: .none, timeout: timeout, progressToken: token, now: .now())
        }
        switch action {
        case .forward: upstream?.send(bytes)
        case .reject(let message): answer(JSONRPC.error(id: clientID ?? id, code: JSONRPC.invalidRequest, message), to: target)
        }
    }

    /// Sends the client a request of the gateway's own where `target`'s messages go, and waits for
    /// its answer, at most `timeout`; nil when none comes (or the session ends).
    func ask(client method: String, params: JSONValue, on target: SessionStateMachine.Target, timeout: Duration) async -> JSONValue? {
        let id = JSONValue.string("orch-input-\(relayedQuestions.wrappingAdd(1, ordering: .relaxed).newValue)")
        let key = JSONRPC.key(id)
        let request: JSONValue = ["jsonrpc": "2.0", "id": id, "method": .string(method), "params": params]
        let deadline = Task {
            try? await Task.sleep(for: timeout)
            self.awaitedAnswers.withLock { $0.removeValue(forKey: key) }?.resume(returning: nil)
        }
        defer { deadline.cancel() }
        return await withCheckedContinuation { continuation in
            let ended = awaitedAnswers.withLock { waiters -> Bool in
                if isEnded { return true }
                waiters[key] = continuation
                return false
            }
            if ended { return continuation.resume(returning: nil) }
            send(Self.encode(request), to: target)
        }
    }

    /// A message of the gateway's own for the client, where `target`'s messages go.
    func send(_ message: [UInt8], to target: SessionStateMachine.Target) {
        switch target {
        case .response(let queue, _): push(message, to: queue)
        case .sessionStream:
            if let stream = machine.withLock({ $0.openStreams.first }) { push(message, to: stream) }
        }
    }

    /// The gateway's own questions to the client that wait for its answer (for tests).
    var questionsAwaitingAnswer: Int { awaitedAnswers.withLock { $0.count } }

    /// The client's input timeout under the running policy.
    var inputTimeout: Duration { .seconds(access.current?.policy.settings.limits.inputTimeoutSeconds ?? 300) }

    // MARK: upstream → client

    private func received(_ bytes: [UInt8]) {
        let value: JSONValue
        do {
            value = try JSONRPC.parse(bytes)
        } catch {
            return unforwardable(bytes, error)
        }
        let incoming: SessionStateMachine.Incoming
        switch JSONRPCMessage(value) {
        case .response(let id)?: incoming = .response(key: JSONRPC.key(id))
        case .notification("notifications/progress", _)?:
            incoming = value["params"]?["progressToken"].map { .progress(token: $0.compact) } ?? .other
        case .notification("notifications/resources/updated", let params)?:
            // Only for a resource the caller may read now.
            guard let uri = params["uri"]?.stringValue, let item = Item.named(.resource, uri), access.permits(item) else { return }
            incoming = .other
        case .notification("notifications/subscriptions/acknowledged", _)? where speaksModernUpstream:
            // The server took the gateway's own listen.
            return
        default: incoming = .other
        }
        if case .other = incoming, let tap = tapSlot.withLock({ $0 }) {
            tap.take(value)
            return
        }
        let action = machine.withLock { $0.received(incoming, message: bytes, now: .now()) }
        switch action {
        case .reply(let request, let queue, let finish):
            var reply = bytes
            if let rewrite = request.hooks.rewrite {
                reply = rewrite(value, bytes)
            } else if let transform = request.hooks.transform {
                reply = Self.encode(transform(value))
            }
            request.hooks.outcome?(.replied(value))
            if let queue {
                push(reply, to: queue)
                if finish { queue.finish() }
            }
        case .deliver(let queue):
            push(bytes, to: queue)
        case .none:
            break
        case .end(let error):
            end(error)
        }
    }

    /// A message of the server's that the gateway cannot read (nested too deep, a repeated key,
    /// not JSON): the request it answers, when its id can be found, gets an error in its place at
    /// once rather than waiting for its timeout. Anything else of the kind is dropped.
    private func unforwardable(_ bytes: [UInt8], _ error: JSONParseError) {
        let reason = UpstreamError.unforwardable("the server's reply cannot be forwarded: \(error.message) (line \(error.line), column \(error.column))")
        for id in JSONMemberScanner.topLevelValues(of: "id", in: bytes) where JSONRPCMessage.isValidID(id) {
            let action = machine.withLock { $0.received(.response(key: JSONRPC.key(id)), message: bytes, now: .now()) }
            guard case .reply(let request, let queue, let finish) = action else { continue }
            request.hooks.outcome?(.failed(reason))
            if let queue {
                push(Self.encode(JSONRPC.error(id: request.answerID, code: JSONRPC.internalError, reason.message)), to: queue)
                if finish { queue.finish() }
            }
        }
    }

    /// Sends the client a message of the gateway's own (a list_changed after a reload), where the
    /// server's own messages would go.
    func notify(_ message: JSONValue) {
        if let tap = tapSlot.withLock({ $0 }) {
            tap.take(message)
            return
        }
        let bytes = Self.encode(message)
        switch machine.withLock({ $0.received(.other, message: bytes, now: .now()) }) {
        case .deliver(let queue): push(bytes, to: queue)
        case .end(let error): end(error)
        case .none, .reply: break
        }
    }

    private func push(_ message: [UInt8], to queue: MessageQueue) {
        switch queue.push(message) {
        case .accepted, .closed: break
        case .full:
            let first = fullQueues.withLock { count -> Bool in
                count += 1
                return count == 1
            }
            if first { upstream?.setReading(false) }
        case .overflow:
            end(.flooded("the client does not read its stream and the server keeps sending"))
        }
    }

    private func queueDrained() {
        let last = fullQueues.withLock { count -> Bool in
            count -= 1
            return count == 0
        }
        if last { upstream?.setReading(true) }
    }

    // MARK: time

    /// Answers the requests whose deadline has passed with -32001 and tells the upstream they are
    /// cancelled.
    func expire(now: NIODeadline) {
        let expired = machine.withLock { $0.expire(now: now) }
        for item in expired {
            let request = item.request
            let cancel: JSONValue = [
                "jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": ["requestId": request.id, "reason": "the gateway's call timeout passed"],
            ]
            upstream?.send(Self.encode(cancel))
            let seconds = request.timeout.nanoseconds / 1_000_000_000
            request.hooks.outcome?(.failed(.timedOut("\(request.method) timed out after \(seconds) s")))
            if let queue = item.queue {
                push(Self.encode(JSONRPC.error(id: request.answerID, code: JSONRPC.requestTimeout, "\(request.method) timed out after \(seconds) s")), to: queue)
                if item.finish { queue.finish() }
            }
        }
    }

    /// The requests waiting for their reply.
    var pendingCount: Int { machine.withLock { $0.pendingCount } }

    /// Wakes the streams a client is waiting on, so each sends a keep-alive comment.
    func keepAlive() {
        for queue in machine.withLock({ $0.openStreams }) { queue.keepAlive() }
        tapSlot.withLock { $0 }?.keepAlive()
    }

    func isIdle(now: NIODeadline, limit: TimeAmount) -> Bool {
        if tapSlot.withLock({ $0 })?.holdsOpen == true { return false }
        return machine.withLock { $0.isIdle(now: now, limit: limit) }
    }

    // MARK: streams

    /// Attaches the stream for server messages (a new GET stream replaces an older one, which
    /// ends). Backlogged messages go first. Nil when the session has ended.
    func attachStream(_ queue: MessageQueue) -> Int? {
        guard let (generation, replaced, backlog) = machine.withLock({ $0.attach(queue, now: .now()) }) else { return nil }
        replaced?.finish()
        for message in backlog { push(message, to: queue) }
        return generation
    }

    /// The response writing stream `generation` is gone (the client hung up, or it was replaced).
    func streamClosed(generation: Int) {
        machine.withLock { $0.detach(generation: generation, now: .now()) }
        // The legacy SSE stream is the session: when the client hangs up, the session ends.
        if transport == .legacySSE { end(.stopped("the client closed the SSE stream")) }
    }

    // MARK: end

    /// Ends the session once: answers what is pending, finishes the streams, stops the upstream.
    func end(_ reason: UpstreamError) {
        guard let (pending, stream) = machine.withLock({ $0.end() }) else { return }
        let message = reason.kind == .stopped ? "the session ended: \(reason.message)" : "the session ended: the server \(serverPath) is unavailable: \(reason.message)"
        for request in pending {
            request.hooks.outcome?(.failed(reason))
            let error = Self.encode(JSONRPC.error(id: request.answerID, code: JSONRPC.internalError, message))
            switch request.target {
            case .response(let queue, _):
                _ = queue.push(error)
                queue.finish()
            case .sessionStream:
                _ = stream?.push(error)
            }
        }
        stream?.finish()
        for waiter in awaitedAnswers.withLock({ waiters in defer { waiters = [:] }; return Array(waiters.values) }) { waiter.resume(returning: nil) }
        let tap = tapSlot.withLock { slot in
            defer { slot = nil }
            return slot
        }
        tap?.sessionEnded()
        onEnd(self, reason)
        stopUpstream()
    }

    private func stopUpstream() {
        guard let upstream else { return }
        stopTask.withLock { task in
            guard task == nil else { return }
            task = Task { await upstream.stop() }
        }
    }

    /// Waits until the upstream has stopped (after `end`).
    func waitUntilStopped() async {
        await stopTask.withLock { $0 }?.value
    }

    static func encode(_ value: JSONValue) -> [UInt8] { Array(value.compact.utf8) }
}
