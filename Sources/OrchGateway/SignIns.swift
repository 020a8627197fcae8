import Foundation
import OrchPolicy
import Synchronization

/// Single sign-on tokens verified under the running policy, by their SHA-256 (the token itself is
/// not kept): a token shown again is not verified again (signature, claims, user) while the
/// policy it was verified under runs and until its `exp` (with the verifier's leeway) passes. Its
/// caller is then found as cheaply as a key's, also on the fast path. Dropped on every reload
/// (`removeAll`); bounded: past `capacity` tokens the table starts afresh.
public final class SignIns: Sendable {
    private struct Table {
        var policy: Policy?
        var callers: [KeyHash: Caller] = [:]
    }

    let capacity: Int
    /// How long past `exp` a token still authenticates: the verifier's leeway.
    let leeway: TimeInterval
    private let table = Mutex(Table())

    init(capacity: Int = 4096, leeway: TimeInterval = 60) {
        self.capacity = capacity
        self.leeway = leeway
    }

    /// The caller a token with hash `hash` was verified as under `policy`, if it still holds at `time`.
    func caller(_ hash: KeyHash, policy: Policy, at time: Date) -> Caller? {
        table.withLock { table -> Caller? in
            guard table.policy === policy, let caller = table.callers[hash] else { return nil }
            guard let expires = caller.expires, time.timeIntervalSince(expires) <= leeway else {
                table.callers[hash] = nil
                return nil
            }
            return caller
        }
    }

    /// Keeps a verified token's caller.
    func insert(_ hash: KeyHash, _ caller: Caller) {
        table.withLock { table in
            if table.policy !== caller.policy {
                table = Table(policy: caller.policy)
            } else if table.callers.count >= capacity {
                table.callers.removeAll(keepingCapacity: true)
            }
            table.callers[hash] = caller
        }
    }

    func removeAll() {
        table.withLock { $0 = Table() }
    }

    /// Tokens kept now (for tests).
    public var count: Int { table.withLock { $0.callers.count } }
}
