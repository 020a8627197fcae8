import Foundation
import Logging
import OrchJSON
import OrchPolicy
import Synchronization

/// One downstream MCP session: a gateway-issued id bound to the key and server that opened it, and
/// the upstream process that serves it alone. It routes upstream messages: replies to the request
/// waiting for them, everything else to the session's stream (the GET stream, or the legacy SSE
/// stream), else to an open request stream, else a short backlog.
final class MCPSession: Sendable {
    enum Transport: Sendable { case streamableHTTP, legacySSE }

    /// Where a reply goes.
    enum Target: Sendable {
        /// A POST waiting for its answer; `interim` when its response is an SSE stream that may
        /// also carry the server's other messages.
        case request(AsyncStream<[UInt8]>.Continuation, interim: Bool)
        /// The session stream (legacy SSE: every message goes there).
        case sessionStream
    }

    struct Pending: Sendable {
        let method: String
        let target: Target
        let transform: (@Sendable (JSONValue) -> JSONValue)?
        /// Told the reply just before it is delivered (the audit of a tool call).
        let onReply: (@Sendable ([UInt8]) -> Void)?
        /// Fires the timeout; cancelled when the reply comes first.
        var timer: Task<Void, Never>? = nil
    }

    struct State: Sendable {
        var pending: [String: Pending] = [:]
        var stream: AsyncStream<[UInt8]>.Continuation? = nil
        var streamGeneration = 0
        var backlog: [[UInt8]] = []
        var lastActivity = ContinuousClock.now
        var ended = false
    }

    let id: String
    let keyHash: KeyHash
    let user: String
    let keyID: String
    let org: String
    let server: String
    let transport: Transport
    let upstream: any Upstream
    private let state = Mutex(State())
    private let onEnd: @Sendable (MCPSession, String) -> Void

    init(
        keyHash: KeyHash, user: String, keyID: String, org: String, server: String, transport: Transport,
        upstream: any Upstream, onEnd: @escaping @Sendable (MCPSession, String) -> Void
    ) {
        self.id = Hex.encode(Crypto.randomBytes(16))
        self.keyHash = keyHash
        self.user = user
        self.keyID = keyID
        self.org = org
        self.server = server
        self.transport = transport
        self.upstream = upstream
        self.onEnd = onEnd
    }

    var serverPath: String { "\(org)/\(server)" }
    var isEnded: Bool { state.withLock { $0.ended } }

    /// Reads the upstream until it ends, then ends the session.
    func pump() async {
        for await message in upstream.messages { route(message) }
        end(reason: "upstream exited")
    }

    private func route(_ bytes: [UInt8]) {
        guard let value = try? JSONValue.parse(bytes) else { return }
        if case .response(let id)? = JSONRPCMessage(value) {
            guard let pending = state.withLock({ $0.pending.removeValue(forKey: JSONRPC.key(id)) }) else { return }
            pending.timer?.cancel()
            let reply = pending.transform.map { Array($0(value).compact.utf8) } ?? bytes
            pending.onReply?(reply)
            deliver(reply, to: pending.target, final: true)
            return
        }
        state.withLock { state in
            if let stream = state.stream {
                stream.yield(bytes)
            } else if let open = state.pending.values.first(where: { if case .request(_, true) = $0.target { true } else { false } }),
                case .request(let continuation, _) = open.target
            {
                continuation.yield(bytes)
            } else {
                state.backlog.append(bytes)
                if state.backlog.count > 256 { state.backlog.removeFirst() }
            }
        }
    }

    private func deliver(_ bytes: [UInt8], to target: Target, final: Bool) {
        switch target {
        case .request(let continuation, _):
            continuation.yield(bytes)
            if final { continuation.finish() }
        case .sessionStream:
            _ = state.withLock { $0.stream?.yield(bytes) }
        }
    }

