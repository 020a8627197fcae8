import Foundation
import NIOCore
import OrchPolicy
import Synchronization

/// `gateway.limits.perUser` and servers' `limits`, held in this replica: a token bucket per limit
/// and user (capacity the per-minute value, refilled continuously), and counts of the calls in
/// flight. A refused request takes no token, and nothing ever waits: over a limit the answer is at
/// once, with the seconds after which a retry can pass.
final class Limiter: Sendable {
    /// What went over, for the client, the audit log and `orch_limited_total{limit}`.
    struct Refusal: Error, Equatable {
        /// The limit's name: `perUser.toolCallsPerMinute`, `acme/notes.concurrentCalls`,
        /// `acme/notes.tools.delete_*.callsPerMinute`.
        let limit: String
        let retryAfterSeconds: Int
        let message: String
    }

    private struct Bucket {
        var tokens: Double
        var updated: NIODeadline
    }

    private struct State {
        var buckets: [String: Bucket] = [:]
        var inFlight: [String: Int] = [:]
    }

    private let state = Mutex(State())
    /// Past this many buckets, the full ones (which a new bucket would equal) are dropped.
    private let maxBuckets: Int
    private let now: @Sendable () -> NIODeadline

    init(maxBuckets: Int = 100_000, now: @escaping @Sendable () -> NIODeadline = { .now() }) {
        self.maxBuckets = maxBuckets
        self.now = now
    }

    /// One rate to take a token of: its name, the bucket's key and the per-minute value.
    private struct Rate {
        let limit: String
        let key: String
        let perMinute: Int
    }

    /// One authenticated HTTP request of `user`: nil when it may go on (a token taken).
    func admitRequest(user: String, _ limits: PerUserLimits) -> Refusal? {
        guard let perMinute = limits.requestsPerMinute else { return nil }
        let rate = Rate(limit: "perUser.requestsPerMinute", key: "r\u{0}" + user, perMinute: perMinute)
        return state.withLock { state in take([rate], &state, user: user) }
    }

    /// Leave for one `tools/call` of `tool` on `server` (`ORG/NAME`) by `user`: counted in flight
    /// until `CallPermit.release()`.
    func admitCall(user: String, server: String, tool: String, _ perUser: PerUserLimits, _ serverLimits: ServerLimits) -> Result<CallPermit, Refusal> {
        if perUser.toolCallsPerMinute == nil, perUser.concurrentCalls == nil, serverLimits.isEmpty { return .success(CallPermit(nil)) }
        var rates: [Rate] = []
        if let perMinute = perUser.toolCallsPerMinute {
            rates.append(Rate(limit: "perUser.toolCallsPerMinute", key: "t\u{0}" + user, perMinute: perMinute))
        }
        for rate in serverLimits.tools where rate.glob.matches(tool) {
            let limit = "\(server).tools.\(rate.glob.pattern).callsPerMinute"
            rates.append(Rate(limit: limit, key: "g\u{0}\(user)\u{0}\(server)\u{0}\(rate.glob.pattern)", perMinute: rate.callsPerMinute))
        }
        var caps: [(limit: String, key: String, cap: Int)] = []
        if let cap = perUser.concurrentCalls { caps.append(("perUser.concurrentCalls", "u\u{0}" + user, cap)) }
        if let cap = serverLimits.concurrentCalls { caps.append(("\(server).concurrentCalls", "s\u{0}" + server, cap)) }
        let keys = caps.map(\.key)
        let refusal = state.withLock { state -> Refusal? in
            for cap in caps where state.inFlight[cap.key, default: 0] >= cap.cap {
                let whose = cap.key.hasPrefix("u") ? "\(user) has" : "\(server) has"
                return Refusal(limit: cap.limit, retryAfterSeconds: 1,
                               message: "limit \(cap.limit) reached: \(whose) \(cap.cap) tool call\(cap.cap == 1 ? "" : "s") in flight; retry in 1 s")
            }
            if let refused = take(rates, &state, user: user) { return refused }
            for key in keys { state.inFlight[key, default: 0] += 1 }
            return nil
        }
        if let refusal { return .failure(refusal) }
        guard !keys.isEmpty else { return .success(CallPermit(nil)) }
        return .success(CallPermit { [weak self] in self?.release(keys) })
    }

    private func release(_ keys: [String]) {
        state.withLock { state in
            for key in keys {
                let left = state.inFlight[key, default: 1] - 1
                state.inFlight[key] = left > 0 ? left : nil
            }
        }
    }

    /// Takes a token of each of `rates`, or none and the refusal of the first that has none.
    private func take(_ rates: [Rate], _ state: inout State, user: String) -> Refusal? {
        let time = now()
        var refilled: [(String, Bucket)] = []
        for rate in rates {
            let capacity = Double(rate.perMinute)
            let perNanosecond = capacity / 60e9
            var bucket = state.buckets[rate.key] ?? Bucket(tokens: capacity, updated: time)
            let elapsed = Double(max(0, (time - bucket.updated).nanoseconds))
            bucket.tokens = min(capacity, bucket.tokens + elapsed * perNanosecond)
            bucket.updated = time
            guard bucket.tokens >= 1 else {
                let wait = Int(((1 - bucket.tokens) / perNanosecond / 1e9).rounded(.up))
                return Refusal(limit: rate.limit, retryAfterSeconds: max(1, wait),
                               message: "limit \(rate.limit) reached: \(rate.perMinute) a minute for \(user); retry in \(max(1, wait)) s")
            }
            bucket.tokens -= 1
            refilled.append((rate.key, bucket))
        }
        if state.buckets.count >= maxBuckets { prune(&state, at: time) }
        for (key, bucket) in refilled { state.buckets[key] = bucket }
        return nil
    }

    /// Drops the buckets that have refilled to at least one minute's worth of waiting: a new
    /// bucket starts full, which is at least what they hold.
    private func prune(_ state: inout State, at time: NIODeadline) {
        state.buckets = state.buckets.filter { time - $0.value.updated < .seconds(60) }
    }
}

/// One call's place in flight; `release()` (once, whatever the call's outcome) gives it back, and
/// so does the permit's end: a call dropped on a path that never reports an outcome holds no
/// place for ever.
final class CallPermit: Sendable {
    private let onRelease: (@Sendable () -> Void)?
    private let released = Atomic<Bool>(false)

    init(_ onRelease: (@Sendable () -> Void)?) { self.onRelease = onRelease }

    deinit { release() }

    func release() {
        guard let onRelease, !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        onRelease()
    }
}
