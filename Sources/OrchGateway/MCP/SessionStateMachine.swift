import DequeModule
import NIOCore
import OrchJSON

/// An MCP session's state and its transitions, with no I/O: each mutating method returns what the
/// caller must do (send upstream, deliver to a queue, arm a timer, end the session), and
/// `MCPSession` does it outside its lock. Time comes in as arguments, so every rule here is tested
/// without sleeping.
struct SessionStateMachine {
    typealias Instant = NIODeadline

    enum Phase: Equatable { case initializing, open, ended }

    /// Where a request's reply goes.
    enum Target {
        /// Its own response: a JSON reply or a POST's SSE stream (`interim`: the stream may also
        /// carry the server's other messages). Finished after the reply.
        case response(MessageQueue, interim: Bool)
        /// The session's stream (legacy SSE), which stays open.
        case sessionStream
    }

    /// A client request waiting for its upstream reply.
    struct Pending {
        /// The id the request went upstream with.
        let id: JSONValue
        /// The id its client sent, when the gateway forwarded it under another (a held leg's own id).
        let clientID: JSONValue?
        let method: String
        let target: Target
        let hooks: ReplyHooks
        let started: Instant
        let timeout: TimeAmount
        var deadline: Instant
        /// Progress moves the deadline, never past this.
        let latest: Instant
        /// The compact JSON of `params._meta.progressToken`, when the request carries one.
        let progressToken: String?

        /// The id an answer of the gateway's own (a timeout, the session's end) goes to the client with.
        var answerID: JSONValue { clientID ?? id }

        var interimQueue: MessageQueue? {
            if case .response(let queue, true) = target { queue } else { nil }
        }
    }

    struct Limits {
        /// Server messages kept while no stream can take them.
        var backlogBytes = 1 << 20
        var backlogMessages = 1024
        /// Progress can extend a request to this many times its timeout after it began.
        var progressCap: Int64 = 10
        /// Whether server messages no stream can take are kept for the next stream. A held leg has
        /// no client stream of its own to give them to, so it drops them.
        var keepsBacklog = true
    }

    /// What an upstream message is, read once by the session.
    enum Incoming {
        case response(key: String)
        case progress(token: String)
        case other
    }

    enum RequestAction {
        /// Send it upstream; `expire` answers it if no reply comes by `deadline`.
        case forward(deadline: Instant)
        /// Answer the client with this error and send nothing.
        case reject(String)
    }

    enum ReceiveAction {
        /// The reply to `pending`: apply its hooks and deliver it to `queue` (finishing the queue
        /// when `finish`).
        case reply(Pending, queue: MessageQueue?, finish: Bool)
        /// A message for the client, on this queue.
        case deliver(MessageQueue)
        /// Kept in the backlog, or dropped (a reply nobody waits for).
        case none
        /// The session must end.
        case end(UpstreamError)
    }

    /// A request whose deadline passed: answer it in the upstream's place.
    struct Expired {
        let request: Pending
        let queue: MessageQueue?
        let finish: Bool
    }

    private(set) var phase: Phase = .initializing
    private var pending: [String: Pending] = [:]
    private var stream: MessageQueue?
    private var streamGeneration = 0
    private var backlog = Deque<[UInt8]>()
    private var backlogBytes = 0
    private(set) var lastActivity: Instant
    let limits: Limits

    init(now: Instant, limits: Limits = Limits(), open: Bool = false) {
        lastActivity = now
        self.limits = limits
        if open { phase = .open }
    }

    var pendingCount: Int { pending.count }
    var hasStream: Bool { stream != nil }

    mutating func opened() {
        if phase == .initializing { phase = .open }
    }

    // MARK: client → upstream

    mutating func request(
        id: JSONValue, clientID: JSONValue? = nil, method: String, target: Target, hooks: ReplyHooks, timeout: TimeAmount,
        progressToken: String?, now: Instant
    ) -> RequestAction {
        guard phase != .ended else { return .reject("the session has ended") }
        let key = JSONRPC.key(id)
        guard pending[key] == nil else { return .reject("a request with this id is already in progress") }
        lastActivity = now
        let deadline = now + timeout
        pending[key] = Pending(
            id: id, clientID: clientID, method: method, target: target, hooks: hooks, started: now, timeout: timeout, deadline: deadline,
            latest: now + timeout * limits.progressCap, progressToken: progressToken)
        return .forward(deadline: deadline)
    }

    /// The client sent a notification or a response.
    mutating func touch(now: Instant) {
        lastActivity = now
    }

    /// The client cancelled request `key` (`notifications/cancelled`): it is no longer pending.
    mutating func cancelled(key: String, now: Instant) -> (Pending, queue: MessageQueue?, finish: Bool)? {
        lastActivity = now
        guard let request = pending.removeValue(forKey: key) else { return nil }
        let (queue, finish) = destination(of: request)
        return (request, queue, finish)
    }

    // MARK: upstream → client

