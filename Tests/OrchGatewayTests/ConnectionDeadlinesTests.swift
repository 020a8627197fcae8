import NIOCore
@testable import OrchGateway
import Testing

// What a connection's client must have sent by when (ConnectionGuard acts on it).

private let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
private let rules = ConnectionDeadlines.Rules(headSeconds: 10)

@Test func aNewConnectionOwesAHeadAndClosesWhenSilent() {
    let deadlines = ConnectionDeadlines(rules: rules, connectedAt: start)
    #expect(deadlines.next?.lapse == .head)
    #expect(deadlines.lapsed(at: start + .seconds(9)) == nil)
    #expect(deadlines.lapsed(at: start + .seconds(10)) == .head)
    #expect(deadlines.closesWhenSilent)
}

@Test func aBodyGetsTheHeadsGraceThenOneSecondPerKiBAndAtMostSixtySeconds() {
    var deadlines = ConnectionDeadlines(rules: rules, connectedAt: start)
    deadlines.head(at: start + .seconds(1))
    #expect(deadlines.next?.lapse == .body)
    #expect(deadlines.next?.deadline == start + .seconds(11))
    // A byte a second earns next to nothing (9 bytes: 9 ms): cut at about the grace.
    deadlines.bodyBytes(9)
    #expect(deadlines.lapsed(at: start + .seconds(11)) == nil)
    #expect(deadlines.lapsed(at: start + .milliseconds(11_010)) == .body)
    // 20 KiB moves the deadline 20 s later; no rate moves it past 60 s after the head.
    deadlines.bodyBytes(20 * 1024 - 9)
    #expect(deadlines.next?.deadline == start + .seconds(31))
    deadlines.bodyBytes(1 << 20)
    #expect(deadlines.next?.deadline == start + .seconds(61))
    #expect(deadlines.closesWhenSilent)
}

@Test func aRequestWhoseBodyArrivedIsNeverCutAndTheNextHeadIsDueAfterItsResponse() {
    var deadlines = ConnectionDeadlines(rules: rules, connectedAt: start)
    deadlines.head(at: start)
    deadlines.bodyEnded()
    #expect(deadlines.next == nil)
    #expect(!deadlines.closesWhenSilent)
    deadlines.responseEnded(at: start + .seconds(300))
    #expect(deadlines.next?.lapse == .head)
    #expect(deadlines.next?.deadline == start + .seconds(310))
    // Between requests on a kept-alive connection only the head deadline applies, never silence.
    #expect(!deadlines.closesWhenSilent)
}
