import Foundation
import OrchAuth
@testable import OrchGateway
import OrchPolicy
import Testing

// The authenticator on its own: the policy store, the sign-ins and a clock passed in, no gateway.

private func authenticator(at clock: ManualClock) throws -> Authenticator {
    let g = try TestGateway(clock: clock.clock)
    return Authenticator(store: g.gateway.store, signIns: SignIns(), clock: clock.clock,
                         verifier: OIDCVerifier(fetcher: HTTPKeyFetcher(), now: clock.clock.now), metrics: GatewayMetrics(),
                         resource: { _ in "https://orch.example.com" })
}

private func refusal(_ result: Result<Caller, Authenticator.Refusal>?) -> String? {
    if case .failure(let refusal)? = result { return "\(refusal.kind): \(refusal.reason)" }
    return nil
}

@Test func theAuthenticatorProvesKeysOnItsClockAndNamesEachRefusal() throws {
    // The day before bob's laptop key expires.
    let clock = ManualClock(ISO8601DateFormatter().date(from: "2098-12-31T12:00:00Z")!)
    let auth = try authenticator(at: clock)
    guard case .success(let bob)? = auth.known("Bearer \(Tokens.bob)") else { Issue.record("bob's key"); return }
    #expect(bob.userName == "bob" && bob.keyName == "laptop")
    #expect(refusal(auth.known("bearer   \(Tokens.alice)  ")) == nil)  // the scheme in any case, the token trimmed
    #expect(refusal(auth.known(nil)) == "missing: missing bearer token")
    #expect(refusal(auth.known("Basic \(Tokens.alice)")) == "missing: missing bearer token")
    #expect(refusal(auth.known("Bearer orch_test-nobody")) == "unknown: unknown token")
    #expect(refusal(auth.known("Bearer \(Tokens.dave)")) == "disabled: user dave is disabled")
    #expect(refusal(auth.known("Bearer \(Tokens.carolExpired)"))?.hasPrefix("expired: key old expired at 2020-01-01") == true)
    // A day later the same key has expired, on this clock alone.
    clock.advance(by: 86_400)
    #expect(refusal(auth.known("Bearer \(Tokens.bob)"))?.hasPrefix("expired: key laptop expired at 2099-01-01") == true)
}