    /// Forwards a request; its reply (transformed, if asked) goes to `target`. After `timeout` the
    /// caller gets a JSON-RPC error and the upstream a `notifications/cancelled`.
    func forward(
        request bytes: [UInt8], id: JSONValue, method: String, target: Target, timeout: Duration,
        transform: (@Sendable (JSONValue) -> JSONValue)? = nil, onReply: (@Sendable ([UInt8]) -> Void)? = nil
    ) async {
        let key = JSONRPC.key(id)
        let accepted = state.withLock { state -> Bool in
            guard !state.ended, state.pending[key] == nil else { return false }
            state.pending[key] = Pending(method: method, target: target, transform: transform, onReply: onReply)
            state.lastActivity = .now
            return true
        }
        guard accepted else {
            let message = isEnded ? "the session has ended" : "a request with this id is already in progress"
            deliver(Array(JSONRPC.error(id: id, code: JSONRPC.invalidRequest, message).compact.utf8), to: target, final: true)
            return
        }
        await upstream.send(bytes)
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            if Task.isCancelled { return }
            await self?.timeOut(key: key, id: id, after: timeout)
        }
        let stillPending = state.withLock { state -> Bool in
            guard state.pending[key] != nil else { return false }
            state.pending[key]?.timer = timer
            return true
        }
        if !stillPending { timer.cancel() }
    }

    private func timeOut(key: String, id: JSONValue, after timeout: Duration) async {
        guard let pending = state.withLock({ $0.pending.removeValue(forKey: key) }) else { return }
        let cancel: JSONValue = [
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": ["requestId": id, "reason": "the gateway's call timeout passed"],
        ]
        await upstream.send(Array(cancel.compact.utf8))
        let seconds = timeout.components.seconds
        let reply = Array(JSONRPC.error(id: id, code: JSONRPC.requestTimeout, "\(pending.method) timed out after \(seconds) s").compact.utf8)
        pending.onReply?(reply)
        deliver(reply, to: pending.target, final: true)
    }

    /// Forwards a notification or a response of the client.
    func forward(notification bytes: [UInt8]) async {
        state.withLock { $0.lastActivity = .now }
        await upstream.send(bytes)
    }

    /// Answers a request on the gateway's behalf (a refused tool call), where its reply would go.
    func answer(_ reply: JSONValue, to target: Target) {
        deliver(Array(reply.compact.utf8), to: target, final: true)
    }

    /// Attaches the stream for server messages (a new GET stream replaces an older one). Backlogged
    /// messages are sent first.
    func attachStream() -> (stream: AsyncStream<[UInt8]>, generation: Int) {
        let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .bufferingNewest(1024))
        let (old, generation) = state.withLock { state -> (AsyncStream<[UInt8]>.Continuation?, Int) in
            let old = state.stream
            if state.ended {
                continuation.finish()
                return (old, -1)
            }
            state.stream = continuation
            state.streamGeneration += 1
            for message in state.backlog { continuation.yield(message) }
            state.backlog = []
            state.lastActivity = .now
            return (old, state.streamGeneration)
        }
        old?.finish()
        return (stream, generation)
    }

    /// The response writing stream `generation` is gone (the client hung up, or it was replaced).
    func streamClosed(generation: Int) {
        state.withLock { state in
            state.lastActivity = .now
            if state.streamGeneration == generation { state.stream = nil }
        }
        // The legacy SSE stream is the session: when the client hangs up, the session ends.
        if transport == .legacySSE { end(reason: "client closed the SSE stream") }
    }

    /// Idle: nothing pending, no stream open, no activity for `limit`.
    func isIdle(longerThan limit: Duration, now: ContinuousClock.Instant) -> Bool {
        state.withLock { $0.pending.isEmpty && $0.stream == nil && now - $0.lastActivity > limit }
    }


    /// Ends the session once: answers what is pending, closes the streams, stops the process.
    func end(reason: String) {
        let snapshot = state.withLock { state -> State? in
            guard !state.ended else { return nil }
            state.ended = true
            let copy = state
            state.pending = [:]
            state.stream = nil
            return copy
        }
        guard let snapshot else { return }
        for (key, pending) in snapshot.pending {
            pending.timer?.cancel()
            let id = (try? JSONValue.parse(key)) ?? .null
            deliver(Array(JSONRPC.error(id: id, code: JSONRPC.internalError, "the session ended: \(reason)").compact.utf8), to: pending.target, final: true)
        }
        snapshot.stream?.finish()
        onEnd(self, reason)
        Task { await upstream.stop() }
    }
}
