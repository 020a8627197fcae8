import Foundation
import OrchPolicy
import Synchronization

/// What a live session may use, decided under the policy running now: a reload that narrows a
/// session's access without taking its server away changes what it sees from the next message on,
/// in flight or not, without ending it.
final class SessionAccess: Sendable {
    /// The session's key, user and server, resolved in one policy.
    struct Resolved: Sendable {
        let policy: Policy
        let user: UserID
        let key: KeyID
        let server: ServerID
    }

    let keyHash: KeyHash
    let org: String
    let server: String
    private let store: PolicyStore
    /// The last resolution, reused while its policy runs.
    private let cache = Mutex<Resolved?>(nil)

    init(store: PolicyStore, keyHash: KeyHash, org: String, server: String) {
        self.store = store
        self.keyHash = keyHash
        self.org = org
        self.server = server
    }

    /// The session's ids in the running policy; nil when its key or server is gone.
    var current: Resolved? {
        guard let policy = store.policy else { return nil }
        if let cached = cache.withLock({ $0 }), cached.policy === policy { return cached }
        guard let key = policy.key(hash: keyHash), let server = policy.server(org: org, name: server) else { return nil }
        let resolved = Resolved(policy: policy, user: policy.key(key).user, key: key, server: server)
        cache.withLock { $0 = resolved }
        return resolved
    }

    /// Whether the session may use `item` now.
    func permits(_ item: Item, at time: Date = Date()) -> Bool {
        guard let r = current else { return false }
        return r.policy.decide(user: r.user, server: r.server, item: item, key: r.key, at: time).allowed
    }

    /// Whether the session may use some item of `kind` now (resource templates).
    func grantsSome(_ kind: ItemKind, at time: Date = Date()) -> Bool {
        guard let r = current else { return false }
        return r.policy.grantsSome(kind, user: r.user, server: r.server, key: r.key, at: time)
    }

    /// Whether the session's key has expired (on the clock, without a reload). A key a reload
    /// removed is the reload's to handle.
    func keyExpired(at time: Date) -> Bool {
        guard let r = current else { return false }
        return r.policy.key(r.key).isExpired(at: time)
    }
}
