import Foundation
import OrchAuth
import OrchJSON
import OrchPolicy
import Synchronization
import Testing

@testable import OrchGateway

// The dashboard's bounded tables: one user signing in again and again, or anonymous sign-ins
// started from a few addresses, never push anyone else out; the issuer's discovery document is
// fetched once for many sign-ins.

private func caller(_ user: String, _ key: String, _ policy: Policy) throws -> Caller {
    let id = try #require(policy.user(named: user))
    return Caller(policy: policy, user: id, key: try #require(policy.key(user: id, id: key)))
}

@Test func oneUserSigningInAgainAndAgainSignsOnlyThemselvesOut() throws {
    let policy = try #require(compile(testPolicyJSON()).policy)
    let sessions = DashboardSessions(capacity: 8, perUser: 3)
    let alice = sessions.create(for: try caller("alice", "laptop", policy))
    var bobs: [DashboardSessions.Session] = []
    for _ in 0..<50 { bobs.append(sessions.create(for: try caller("bob", "laptop", policy))) }
    #expect(sessions.caller(alice.id, policy: policy) != nil, "alice was signed out by bob's sign-ins")
    // bob keeps his newest three.
    #expect(bobs.suffix(3).allSatisfy { sessions.caller($0.id, policy: policy) != nil })
    #expect(bobs.dropLast(3).allSatisfy { sessions.caller($0.id, policy: policy) == nil })
    #expect(sessions.all.count == 4)
}

@Test func aFullTableGivesUpTheSessionOfTheUserWhoHoldsTheMost() throws {
    let policy = try #require(compile(testPolicyJSON()).policy)
    let sessions = DashboardSessions(capacity: 4, perUser: 3)
    let alice = sessions.create(for: try caller("alice", "laptop", policy))
    let bobs = try (0..<3).map { _ in sessions.create(for: try caller("bob", "laptop", policy)) }
    // Full: a new session of bob's CI key (bob again) or of anyone goes at bob's expense.
    let other = sessions.create(for: try caller("alice", "laptop", policy))
    #expect(sessions.caller(alice.id, policy: policy) != nil && sessions.caller(other.id, policy: policy) != nil)
    #expect(sessions.caller(bobs[0].id, policy: policy) == nil)
    #expect(sessions.all.count == 4)
}

private func pending(_ remote: String, _ started: Date) -> DashboardSignIn.Pending {
    DashboardSignIn.Pending(issuer: "sso", verifier: "v", redirectURI: "https://orch.example.com/ui/oidc/callback", started: started, remote: remote)
}

@Test func anonymousSignInsFromFewAddressesNeverPushOutAnotherBrowsers() {
    let table = PendingSignIns(capacity: 40, perAddress: 4)
    let start = Date()
    table.insert("browser", pending("192.0.2.10", start), at: start)
    // Five addresses start thousands of sign-ins.
    for i in 0..<5000 {
        table.insert("flood-\(i)", pending("198.51.100.\(i % 5)", start.addingTimeInterval(Double(i) / 1000)), at: start.addingTimeInterval(Double(i) / 1000))
    }
    #expect(table.count == 21)
    #expect(table.take("browser", at: start.addingTimeInterval(10)) != nil)
    // Many addresses fill the table: the one that holds the most gives way, not the browser.
    table.insert("browser-2", pending("192.0.2.11", start), at: start.addingTimeInterval(11))
    for i in 0..<30 {
        table.insert("wide-\(i)", pending("203.0.113.\(i)", start.addingTimeInterval(12)), at: start.addingTimeInterval(12))
    }
    #expect(table.count == 40)
    #expect(table.take("browser-2", at: start.addingTimeInterval(13)) != nil)
    // Each is good for ten minutes and taken once.
    table.insert("late", pending("192.0.2.12", start), at: start)
    #expect(table.take("late", at: start.addingTimeInterval(601)) == nil)
}

@Test func theDiscoveryDocumentIsFetchedOnceForManySignInsAndAFailureBriefly() async throws {
    let clock = Mutex(ContinuousClock.now)
    let failing = Mutex(false)
    let cache = DiscoveryCache(lifetime: .seconds(600), failureLifetime: .seconds(10), now: { clock.withLock { $0 } }) { _ in
        if failing.withLock({ $0 }) { throw URLError(.cannotConnectToHost) }
        return ["authorization_endpoint": "https://id.example.com/auth", "token_endpoint": "https://id.example.com/token"]
    }
    let text = #"{"version": 1, "auth": {"oidc": {"sso": {"issuer": "https://id.example.com"}}}, "roles": {}, "orgs": {}, "users": {}}"#
    let issuer = try #require(compile(text).policy?.issuer(named: "sso"))
    for _ in 0..<100 { _ = try await cache.document(for: issuer) }
    #expect(cache.fetches == 1)
    clock.withLock { $0 += .seconds(601) }
    failing.withLock { $0 = true }
    for _ in 0..<20 { await #expect(throws: DashboardSignInError.self) { try await cache.document(for: issuer) } }
    #expect(cache.fetches == 2)
    clock.withLock { $0 += .seconds(11) }
    failing.withLock { $0 = false }
    #expect(try await cache.document(for: issuer)["token_endpoint"] == "https://id.example.com/token")
    #expect(cache.fetches == 3)
}
