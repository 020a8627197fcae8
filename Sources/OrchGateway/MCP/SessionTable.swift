import Foundation
import NIOCore
import OrchJSON
import OrchPolicy
import ServiceLifecycle
import Synchronization

/// Every MCP session, by id, and the gateway's count of upstream processes. A session takes its
/// slot (per key and server, and a process when it runs one) under the lock, before its upstream
/// starts, so concurrent initializes can never pass a limit. An aggregated session takes a slot of
/// the same count, its endpoint standing for the server (`reserve(_:on:limit:)`).
final class SessionTable: Sendable {
    private struct SlotKey: Hashable {
        let credential: Credential
        let server: String
    }

    private struct State {
        var sessions: [String: MCPSession] = [:]
        /// The sessions holding slots: one re-created under an id may take it from an ended one
        /// not yet removed, which still gives its slots back.
        var registered: Set<ObjectIdentifier> = []
        var perKeyServer: [SlotKey: Int] = [:]
        var processes = 0
        /// Sealed ids the clients ended (DELETE), until their expiry (seconds since 1970): never
        /// re-created here.
        var ended: [String: Int64] = [:]
        /// Sealed ids being re-created, and the requests waiting for each.
        var recreating: [String: [CheckedContinuation<MCPSession?, Never>]] = [:]
        /// Set at shutdown, when every session is ended: no new one may start after that.
        var closed = false

        mutating func take(_ slot: SlotKey, limit: Int) throws(Refusal) {
            guard !closed else { throw .closed }
            let held = perKeyServer[slot, default: 0]
            guard held < limit else { throw .perKeyServer(limit: limit) }
            perKeyServer[slot] = held + 1
        }

        mutating func giveBack(_ slot: SlotKey) {
            let held = perKeyServer[slot, default: 1] - 1
            perKeyServer[slot] = held > 0 ? held : nil
        }
    }

    enum Refusal: Error, Equatable {
        /// The key already holds `limit` sessions on the server.
        case perKeyServer(limit: Int)
        /// The gateway already runs `limit` upstream processes.
        case processes(limit: Int)
        /// The gateway is shutting down.
        case closed
    }

    private let state = Mutex(State())

    /// Registers `session`, taking its slots; refuses past a limit.
    func insert(_ session: MCPSession, limit: Int, processLimit: Int) throws(Refusal) {
        try state.withLock { (state: inout State) throws(Refusal) in
            let slot = SlotKey(credential: session.credential, server: session.serverPath)
            try state.take(slot, limit: limit)
            if session.usesProcess {
                guard state.processes < processLimit else {
                    state.giveBack(slot)
                    throw .processes(limit: processLimit)
                }
                state.processes += 1
            }
            state.registered.insert(ObjectIdentifier(session))
            state.sessions[session.id] = session
        }
    }

    /// Unregisters `session` and gives its slots back (once).
    func remove(_ session: MCPSession) {
        state.withLock { state in
            guard state.registered.remove(ObjectIdentifier(session)) != nil else { return }
            // Only this very session: a re-created one may hold its id by now.
            if state.sessions[session.id] === session { state.sessions[session.id] = nil }
            state.giveBack(SlotKey(credential: session.credential, server: session.serverPath))
            if session.usesProcess { state.processes -= 1 }
        }
    }

    /// Gives `session` its sealed id, good until `expires`, under which it is found from now on.
    func rename(_ session: MCPSession, to id: String, expires: Int64) {
        state.withLock { state in
            guard state.sessions[session.id] === session else { return }
            state.sessions[session.id] = nil
            session.takeID(id, expires: expires)
            state.sessions[id] = session
        }
    }

    /// Remembers that the client ended the session `id` (sealed, good until `expires`).
    func ended(_ id: String, expires: Int64, now: Int64) {
        guard expires > now else { return }
        state.withLock { state in
            if state.ended.count >= 4096 { state.ended = state.ended.filter { $0.value > now } }
            state.ended[id] = expires
        }
    }

    /// Whether the client ended the session `id` here.
    func wasEnded(_ id: String) -> Bool { state.withLock { $0.ended[id] != nil } }

    /// The session `id` re-created by `make`, once however many requests ask at the same time: the
    /// first runs `make`, the others wait for what it made (nil: refused or failed).
    func recreated(_ id: String, make: () async -> MCPSession?) async -> MCPSession? {
        enum Role { case held(MCPSession), lead, wait }
        let role = state.withLock { state -> Role in
            if let held = state.sessions[id], held.phase == .open { return .held(held) }
            if state.recreating[id] != nil { return .wait }
            state.recreating[id] = []
            return .lead
        }
        switch role {
        case .held(let session):
            return session
        case .lead:
            let made = await make()
            let waiting = state.withLock { $0.recreating.removeValue(forKey: id) ?? [] }
            for waiter in waiting { waiter.resume(returning: made) }
            return made
        case .wait:
            return await withCheckedContinuation { waiter in
                let waits = state.withLock { state -> Bool in
                    guard state.recreating[id] != nil else { return false }
                    state.recreating[id]!.append(waiter)
                    return true
                }
                if !waits { waiter.resume(returning: session(id)) }
            }
        }
    }

