import DequeModule
import Synchronization

/// The messages waiting for one response (a JSON reply, a POST's SSE stream, a GET or legacy SSE
/// stream): one producer (the session), one consumer (the response writer). Bounded in bytes: past
/// `highWater` the producer is told to stop reading its upstream, and told to go on once the
/// consumer has drained half of it, so a slow client slows its upstream and never grows the
/// gateway; past `hardCap` (only an upstream that cannot be paused gets there) a push fails.
final class MessageQueue: Sendable {
    enum Event: Sendable, Equatable {
        case message([UInt8])
        /// Nothing to send for a while: time for an SSE comment.
        case keepAlive
        /// The queue was finished and is drained, or the consumer went away.
        case end
    }

    enum PushResult: Equatable {
        case accepted
        /// Accepted, and now over the high-water mark: pause the upstream.
        case full
        /// Refused: the hard cap would be passed.
        case overflow
        /// Refused: the queue is finished or its consumer is gone.
        case closed
    }

    struct Limits: Sendable {
        var highWater = 1 << 20
        var hardCap = 48 << 20
    }

    private struct State {
        var items = Deque<[UInt8]>()
        var bytes = 0
        var finished = false
        var hungUp = false
        var full = false
        var waiter: CheckedContinuation<Event, Never>?
    }

    private let state = Mutex(State())
    let limits: Limits
    /// Called, outside the lock, when a queue that reported `.full` has drained to half its
    /// high-water mark or ended.
    private let onDrain: @Sendable () -> Void
    /// The taker of a single reply, called on the producer's thread instead of a task awaiting
    /// `next()` (the fast path's JSON replies); the queue then holds nothing.
    private let replyTaker: (@Sendable (Event) -> Void)?
    /// The relay every event is handed to, on the producer's thread, instead of a task awaiting
    /// `next()`; the queue then holds nothing.
    private let relay: (@Sendable (Event) -> PushResult)?

    init(limits: Limits = Limits(), onDrain: @escaping @Sendable () -> Void = {}) {
        self.limits = limits
        self.onDrain = onDrain
        self.replyTaker = nil
        self.relay = nil
    }

    /// A queue that hands each event to `relay` as it happens, on the producer's thread: each
    /// message pushed (the push's result is the relay's, but `full`, since this queue never fills
    /// and so never drains), each keep-alive, and `.end` once, when the queue finishes or hangs
    /// up; nothing after it. For a session's messages carried on to another queue with a change
    /// on the way (an aggregated session's members): no task relays them, and none stops at a
    /// keep-alive.
    init(relay: @escaping @Sendable (Event) -> PushResult) {
        self.limits = Limits()
        self.onDrain = {}
        self.replyTaker = nil
        self.relay = relay
    }

    /// A queue for one reply, handed to `taker` once: the first message pushed, or `.end` when the
    /// queue finishes (or hangs up) before any. That event is chosen under the lock and nothing
    /// follows it, so no later event can overtake the reply, nor be taken for the answer to a
    /// request that came after this one.
    init(reply taker: @escaping @Sendable (Event) -> Void) {
        self.limits = Limits()
        self.onDrain = {}
        self.replyTaker = taker
        self.relay = nil
    }

    /// Marks a reply or relay queue done: true for the one call (a reply's push, the finish, a
    /// relay's hang-up) that hands its last event over.
    private func claimTheLast() -> Bool {
        state.withLock { state -> Bool in
            defer { state.finished = true }
            return !state.finished && !state.hungUp
        }
    }

    func push(_ message: [UInt8]) -> PushResult {
        if let replyTaker {
            guard claimTheLast() else { return .closed }
            replyTaker(.message(message))
            return .accepted
        }
        if let relay {
            guard !isEnded else { return .closed }
            let result = relay(.message(message))
            return result == .full ? .accepted : result
        }
        let (result, waiter) = state.withLock { state -> (PushResult, CheckedContinuation<Event, Never>?) in
            guard !state.finished, !state.hungUp else { return (.closed, nil) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (.accepted, waiter)
            }
            guard state.bytes + message.count <= limits.hardCap else { return (.overflow, nil) }
            state.items.append(message)
            state.bytes += message.count
            if !state.full && state.bytes > limits.highWater {
                state.full = true
                return (.full, nil)
            }
            return (.accepted, nil)
        }
        waiter?.resume(returning: .message(message))
        return result
    }

    /// No more messages: the consumer gets what is queued, then `.end`.
    func finish() {
        if let replyTaker {
            if claimTheLast() { replyTaker(.end) }
            return
        }
        if let relay {
            if claimTheLast() { _ = relay(.end) }
            return
        }
        let waiter = state.withLock { state -> CheckedContinuation<Event, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.items.isEmpty ? state.waiter : nil
        }
        waiter?.resume(returning: .end)
    }

    /// The consumer is gone (the client hung up): drop what is queued and end.
    func hangUp() {
        if let relay {
            if claimTheLast() { _ = relay(.end) }
            return
        }
        let (waiter, wasFull) = state.withLock { state -> (CheckedContinuation<Event, Never>?, Bool) in
            state.hungUp = true
            state.items.removeAll()
            state.bytes = 0
            let wasFull = state.full
            state.full = false
            defer { state.waiter = nil }
            return (state.waiter, wasFull)
        }
        waiter?.resume(returning: .end)
        if wasFull { onDrain() }
    }

    /// Wakes a waiting consumer with `.keepAlive`.
    func keepAlive() {
        if let relay {
            if !isEnded { _ = relay(.keepAlive) }
            return
        }
        let waiter = state.withLock { state -> CheckedContinuation<Event, Never>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: .keepAlive)
    }

    var isEnded: Bool { state.withLock { $0.hungUp || ($0.finished && $0.items.isEmpty) } }

    /// The next event. A cancelled consumer gets `.end` (and counts as gone).
    func next() async -> Event {
        var drained = false
        let ready = state.withLock { Self.take(&$0, limits: limits, drained: &drained) }
        if drained { onDrain() }
        if let ready { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (waiter: CheckedContinuation<Event, Never>) in
                var drained = false
                // Looked at again under the lock: a message and the end may both have come since.
                let immediate = state.withLock { state -> Event? in
                    if let event = Self.take(&state, limits: limits, drained: &drained) { return event }
                    state.waiter = waiter
                    return nil
                }
                if drained { onDrain() }
                if let immediate { waiter.resume(returning: immediate) }
            }
        } onCancel: {
            hangUp()
        }
    }

    /// What the consumer gets now, if anything: nothing after a hang-up; else the next message,
    /// even when the queue is finished (a reply pushed just before `finish` is never lost); else
    /// the end of a finished queue.
    private static func take(_ state: inout State, limits: Limits, drained: inout Bool) -> Event? {
        if state.hungUp { return .end }
        if let message = state.items.popFirst() {
            state.bytes -= message.count
            if state.full && state.bytes <= limits.highWater / 2 {
                state.full = false
                drained = true
            }
            return .message(message)
        }
        return state.finished ? .end : nil
    }
}
