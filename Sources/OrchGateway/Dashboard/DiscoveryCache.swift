import OrchAuth
import OrchJSON
import OrchPolicy
import Synchronization

/// The issuers' discovery documents for the dashboard's sign-in, kept for `lifetime` (a failure for
/// `failureLifetime`), so that anonymous `/ui/oidc/start` requests do not each fetch the document
/// from the issuer again. Kept by issuer URL: a reload that changes an issuer's URL fetches anew.
final class DiscoveryCache: Sendable {
    typealias Fetch = @Sendable (OIDCIssuer) async throws -> JSONValue

    private struct Entry: Sendable {
        let result: Result<JSONValue, DashboardSignInError>
        let fetched: ContinuousClock.Instant
    }

    let lifetime: Duration
    let failureLifetime: Duration
    private let fetch: Fetch
    private let now: @Sendable () -> ContinuousClock.Instant
    private let entries = Mutex<[String: Entry]>([:])
    private let counter = Mutex(0)

    init(
        lifetime: Duration = .seconds(600), failureLifetime: Duration = .seconds(10),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now },
        fetch: @escaping Fetch = { try await HTTPKeyFetcher().discovery(for: $0) }
    ) {
        self.lifetime = lifetime
        self.failureLifetime = failureLifetime
        self.now = now
        self.fetch = fetch
    }

    /// How many times a document was fetched (for tests).
    var fetches: Int { counter.withLock { $0 } }

    func document(for issuer: OIDCIssuer) async throws(DashboardSignInError) -> JSONValue {
        let time = now()
        if let entry = entries.withLock({ $0[issuer.issuer] }) {
            let kept = (try? entry.result.get()) == nil ? failureLifetime : lifetime
            if time - entry.fetched < kept { return try entry.result.get() }
        }
        counter.withLock { $0 += 1 }
        let result: Result<JSONValue, DashboardSignInError>
        do {
            result = .success(try await fetch(issuer))
        } catch {
            result = .failure(DashboardSignInError(description: "\(error)"))
        }
        entries.withLock { $0[issuer.issuer] = Entry(result: result, fetched: time) }
        return try result.get()
    }
}
