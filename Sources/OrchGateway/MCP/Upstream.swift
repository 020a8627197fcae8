import Synchronization

/// Where a session's messages go: a process on stdio, or a remote MCP server the gateway holds its
/// own session with. Each message is one JSON-RPC message's bytes.
protocol Upstream: Sendable {
    /// Starts delivering: `events.receive` gets each message in order, `events.closed` is called
    /// once when the upstream ends for any reason but `stop()`.
    func start(_ events: UpstreamEvents)
    /// Queues one message; a failure to deliver it ends the upstream through `closed`.
    func send(_ message: [UInt8])
    /// Backpressure: while off, the upstream's output is not read (a stdio server then blocks on
    /// its stdout; a remote stream is not consumed).
    func setReading(_ on: Bool)
    /// Ends the upstream (stops the process group, or ends the remote session); waits, for a
    /// bounded time, until it is done. Calling it again waits for the same outcome.
    func stop() async
    /// For stdio upstreams, the process id (the leader of its process group).
    var pid: Int32? { get }
}

/// What an upstream tells its session.
struct UpstreamEvents: Sendable {
    let receive: @Sendable ([UInt8]) -> Void
    let closed: @Sendable (UpstreamError) -> Void
}

/// The session's callbacks, set once the session starts the upstream; `closed` is passed on once.
final class EventSink: Sendable {
    private struct State {
        var events: UpstreamEvents?
        var closed = false
        /// Closed before the session started it: told on `set`.
        var early: UpstreamError?
    }
    private let state = Mutex(State())

    func set(_ events: UpstreamEvents) {
        let early = state.withLock { state -> UpstreamError? in
            state.events = events
            return state.early
        }
        if let early { events.closed(early) }
    }

    func receive(_ message: [UInt8]) {
        state.withLock { $0.closed ? nil : $0.events }?.receive(message)
    }

    func closed(_ error: UpstreamError) {
        let events = state.withLock { state -> UpstreamEvents? in
            guard !state.closed else { return nil }
            state.closed = true
            if state.events == nil { state.early = error }
            return state.events
        }
        events?.closed(error)
    }

    /// After `stop()` began: nothing more is passed on.
    func silence() { state.withLock { $0.closed = true } }
}
