import NIOCore

/// By when a connection's client must have sent what the gateway waits for, as a value that the
/// `ConnectionGuard` tells what arrived and asks when to look again:
/// - with no request in progress (a new connection, or one whose last response has ended), a
///   complete request head within `headSeconds`;
/// - a request's body at `minimumBodyRate` bytes a second or faster after a grace of
///   `headSeconds` (1 KiB/s: its deadline moves one second later for each KiB received), and in
///   full within `bodySeconds` of its head;
/// - and, while the gateway waits for a first head or for a body, some byte every
///   `silenceSeconds`: a socket that sends nothing is not kept for the whole head deadline.
/// A request whose body has arrived is never cut, however long its response (an SSE stream) runs.
struct ConnectionDeadlines {
    struct Rules: Equatable {
        var headSeconds: Int64
        var bodySeconds: Int64 = 60
        var minimumBodyRate: Int64 = 1024
        var silenceSeconds: Int64 = 5
    }

    /// Why the connection is closed.
    enum Lapse: String, Equatable {
        /// No complete request head in time (`orch_connections_refused_total{reason="request_head_timeout"}`).
        case head = "request_head_timeout"
        /// A body too slow, or not complete in time.
        case body = "request_body_timeout"
        /// Nothing sent at all for `silenceSeconds` while a first head or a body was awaited.
        case silence = "idle_timeout"
    }

    private let rules: Rules
    /// Requests whose head arrived and whose response has not ended.
    private var inProgress = 0
    /// When the next request head is due; nil while a request is in progress.
    private var headDue: NIODeadline?
    /// The body being read: when its head arrived and how many bytes came since.
    private var body: (started: NIODeadline, received: Int64)?
    /// Whether a request head has arrived on this connection yet.
    private var servedAny = false

    init(rules: Rules, connectedAt now: NIODeadline) {
        self.rules = rules
        self.headDue = now + .seconds(rules.headSeconds)
    }

    /// A request head arrived: its body (if any) is due now.
    mutating func head(at now: NIODeadline) {
        inProgress += 1
        headDue = nil
        servedAny = true
        body = (now, 0)
    }

    mutating func bodyBytes(_ count: Int) {
        body?.received += Int64(count)
    }

    /// The request's body ended.
    mutating func bodyEnded() {
        body = nil
    }

    /// A response ended: with none left in progress, the next head is due.
    mutating func responseEnded(at now: NIODeadline) {
        inProgress = max(0, inProgress - 1)
        if inProgress == 0 { headDue = now + .seconds(rules.headSeconds) }
    }

    /// The earliest deadline in force, and what lapses then; nil when nothing is awaited.
    var next: (deadline: NIODeadline, lapse: Lapse)? {
        var next: (deadline: NIODeadline, lapse: Lapse)? = headDue.map { ($0, .head) }
        if let body {
            let limit = max(rules.bodySeconds, rules.headSeconds)
            // Past `limit` s worth of bytes the cap decides anyway (and the product cannot overflow).
            let credited = min(body.received, rules.minimumBodyRate * limit)
            let paced = body.started + .seconds(rules.headSeconds) + .nanoseconds(credited * 1_000_000_000 / rules.minimumBodyRate)
            let due = min(paced, body.started + .seconds(limit))
            if next.map({ due < $0.deadline }) ?? true { next = (due, .body) }
        }
        return next
    }

    /// What lapsed by `now`, if anything.
    func lapsed(at now: NIODeadline) -> Lapse? {
        guard let next, now >= next.deadline else { return nil }
        return next.lapse
    }

    /// Whether a socket that has sent nothing for `silenceSeconds` is closed now: it is while the
    /// gateway waits for a first head or for a body, not between requests on a kept-alive
    /// connection (`headSeconds` bounds that) nor while a response is being written.
    var closesWhenSilent: Bool { body != nil || !servedAny }
}
