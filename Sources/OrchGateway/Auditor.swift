import Hummingbird
import OrchPolicy

/// Writes the audit records of requests: one `AuditRecord` each, under the running policy's
/// digest, with how long the request took. Refused requests without a caller (401, 403) are
/// bounded per client address (`AuditThrottle`), so that nobody without a token can grow the log
/// at will; what was left out is said in a record of its own and counted in the metrics.
final class Auditor: Sendable {
    let log: AuditLog
    private let store: PolicyStore
    private let metrics: GatewayMetrics
    /// Bounds the records of refused unauthenticated requests per client address.
    private let unauthenticated = AuditThrottle()

    init(log: AuditLog, store: PolicyStore, metrics: GatewayMetrics) {
        self.log = log
        self.store = store
        self.metrics = metrics
    }

    /// Writes an audit record of a request's outcome.
    func record(
        _ context: GatewayContext, request: Request, caller: Caller?, decision: AuditDecision, reason: String, status: Int,
        started: ContinuousClock.Instant, org: String? = nil, server: String? = nil, user: String? = nil, key: String? = nil,
        issuer: String? = nil, session: String? = nil, mcpMethod: String? = nil, item: Item? = nil
    ) {
        record(RequestOrigin(context, request), caller: caller, decision: decision, reason: reason, status: status, started: started,
               org: org, server: server, user: user, key: key, issuer: issuer, session: session, mcpMethod: mcpMethod, item: item)
    }

    /// Writes an audit record of a request's outcome, for a request known by its origin.
    func record(
        _ origin: RequestOrigin, caller: Caller?, decision: AuditDecision, reason: String, status: Int,
        started: ContinuousClock.Instant, org: String? = nil, server: String? = nil, user: String? = nil, key: String? = nil,
        issuer: String? = nil, session: String? = nil, mcpMethod: String? = nil, item: Item? = nil
    ) {
        if caller == nil && (status == 401 || status == 403) {
            switch unauthenticated.admit(origin.remote) {
            case .suppress:
                metrics.auditSuppressed()
                return
            case .write(let suppressed) where suppressed > 0:
                log.write(AuditRecord(
                    policy: store.policy?.digest, remote: origin.remote, method: "audit", decision: .suppressed,
                    reason: "\(suppressed) refused unauthenticated requests from \(AuditThrottle.address(origin.remote)) were not recorded (more than \(unauthenticated.limit) in \(unauthenticated.window))",
                    status: 0, ms: 0))
            case .write:
                break
            }
        }
        var record = AuditRecord(origin, caller: caller, decision: decision, reason: reason, status: status, org: org, server: server,
                                 session: session, method: mcpMethod, item: item)
        record.policy = record.policy ?? store.policy?.digest
        record.user = record.user ?? user
        record.key = record.key ?? key
        record.issuer = record.issuer ?? issuer
        write(record, started: started)
    }

    /// Writes `record` of a request that began at `started`.
    func write(_ record: AuditRecord, started: ContinuousClock.Instant) {
        var record = record
        record.ms = (ContinuousClock.now - started).milliseconds
        log.write(record)
    }
}
