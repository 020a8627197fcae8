import OrchAuth
import OrchJSON
import OrchPolicy
import Synchronization

/// Documents fetched from elsewhere (an issuer's discovery document, a server's OAuth metadata),
/// kept for `lifetime` and a failure for `failureLifetime`, so that anonymous requests do not each
/// fetch them again. Kept by `Key`: a reload that changes what a key holds fetches anew.
final class FetchCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    typealias Fetch = @Sendable (Key) async throws -> Value

    /// Why a fetch failed, as its error described it.
    struct Failure: Error, Sendable, CustomStringConvertible {
        let description: String
    }

    private struct Entry: Sendable {
        let result: Result<Value, Failure>
        let fetched: ContinuousClock.Instant
    }

    let lifetime: Duration
    let failureLifetime: Duration
    private let fetch: Fetch
    private let now: @Sendable () -> ContinuousClock.Instant
    private let entries = Mutex<[Key: Entry]>([:])
    private let counter = Mutex(0)

    init(
        lifetime: Duration = .seconds(600), failureLifetime: Duration = .seconds(10),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }, fetch: @escaping Fetch
    ) {
        self.lifetime = lifetime
        self.failureLifetime = failureLifetime
        self.now = now
        self.fetch = fetch
    }

    /// The values kept now (fetched well, not past `lifetime`).
    var kept: [Value] {
        let time = now()
        return entries.withLock { $0.values.compactMap { time - $0.fetched < lifetime ? try? $0.result.get() : nil } }
    }

    /// How many times a document was fetched (for tests).
    var fetches: Int { counter.withLock { $0 } }

    func value(for key: Key) async throws(Failure) -> Value {
        let time = now()
        if let entry = entries.withLock({ $0[key] }) {
            let kept = (try? entry.result.get()) == nil ? failureLifetime : lifetime
            if time - entry.fetched < kept { return try entry.result.get() }
        }
        counter.withLock { $0 += 1 }
        let result: Result<Value, Failure>
        do {
            result = .success(try await fetch(key))
        } catch {
            result = .failure(Failure(description: "\(error)"))
        }
        entries.withLock { $0[key] = Entry(result: result, fetched: time) }
        return try result.get()
    }
}

/// The `auth.oidc` issuers' discovery documents, for the dashboard's sign-in.
typealias DiscoveryCache = FetchCache<OIDCIssuer, JSONValue>

extension FetchCache where Key == OIDCIssuer, Value == JSONValue {
    convenience init() {
        self.init { try await HTTPKeyFetcher().discovery(for: $0) }
    }

    func document(for issuer: OIDCIssuer) async throws(DashboardSignInError) -> JSONValue {
        do {
            return try await value(for: issuer)
        } catch {
            throw DashboardSignInError(description: error.description)
        }
    }
}
