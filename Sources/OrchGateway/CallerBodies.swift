import NIOCore
import OrchPolicy
import Synchronization

/// The encoded bodies of `GET /api/v1/me` and `GET /api/v1/servers`, kept per caller. Each answer
/// depends only on the policy, the caller's key (which names its user) or user and issuer (a
/// sign-in) and the public URL, and the time matters only through the key's or token's expiry,
/// which authentication checks before any body is served; so a body made once stands until the
/// policy is replaced (`removeAll`, on every reload).
/// Bounded: past `capacity` bodies the table starts afresh.
final class CallerBodies: Sendable {
    enum Kind: Hashable, Sendable {
        case me
        case servers
    }

    private struct Entry: Hashable {
        let kind: Kind
        let user: UserID
        let key: KeyID?
        let issuer: String?
    }

    private struct Table {
        /// The policy the bodies were made from.
        var policy: Policy?
        var publicURL = ""
        var bodies: [Entry: ByteBuffer] = [:]
    }

    let capacity: Int
    private let table = Mutex(Table())

    init(capacity: Int = 4096) {
        self.capacity = capacity
    }

    /// The body of `kind` for the caller: the kept one, or `make()`'s, which is then kept.
    /// `publicURL` is the one the body's endpoints are written with.
    func body(_ kind: Kind, for caller: Caller, publicURL: String, make: () -> ByteBuffer) -> ByteBuffer {
        let entry = Entry(kind: kind, user: caller.user, key: caller.key, issuer: caller.credential.issuer)
        let kept = table.withLock { table -> ByteBuffer? in
            guard table.policy === caller.policy, table.publicURL == publicURL else { return nil }
            return table.bodies[entry]
        }
        if let kept { return kept }
        // Made outside the lock; two requests may make the same body at once, and either is kept.
        let body = make()
        table.withLock { table in
            if table.policy !== caller.policy || table.publicURL != publicURL {
                table = Table(policy: caller.policy, publicURL: publicURL)
            } else if table.bodies.count >= capacity {
                table.bodies.removeAll(keepingCapacity: true)
            }
            table.bodies[entry] = body
        }
        return body
    }

    /// Forgets every body, and the policy they were made from.
    func removeAll() {
        table.withLock { $0 = Table() }
    }

    /// Bodies kept now (for tests).
    var count: Int { table.withLock { $0.bodies.count } }
}
