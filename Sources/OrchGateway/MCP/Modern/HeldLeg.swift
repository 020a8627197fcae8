import NIOCore
import OrchJSON
import OrchPolicy
import Synchronization

/// An upstream session the gateway holds for the 2026-07-28 requests of one key (or sign-in) on one
/// server: the server speaks the handshake era, so the gateway initializes it once and forwards each
/// modern request on it under an id of its own, since requests of several clients of the key share it.
///
/// The server's own messages (list changes, resource updates) and the gateway's (a reload's list
/// changes) go to the key's `subscriptions/listen` streams on this server, each filtered by what
/// its listen asked for; resource updates have been filtered by what the key may read already.
final class HeldLeg: Sendable, ServerMessageTap {
    let session: MCPSession
    /// The server's `initialize` result: its capabilities, instructions and identity.
    let initialized: JSONObject
    private let requests = Atomic<Int>(0)

    private struct Listener {
        let sink: any ListenSink
        let id: JSONValue
        let filter: ListenFilter
    }

    private struct Listening {
        var listeners: [Int: Listener] = [:]
        var next = 0
        /// How many listen streams ask for each resource URI: the server is subscribed to it while
        /// any does (`upstream`: those it was subscribed to).
        var subscribed: [String: Int] = [:]
        var upstream: Set<String> = []
        var ended = false
    }

    private let listening = Mutex(Listening())
    /// The capabilities (`elicitation`, `sampling`, `roots`) the leg declared at initialize for
    /// the clients it serves, who declared the same: the server may ask those clients' calls.
    let asks: String
    /// Calls whose server may ask their client something, oldest first (`HeldCall`).
    private let held = Mutex<[HeldCall]>([])

    init(session: MCPSession, initialized: JSONObject, asks: String = "") {
        self.session = session
        self.initialized = initialized
        self.asks = asks
        session.tap(self)
    }

    // MARK: held calls

    func hold(_ call: HeldCall) {
        let expired = held.withLock { calls -> [HeldCall] in
            let now = ContinuousClock.now
            let expired = calls.filter { $0.hasExpired(at: now) }
            calls.removeAll { $0.hasExpired(at: now) }
            calls.append(call)
            return expired
        }
        for call in expired { cancel(call, "the client did not answer the server's question in time") }
    }

    func heldCall(_ token: String) -> HeldCall? { held.withLock { $0.first { $0.token == token } } }

    func release(_ call: HeldCall) { held.withLock { $0.removeAll { $0 === call } } }

    /// Gives up on `call`: the server is told it is cancelled, and it leaves the held calls.
    func cancel(_ call: HeldCall, _ reason: String) {
        release(call)
        let params: JSONObject = ["requestId": call.upstreamID, "reason": .string(reason)]
        session.forward(notification: MCPSession.encode(["jsonrpc": "2.0", "method": "notifications/cancelled", "params": .object(params)]),
                        method: "notifications/cancelled", params: params)
    }

    /// A fresh id for a request forwarded on this leg: a number, which no other request on a leg
    /// has (the gateway's own are strings that begin `orch-`), and which is written, matched and
    /// keyed without building a string.
    func nextID() -> JSONValue {
        .integer(Int64(requests.wrappingAdd(1, ordering: .relaxed).newValue))
    }

    /// Whether the server offers `resources/subscribe`, which the listen streams' resource
    /// subscriptions stand on (a 2026-07-28 server's are named in the session's own listen instead).
    var serverSubscribes: Bool { !session.speaksModernUpstream && initialized["capabilities"]?["resources"]?["subscribe"] == .bool(true) }

    // MARK: listen streams

    /// Starts the listen stream `id` on `sink`: its acknowledgement is the first frame, and from
    /// then on it takes the changes its filter asks for. The server is subscribed to each resource
    /// it names that no other stream of the leg has asked for and that is `readable` now (`timeout`
    /// for each). Nil when the leg has ended.
    func listen(
        _ sink: any ListenSink, id: JSONValue, filter: ListenFilter, readable: (String) -> Bool, timeout: TimeAmount
    ) -> Int? {
        let started = listening.withLock { state -> (Int, [String])? in
            guard !state.ended else { return nil }
            // Pushed under the lock, so no change can come before it.
            _ = sink.push(filter.acknowledgement(id: id))
            let token = state.next
            state.next += 1
            state.listeners[token] = Listener(sink: sink, id: id, filter: filter)
            var fresh: [String] = []
            for uri in filter.resourceSubscriptions {
                state.subscribed[uri, default: 0] += 1
                if state.subscribed[uri] == 1, readable(uri) {
                    state.upstream.insert(uri)
                    fresh.append(uri)
                }
            }
            return (token, fresh)
        }
        guard let (token, fresh) = started else { return nil }
        if serverSubscribes { for uri in fresh { send("resources/subscribe", uri: uri, timeout: timeout) } }
        else if !fresh.isEmpty { session.listen(to: fresh) }
        return token
    }

