import OrchJSON
import Synchronization

/// The held legs, one per key and server: opened on first use (concurrent first uses wait for the
/// one opening), forgotten when their session ends (idle past `sessionIdleSeconds`, a reload that
/// takes the key or the server away, the upstream's exit), so the next request opens a new one.
final class HeldLegs: Sendable {
    struct Key: Hashable, Sendable {
        let credential: Credential
        let org: String
        let server: String
        /// The client capabilities the leg declares (`ModernExchange.asks`): a leg per set.
        var asks: String = ""
    }

    private enum Entry {
        case opening(waiters: [CheckedContinuation<HeldLeg, any Error>])
        case open(HeldLeg)
    }

    private let entries = Mutex<[Key: Entry]>([:])

    /// The open leg of `key`, or the one `open` opens now; an opening that fails fails its waiters too.
    func leg(_ key: Key, open: () async throws -> HeldLeg) async throws -> HeldLeg {
        enum Step { case use(HeldLeg), wait, open }
        let step = entries.withLock { entries -> Step in
            switch entries[key] {
            case .open(let leg)? where !leg.session.isEnded: return .use(leg)
            case .opening?: return .wait
            case .open?, nil:
                entries[key] = .opening(waiters: [])
                return .open
            }
        }
        switch step {
        case .use(let leg):
            return leg
        case .wait:
            return try await withCheckedThrowingContinuation { continuation in
                // The opening may have ended between the two looks.
                let opened = entries.withLock { entries -> HeldLeg?? in
                    switch entries[key] {
                    case .opening(var waiters)?:
                        waiters.append(continuation)
                        entries[key] = .opening(waiters: waiters)
                        return .none
                    case .open(let leg)?: return .some(leg)
                    case nil: return .some(nil)
                    }
                }
                switch opened {
                case .none: break
                case .some(let leg?): continuation.resume(returning: leg)
                case .some(nil): continuation.resume(throwing: UpstreamError.stopped("the server's session could not be opened"))
                }
            }
        case .open:
            let result: Result<HeldLeg, any Error>
            do { result = .success(try await open()) } catch { result = .failure(error) }
            let waiters = entries.withLock { entries -> [CheckedContinuation<HeldLeg, any Error>] in
                guard case .opening(let waiters)? = entries[key] else { return [] }
                if case .success(let leg) = result, !leg.session.isEnded { entries[key] = .open(leg) } else { entries[key] = nil }
                return waiters
            }
            for waiter in waiters { waiter.resume(with: result) }
            return try result.get()
        }
    }

    /// The open leg of `key`, if it has one; never opens one (the fast path's look).
    func openLeg(_ key: Key) -> HeldLeg? {
        entries.withLock { entries in
            if case .open(let leg)? = entries[key], !leg.session.isEnded { leg } else { nil }
        }
    }

    /// Forgets `session`'s leg once it has ended (a newer leg of the key stays).
    func remove(_ key: Key, session: MCPSession) {
        entries.withLock { entries in
            if case .open(let leg)? = entries[key], leg.session === session { entries[key] = nil }
        }
    }

    /// The open legs (for tests).
    var count: Int {
        entries.withLock { entries in entries.values.count { if case .open = $0 { true } else { false } } }
    }
}