    /// Forgets the ended ids past their expiry.
    func pruneEnded(now: Int64) {
        state.withLock { state in state.ended = state.ended.filter { $0.value > now } }
    }

    /// Takes a slot of `credential` on an aggregated endpoint (`/orgs/ORG/mcp` or `/mcp`), counted
    /// as a server's sessions are; refuses past `limit`.
    func reserve(_ credential: Credential, on endpoint: String, limit: Int) throws(Refusal) {
        try state.withLock { (state: inout State) throws(Refusal) in
            try state.take(SlotKey(credential: credential, server: endpoint), limit: limit)
        }
    }

    /// Gives back a slot `reserve(_:on:limit:)` took.
    func release(_ credential: Credential, on endpoint: String) {
        state.withLock { $0.giveBack(SlotKey(credential: credential, server: endpoint)) }
    }

    /// Takes a process slot for work outside a session (a tool-catalog fetch).
    func reserveProcess(limit: Int) -> Bool {
        state.withLock { state in
            guard !state.closed, state.processes < limit else { return false }
            state.processes += 1
            return true
        }
    }

    func releaseProcess() { state.withLock { $0.processes -= 1 } }

    var processCount: Int { state.withLock { $0.processes } }

    /// The open session `id` (one still initializing or already ended is not handed out).
    func session(_ id: String) -> MCPSession? {
        guard let session = state.withLock({ $0.sessions[id] }), session.phase == .open else { return nil }
        return session
    }

    /// Whether a session is registered under `id`, open or not.
    func holds(_ id: String) -> Bool { state.withLock { $0.sessions[id] != nil } }

    var all: [MCPSession] { state.withLock { Array($0.sessions.values) } }

    func count(server: String) -> Int { state.withLock { $0.sessions.values.count { $0.serverPath == server } } }

    /// After a reload: end each session whose key or server grant is gone or whose server's
    /// definition changed; tell the others which of their lists changed (their next lists and
    /// calls are decided under the new policy anyway).
    func apply(_ change: PolicyChange) {
        for session in all {
            switch change.effect(onSessionOf: session.credential, user: session.user, org: session.org, server: session.server) {
            case .ends(let reason):
                session.end(.stopped(reason))
            case .changes(let kinds):
                for kind in kinds {
                    session.notify(["jsonrpc": "2.0", "method": .string("notifications/\(kind.plural)/list_changed")])
                }
            case .none:
                break
            }
        }
    }

    /// Ends every session and waits until their upstreams have stopped (each bounded by its stop
    /// sequence), all at once.
    func endAll(reason: String) async {
        // Closed first, under the lock: a session that initializes from now on is refused, so
        // none can start after this and outlive the gateway.
        let sessions = state.withLock { state in
            state.closed = true
            return Array(state.sessions.values)
        }
        for session in sessions { session.end(.stopped(reason)) }
        await withTaskGroup(of: Void.self) { group in
            for session in sessions { group.addTask { await session.waitUntilStopped() } }
        }
    }
}

/// The sessions' clock: every `tick` it answers requests past their deadline; every
/// `keepAliveInterval` it wakes idle SSE streams for a keep-alive comment and ends idle sessions.
/// One loop for all sessions, so a request costs no timer of its own. At shutdown it ends every
/// session and waits for their upstreams to stop.
struct SessionTicker: Service {
    let gateway: Gateway
    var tick: Duration = .milliseconds(100)
    var keepAliveInterval: Duration = .seconds(5)

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var lastKeepAlive = ContinuousClock.now
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                let now = NIODeadline.now()
                gateway.retryFailingUpstreams()
                let sessions = gateway.sessions.all
                let time = gateway.clock.now()
                for session in sessions {
                    session.expire(now: now)
                    // A key or a sign-in expires on the clock, without a reload.
                    if let reason = session.access.expiry(at: time) ?? session.sealExpiry(at: time) { session.end(.stopped(reason)) }
                }
                guard ContinuousClock.now - lastKeepAlive >= keepAliveInterval else { continue }
                lastKeepAlive = .now
                gateway.sessions.pruneEnded(now: Int64(time.timeIntervalSince1970))
                let idle = TimeAmount.seconds(Int64(gateway.store.policy?.settings.limits.sessionIdleSeconds ?? 600))
                for session in sessions {
                    session.keepAlive()
                    if session.isIdle(now: now, limit: idle) { session.end(.stopped("idle for more than \(idle.nanoseconds / 1_000_000_000) s")) }
                }
                for aggregate in gateway.aggregates.all {
                    if let reason = aggregate.expiry(at: time) { aggregate.end(reason) }
                    aggregate.keepAlive()
                    if aggregate.isIdle(now: now, limit: idle) { aggregate.end("idle for more than \(idle.nanoseconds / 1_000_000_000) s") }
                }
            }
        }
        gateway.audit.feed.finishAll()
        await gateway.aggregates.endAll(reason: "the gateway is shutting down")
        await gateway.sessions.endAll(reason: "the gateway is shutting down")
    }
}