    /// The listen stream `token` is gone (its client hung up): the resources only it asked for are
    /// unsubscribed.
    func stopListening(_ token: Int, timeout: TimeAmount) {
        let stale = listening.withLock { state -> [String] in
            guard let listener = state.listeners.removeValue(forKey: token) else { return [] }
            var stale: [String] = []
            for uri in listener.filter.resourceSubscriptions {
                state.subscribed[uri, default: 1] -= 1
                if state.subscribed[uri] == 0 {
                    state.subscribed[uri] = nil
                    if state.upstream.remove(uri) != nil { stale.append(uri) }
                }
            }
            return stale
        }
        guard !session.isEnded else { return }
        if serverSubscribes { for uri in stale { send("resources/unsubscribe", uri: uri, timeout: timeout) } }
        else if !stale.isEmpty { session.listen(to: [], stop: stale) }
    }

    private func send(_ method: String, uri: String, timeout: TimeAmount) {
        let id = nextID()
        let params: JSONObject = ["uri": .string(uri)]
        // Nobody waits for the answer: a queue of its own takes it.
        session.forward(request: MCPSession.encode(JSONRPC.request(id: id, method: method, params: params)), id: id, method: method,
                        params: params, target: .response(MessageQueue(), interim: false), timeout: timeout)
    }

    // MARK: ServerMessageTap

    func take(_ message: JSONValue) {
        if case .request(let id, let method, _)? = JSONRPCMessage(message) {
            // A question for a client: the oldest held call that is not asking already takes it.
            if let call = held.withLock({ $0.first { !$0.isAsking && !$0.hasExpired(at: .now) } }) {
                _ = call.queue.push(MCPSession.encode(message))
                return
            }
            // No call to ask in (the leg declared no client capability, or none is in flight): the
            // server is told at once rather than left waiting.
            let refusal = JSONRPC.error(id: id, code: JSONRPC.methodNotFound, "Method not found: \(method) (mcp-orch holds this session for 2026-07-28 clients and has no client to ask)")
            session.upstream?.send(MCPSession.encode(refusal))
            return
        }
        guard let event = ListenFilter.Event(message) else { return }
        let targets = listening.withLock { state in state.listeners.filter { $0.value.filter.matches(event) } }
        var overflowed: [Int] = []
        for (token, listener) in targets {
            if listener.sink.push(ListenFilter.frame(message, id: listener.id)) == .overflow {
                overflowed.append(token)
            }
        }
        // A stream whose client stopped reading is ended; it re-listens and refetches.
        for token in overflowed {
            listening.withLock { $0.listeners[token] }?.sink.finish()
        }
    }

    func keepAlive() {
        for listener in listening.withLock({ Array($0.listeners.values) }) { listener.sink.keepAlive() }
    }

    var holdsOpen: Bool { listening.withLock { !$0.listeners.isEmpty } }

    func sessionEnded() {
        let listeners = listening.withLock { state -> [Listener] in
            state.ended = true
            defer { state.listeners = [:] }
            return Array(state.listeners.values)
        }
        for listener in listeners { listener.sink.ended(closing: ListenFilter.closing(id: listener.id)) }
    }
}

/// Where a listen stream's frames go: the client's SSE stream (`MessageQueue`), or, on an
/// aggregated endpoint, a relay that names them for the endpoint (`AggregateListen`).
protocol ListenSink: Sendable {
    func push(_ frame: JSONValue) -> MessageQueue.PushResult
    func keepAlive()
    /// The client stopped reading: the stream ends.
    func finish()
    /// The leg ended: `closing` is the stream's last frame.
    func ended(closing: JSONValue)
}

extension MessageQueue: ListenSink {
    func push(_ frame: JSONValue) -> PushResult { push(MCPSession.encode(frame)) }

    func ended(closing: JSONValue) {
        _ = push(closing)
        finish()
    }
}