    mutating func received(_ incoming: Incoming, message: [UInt8], now: Instant) -> ReceiveAction {
        switch incoming {
        case .response(let key):
            guard let request = pending.removeValue(forKey: key) else { return .none }
            let (queue, finish) = destination(of: request)
            return .reply(request, queue: queue, finish: finish)
        case .progress(let token):
            if let key = pending.first(where: { $0.value.progressToken == token })?.key, var request = pending[key] {
                request.deadline = min(now + request.timeout, request.latest)
                pending[key] = request
                if let queue = request.interimQueue { return .deliver(queue) }
            }
            return serverMessage(message)
        case .other:
            return serverMessage(message)
        }
    }

    /// A message the server sends on its own: the session stream, else an open request stream,
    /// else the backlog, which is bounded.
    private mutating func serverMessage(_ message: [UInt8]) -> ReceiveAction {
        if let stream { return .deliver(stream) }
        if let queue = pending.values.lazy.compactMap(\.interimQueue).first { return .deliver(queue) }
        guard limits.keepsBacklog else { return .none }
        guard backlogBytes + message.count <= limits.backlogBytes, backlog.count < limits.backlogMessages else {
            return .end(.flooded("the server sent more than \(limits.backlogBytes >> 10) KiB of messages with no client stream open to take them"))
        }
        backlog.append(message)
        backlogBytes += message.count
        return .none
    }

    private func destination(of request: Pending) -> (MessageQueue?, Bool) {
        switch request.target {
        case .response(let queue, _): (queue, true)
        case .sessionStream: (stream, false)
        }
    }

    // MARK: time

    /// Removes and returns the requests whose deadline is `now` or earlier.
    mutating func expire(now: Instant) -> [Expired] {
        guard pending.values.contains(where: { $0.deadline <= now }) else { return [] }
        var expired: [Expired] = []
        for (key, request) in pending where request.deadline <= now {
            pending[key] = nil
            let (queue, finish) = destination(of: request)
            expired.append(Expired(request: request, queue: queue, finish: finish))
        }
        return expired
    }

    /// The streams a client is waiting on: the session stream and the requests' SSE streams.
    var openStreams: [MessageQueue] {
        (stream.map { [$0] } ?? []) + pending.values.compactMap(\.interimQueue)
    }

    /// Idle: open, nothing pending, no stream, no activity for `limit`.
    func isIdle(now: Instant, limit: TimeAmount) -> Bool {
        phase == .open && pending.isEmpty && stream == nil && now - lastActivity > limit
    }

    // MARK: streams

    /// Attaches the stream for server messages; a newer one replaces the older, which is returned
    /// to be finished. The backlog moves to the new stream. Nil when the session has ended.
    mutating func attach(_ queue: MessageQueue, now: Instant) -> (generation: Int, replaced: MessageQueue?, backlog: [[UInt8]])? {
        guard phase != .ended else { return nil }
        let replaced = stream
        stream = queue
        streamGeneration += 1
        lastActivity = now
        let messages = Array(backlog)
        backlog.removeAll()
        backlogBytes = 0
        return (streamGeneration, replaced, messages)
    }

    /// Stream `generation` is gone (its client hung up, or a newer one replaced it).
    mutating func detach(generation: Int, now: Instant) {
        lastActivity = now
        if generation == streamGeneration { stream = nil }
    }

    // MARK: end

    /// Ends the session once: what was pending and the stream, for the caller to answer and
    /// finish; nil when it had already ended.
    mutating func end() -> (pending: [Pending], stream: MessageQueue?)? {
        guard phase != .ended else { return nil }
        phase = .ended
        let result = (Array(pending.values), stream)
        pending = [:]
        stream = nil
        backlog.removeAll()
        backlogBytes = 0
        return result
    }
}

/// What the gateway does with a request's reply: `transform` rewrites it (a filtered list);
/// `outcome` is told how the request ended (the audit of a tool call).
struct ReplyHooks: Sendable {
    var transform: (@Sendable (JSONValue) -> JSONValue)? = nil
    /// Rewrites the reply from its parsed value and its bytes as they came (so that a change to
    /// one member need not encode the rest again); used instead of `transform` when set.
    var rewrite: (@Sendable (JSONValue, [UInt8]) -> [UInt8])? = nil
    var outcome: (@Sendable (ReplyOutcome) -> Void)? = nil

    static let none = ReplyHooks()
}

/// How a forwarded request ended.
enum ReplyOutcome: Sendable {
    /// The upstream replied (a result, or a JSON-RPC error).
    case replied(JSONValue)
    /// The gateway answered in its place: timeout, cancellation, or the session ended.
    case failed(UpstreamError)

    /// A JSON-RPC error, or a tool result with `isError: true`, or no reply at all.
    var isFailure: Bool {
        switch self {
        case .replied(let reply): reply["error"] != nil || reply["result"]?["isError"] == .bool(true)
        case .failed: true
        }
    }
}
