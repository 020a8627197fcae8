import Foundation
import OrchPolicy
import Synchronization

/// The dashboard's signed-in browsers, in memory (a restart signs everyone out): a random id in
/// the `orch_session` cookie names one, bound to the key or sign-in that opened it. A session ends
/// when it expires (at most `lifetime` after sign-in, and never after the key's expiry or the
/// sign-in token's `exp`), when the browser signs out, and at once when a reload takes the key or
/// the user's access away. Bounded per user: past `perUser` a user's own oldest session goes, so
/// one user signing in again and again signs nobody else out; a full table gives up the oldest
/// session of the user who holds the most.
final class DashboardSessions: Sendable {
    struct Session: Sendable {
        let id: String
        let credential: Credential
        let user: String
        /// Sent back in every form: a request that changes state without it is refused.
        let csrf: String
        let created: Date
        let expires: Date
    }

    let capacity: Int
    let perUser: Int
    let lifetime: TimeInterval
    private let sessions = Mutex<[String: Session]>([:])

    init(capacity: Int = 10_000, perUser: Int = 16, lifetime: TimeInterval = 12 * 3600) {
        self.capacity = capacity
        self.perUser = perUser
        self.lifetime = lifetime
    }

    /// A new session for `caller`.
    func create(for caller: Caller, at time: Date = Date()) -> Session {
        var expires = time.addingTimeInterval(lifetime)
        if let key = caller.key, let keyExpires = caller.policy.key(key).spec.expires { expires = min(expires, keyExpires) }
        if let tokenExpires = caller.expires { expires = min(expires, tokenExpires) }
        let session = Session(
            id: Hex.encode(Crypto.randomBytes(32)), credential: caller.credential, user: caller.userName,
            csrf: Hex.encode(Crypto.randomBytes(16)), created: time, expires: expires)
        sessions.withLock { sessions in
            sessions = sessions.filter { time < $0.value.expires }
            let own = sessions.values.filter { $0.user == session.user }
            if own.count >= perUser, let oldest = own.min(by: { $0.created < $1.created }) {
                sessions[oldest.id] = nil
            } else if sessions.count >= capacity {
                let counts = Dictionary(grouping: sessions.values, by: \.user)
                if let heaviest = counts.values.max(by: { $0.count < $1.count }), let oldest = heaviest.min(by: { $0.created < $1.created }) {
                    sessions[oldest.id] = nil
                }
            }
            sessions[session.id] = session
        }
        return session
    }

    /// The live session `id` and its caller under `policy`; an expired one, or one whose key or
    /// user no longer holds, is ended.
    func caller(_ id: String, policy: Policy, at time: Date = Date()) -> (Session, Caller)? {
        guard let session = sessions.withLock({ $0[id] }) else { return nil }
        guard time < session.expires, let (user, key) = session.credential.resolve(in: policy, user: session.user, at: time) else {
            remove(id)
            return nil
        }
        let caller: Caller
        switch session.credential {
        case .key:
            caller = Caller(policy: policy, user: user, key: key!)
        case .token(let issuer, let subject, let claim):
            caller = Caller(policy: policy, user: user, issuer: issuer, subject: subject, claim: claim, expires: session.expires)
        }
        return (session, caller)
    }

    func remove(_ id: String) {
        sessions.withLock { _ = $0.removeValue(forKey: id) }
    }

    /// After a reload: every session whose key or user no longer holds ends.
    func apply(_ change: PolicyChange) {
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value.credential.resolve(in: change.new, user: $0.value.user, at: change.at) != nil }
        }
    }

    var all: [Session] { sessions.withLock { Array($0.values) } }
}
