import Foundation
import OrchPolicy
import ServiceLifecycle
import Synchronization

/// Every live MCP session, by id. It enforces `maxSessionsPerKey`, ends idle sessions, ends the
/// sessions a reload takes the permission from, and stops every upstream at shutdown.
final class SessionTable: Sendable {
    private let sessions = Mutex<[String: MCPSession]>([:])

    func insert(_ session: MCPSession) { sessions.withLock { $0[session.id] = session } }
    func remove(_ session: MCPSession) { _ = sessions.withLock { $0.removeValue(forKey: session.id) } }
    func session(_ id: String) -> MCPSession? { sessions.withLock { $0[id] } }
    var all: [MCPSession] { sessions.withLock { Array($0.values) } }

    func count(key: KeyHash) -> Int { sessions.withLock { $0.values.count { $0.keyHash == key } } }

    func count(server: String) -> Int { sessions.withLock { $0.values.count { $0.serverPath == server } } }

    /// After a reload: end each session whose key, user or server grant is gone.
    func apply(_ change: PolicyChange) {
        for session in all where !change.survives(key: session.keyHash, user: session.user, org: session.org, server: session.server) {
            session.end(reason: "permission removed by a policy reload")
        }
    }

    func endIdle(longerThan limit: Duration) {
        let now = ContinuousClock.now
        for session in all where session.isIdle(longerThan: limit, now: now) {
            session.end(reason: "idle for more than \(limit.components.seconds) s")
        }
    }

    /// Ends every session and waits until their processes have stopped.
    func endAll(reason: String) async {
        let sessions = all
        for session in sessions { session.end(reason: reason) }
        for session in sessions { await session.upstream.stop() }
    }
}

/// Ends idle sessions every few seconds, and every session at shutdown (stopping their processes).
struct SessionSweeper: Service {
    let gateway: Gateway
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                let idle = gateway.store.policy?.settings.limits.sessionIdleSeconds ?? 600
                gateway.sessions.endIdle(longerThan: .seconds(idle))
            }
        }
        await gateway.sessions.endAll(reason: "the gateway is shutting down")
    }
}
