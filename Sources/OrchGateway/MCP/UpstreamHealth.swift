import Foundation
import Logging
import OrchPolicy
import Synchronization

/// How each server answers each credential on the aggregated and toolset endpoints, so that a
/// failing or slow one degrades the federation instead of holding it up, and heals it when it
/// answers again. A server that fails a list or a call there (or times out) is failing for that
/// credential, for every session and view of it: it is left out of lists at once, its calls get a
/// clear upstream error, and the gateway retries it in the background (a fresh listing of its own,
/// with the caller's secrets or account) after 1 s, doubling to at most 15 s. When a retry, or a
/// list after the wait, finds it answering, it is put back and every session and `subscriptions/listen`
/// stream of that credential on an endpoint that holds it hears its lists changed.
final class UpstreamHealth: Sendable {
    struct Key: Hashable, Sendable {
        /// `ORG/SERVER`.
        let server: String
        let credential: Credential
    }

    struct Failing: Sendable {
        let reason: String
        let failures: Int
        /// When the next try is due.
        let retryAt: ContinuousClock.Instant
        /// The credential's user, whose secrets or account the retry lists with.
        let user: String
        /// A retry is running.
        var retrying = false
    }

    static let firstBackoff: Duration = .seconds(1)
    static let maxBackoff: Duration = .seconds(15)

    private let failing = Mutex<[Key: Failing]>([:])

    /// How long the `failures`th retry waits: 1 s, 2 s, 4 s, 8 s, then 15 s.
    static func backoff(after failures: Int) -> Duration {
        let seconds = min(Double(1 << min(max(failures - 1, 0), 8)), 15)
        return .seconds(seconds)
    }

    /// The server's failure for the credential while its retry is not due yet or is running; nil
    /// when it may be tried now.
    func waiting(_ key: Key) -> Failing? {
        failing.withLock { all in
            guard let entry = all[key], entry.retrying || ContinuousClock.now < entry.retryAt else { return nil }
            return entry
        }
    }

    /// Whether the server is failing for the credential at all (waiting or due).
    func isFailing(_ key: Key) -> Bool { failing.withLock { $0[key] != nil } }

    /// Records a failure; true when the server was answering until now (a retry loop starts).
    @discardableResult
    func failed(_ key: Key, reason: String, user: String) -> (started: Bool, wait: Duration) {
        failing.withLock { all in
            let failures = (all[key]?.failures ?? 0) + 1
            let wait = Self.backoff(after: failures)
            let started = all[key] == nil
            all[key] = Failing(reason: reason, failures: failures, retryAt: .now + wait, user: user)
            return (started, wait)
        }
    }

    /// The failing servers whose retry is due and not running yet, now marked as running.
    func due() -> [(Key, Failing)] {
        failing.withLock { all in
            let now = ContinuousClock.now
            var due: [(Key, Failing)] = []
            for (key, entry) in all where !entry.retrying && entry.retryAt <= now {
                all[key]?.retrying = true
                due.append((key, entry))
            }
            return due
        }
    }

    /// Records an answer; true when the server was failing until now.
    @discardableResult
    func answered(_ key: Key) -> Bool { failing.withLock { $0.removeValue(forKey: key) != nil } }

    var count: Int { failing.withLock { $0.count } }
}

extension Gateway {
    /// A server failed a list or a call of `caller`'s on an aggregated or toolset endpoint: it is
    /// left out and retried (logged once when it starts failing). A caller's own missing secret or
    /// account, or the gateway stopping the request, is not the server failing.
    func federationFailed(_ server: ResolvedServer, _ caller: Caller, _ error: UpstreamError) {
        if [.missingSecret, .notConnected, .stopped].contains(error.kind) { return }
        let key = UpstreamHealth.Key(server: server.path, credential: caller.credential)
        let (started, wait) = health.failed(key, reason: error.message, user: caller.userName)
        if started {
            logger.warning("\(server.path) is failing for \(caller.userName) (\(error.message)): left out of aggregated and toolset lists, retried in \(wait.components.seconds) s, then less often (at most every 15 s)")
        }
    }

    /// A server answered a list of `caller`'s: if it was failing, it is back.
    func federationAnswered(_ server: ResolvedServer, _ caller: Caller) {
        let key = UpstreamHealth.Key(server: server.path, credential: caller.credential)
        guard health.isFailing(key) else { return }
        recovered(key)
    }

    /// Runs the retries that are due (the session ticker calls it): each lists the server afresh
    /// with the failing credential's user.
    func retryFailingUpstreams() {
        for (key, entry) in health.due() {
            Task {
                guard let policy = store.policy, case .success(let target) = Target.parse(key.server),
                    let id = policy.server(org: target.org, name: target.server), key.credential.resolve(in: policy) != nil
                else {
                    health.answered(key)  // the server or the credential is gone: nothing to retry
                    return
                }
                switch await catalogListing(policy, id, user: entry.user, fresh: true) {
                case .success: recovered(key)
                case .failure(let error): health.failed(key, reason: error.message, user: entry.user)
                }
            }
        }
    }

    /// A failing server answers again: every session and listen stream of the credential on an
    /// endpoint of its org hears that its lists changed.
    private func recovered(_ key: UpstreamHealth.Key) {
        guard health.answered(key) else { return }
        logger.info("\(key.server) answers again: back in aggregated and toolset lists")
        let org = key.server.split(separator: "/").first.map(String.init)
        for session in aggregates.all where session.binding.credential == key.credential && (session.org == nil || session.org == org) {
            session.notifyListsChanged()
        }
        for view in heldAggregates.views(of: key.credential) where view.scope.view.org == nil || view.scope.view.org == org {
            for listen in view.streams { listen.endListsChanged() }
        }
    }
}
