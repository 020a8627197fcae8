import Foundation
import OrchPolicy
import Synchronization

/// What a live session may use, decided under the policy running now: a reload that narrows a
/// session's access without taking its server away changes what it sees from the next message on,
/// in flight or not, without ending it.
final class SessionAccess: Sendable {
    /// The session's user, key and server, resolved in one policy.
    struct Resolved: Sendable {
        let policy: Policy
        let user: UserID
        let key: KeyID?
        let server: ServerID
    }

    /// The key or sign-in the session is bound to.
    let binding: SessionBinding
    let org: String
    let server: String
    private let store: PolicyStore
    /// The gateway's clock, which decisions without a time of their own are made at.
    let clock: WallClock
    /// The last resolution, reused while its policy runs.
    private let cache = Mutex<Resolved?>(nil)

    init(store: PolicyStore, clock: WallClock = .system, binding: SessionBinding, org: String, server: String) {
        self.store = store
        self.clock = clock
        self.binding = binding
        self.org = org
        self.server = server
    }

    var credential: Credential { binding.credential }

    /// The session's ids in the running policy; nil when its credential or server is gone.
    var current: Resolved? {
        guard let policy = store.policy else { return nil }
        if let cached = cache.withLock({ $0 }), cached.policy === policy { return cached }
        guard let (user, key) = credential.resolve(in: policy), let server = policy.server(org: org, name: server) else { return nil }
        let resolved = Resolved(policy: policy, user: user, key: key, server: server)
        cache.withLock { $0 = resolved }
        return resolved
    }


    /// Whether the session may use `item` now.
    func permits(_ item: Item, at time: Date? = nil) -> Bool {
        guard let r = current else { return false }
        return r.policy.decide(user: r.user, server: r.server, item: item, key: r.key, at: time ?? clock.now()).allowed
    }

    /// Whether the session may use some item of `kind` now (resource templates).
    func grantsSome(_ kind: ItemKind, at time: Date? = nil) -> Bool {
        guard let r = current else { return false }
        return r.policy.grantsSome(kind, user: r.user, server: r.server, key: r.key, at: time ?? clock.now())
    }

    /// Why the session must end on the clock, without a reload: its key expired, or the token that
    /// opened it (or a later one) did; nil while it may go on. A key a reload removed is the
    /// reload's to handle.
    func expiry(at time: Date) -> String? {
        if binding.tokenExpiry != nil { return binding.expiry(at: time) }
        guard let r = current, let key = r.key, r.policy.key(key).isExpired(at: time) else { return nil }
        return "key \(r.policy.key(key).spec.id) expired"
    }
}

/// What a session is bound to: the key or the sign-in (issuer and subject) that opened it. Each
/// request on the session must show the same; for a sign-in, a newer token carries the session on
/// to that token's expiry, and past the latest one the session ends. An aggregated session's
/// members share their session's binding.
final class SessionBinding: Sendable {
    let credential: Credential
    private let expires: Mutex<Date?>

    init(_ caller: Caller) {
        credential = caller.credential
        expires = Mutex(caller.expires)
    }

    /// For a sign-in, when the latest token shown expires.
    var tokenExpiry: Date? { expires.withLock { $0 } }

    /// Whether `caller` may use the session: the same key, or the same issuer and subject.
    func admits(_ caller: Caller) -> Bool {
        guard caller.credential == credential else { return false }
        if let later = caller.expires { expires.withLock { $0 = max($0 ?? later, later) } }
        return true
    }

    /// Why a sign-in's session must end at `time`; nil while its latest token holds (or for a key).
    func expiry(at time: Date) -> String? {
        guard let expires = tokenExpiry, time >= expires else { return nil }
        return "its \(credential.issuer ?? "") sign-in expired at \(Timestamp.format(expires))"
    }
}
