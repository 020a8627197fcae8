import Metrics
import OrchPolicy
import Prometheus
import Synchronization

/// The gateway's Prometheus metrics, recorded through swift-metrics into a registry of its own
/// (so that several gateways in one test process do not share counters).
public final class GatewayMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let policyInfo = Mutex<(digest: String, gauge: Prometheus.Gauge)?>(nil)

    public init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2_500),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        self.factory = factory
    }

    /// One HTTP request: counted by route pattern and status, timed by route.
    func request(route: String, method: String, status: Int, duration: Duration) {
        // The handles are kept per route, method and status: resolving labels in the registry on
        // every request costs more than the request's own policy work.
        let key = RequestKey(route: route, method: method, status: status)
        let (counter, timer) = requestHandles.withLock { handles in
            if let known = handles[key] { return known }
            let made = (
                Metrics.Counter(label: "orch_http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(status))], factory: factory),
                Metrics.Timer(label: "orch_http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
            )
            handles[key] = made
            return made
        }
        counter.increment()
        timer.recordNanoseconds(duration.nanoseconds)
    }

    private struct RequestKey: Hashable {
        let route: String
        let method: String
        let status: Int
    }
    private let requestHandles = Mutex<[RequestKey: (Metrics.Counter, Metrics.Timer)]>([:])

    /// One reload attempt: `ok`, `error` (did not compile) or `unchanged`.
    func reload(result: String) {
        Counter(label: "orch_reloads_total", dimensions: [("result", result)], factory: factory).increment()
        reloads.withLock { $0[result, default: 0] += 1 }
    }

    private let reloads = Mutex<[String: Int]>([:])

    /// The reloads counted so far, for the dashboard: "OK / ERROR / UNCHANGED".
    var reloadCounts: String {
        reloads.withLock { "\($0["ok", default: 0]) / \($0["error", default: 0]) / \($0["unchanged", default: 0])" }
    }

    /// `orch_policy_info{digest="sha256:…"} 1` for the running policy only.
    func policyLoaded(digest: String) {
        policyInfo.withLock { current in
            if current?.digest == digest { return }
            if let old = current { registry.unregisterGauge(old.gauge) }
            let gauge = registry.makeGauge(name: "orch_policy_info", labels: [("digest", digest)], help: "The running policy's digest.")
            gauge.set(Int64(1))
            current = (digest, gauge)
        }
    }

    /// A connection closed by the gateway before it served anything: `per_client` (the address
    /// holds `maxConnectionsPerClient`) or `request_head_timeout`.
    func connectionRefused(_ reason: String) {
        Counter(label: "orch_connections_refused_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// A request or call refused over a limit (`Limiter`), by the limit's name.
    func limited(_ limit: String) {
        Counter(label: "orch_limited_total", dimensions: [("limit", limit)], factory: factory).increment()
    }

    /// A call under an `approve` rule, by outcome: `approved`, `declined`, `timeout`, `cannot_ask`.
    func approval(outcome: String) {
        Counter(label: "orch_approvals_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    /// An audit record that could not be written.
    func auditWriteFailed() {
        Counter(label: "orch_audit_write_failures_total", factory: factory).increment()
    }

    /// A refused unauthenticated request left out of the audit log (past its per-client bound).
    func auditSuppressed() {
        Counter(label: "orch_audit_suppressed_total", factory: factory).increment()
    }

    /// Authentication failures by reason (`missing`, `unknown`, `expired`, `disabled`).
    func authFailure(_ reason: String) {
        Counter(label: "orch_auth_failures_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    /// A tool or prompt found not matching its pin (once per definition), by status.
    func pinMismatch(server: String, kind: ItemKind, status: PinLock.Status) {
        Counter(label: "orch_pin_mismatches_total", dimensions: [("server", server), ("kind", kind.description), ("status", status.rawValue)],
                factory: factory).increment()
    }

    /// One bearer token verified as a JWT of an `auth.oidc` issuer (`-` when its `iss` is none of
    /// them), by outcome: `ok`, `invalid_token`, `insufficient_scope`, `no_user`.
    func tokenVerified(issuer: String?, result: String) {
        Counter(label: "orch_jwt_verifications_total", dimensions: [("issuer", issuer ?? "-"), ("result", result)], factory: factory).increment()
    }

    /// One fetch of an issuer's keys (JWKS): the first, and each on an unknown `kid`.
    func keysFetched(issuer: String, ok: Bool) {
        Counter(label: "orch_jwks_refreshes_total", dimensions: [("issuer", issuer), ("result", ok ? "ok" : "error")], factory: factory).increment()
    }

    /// One decision on a tool, prompt or resource (`tools/call`, `prompts/get`, `resources/read`, …),
    /// by server, kind and decision. Tool decisions also count in `orch_tool_calls_total`.
    func itemDecision(_ kind: ItemKind, server: String, allowed: Bool) {
        let key = DecisionKey(kind: kind, server: server, allowed: allowed)
        let counters = decisionCounters.withLock { counters in
            if let known = counters[key] { return known }
            let org = server.split(separator: "/").first.map(String.init) ?? ""
            let decision = allowed ? "allow" : "deny"
            var made = [Counter(label: "orch_mcp_decisions_total", dimensions: [("org", org), ("server", server), ("kind", kind.description), ("decision", decision)], factory: factory)]
            if kind == .tool {
                made.append(Counter(label: "orch_tool_calls_total", dimensions: [("org", org), ("server", server), ("decision", decision)], factory: factory))
            }
            counters[key] = made
            return made
        }
        for counter in counters { counter.increment() }
    }

    private struct DecisionKey: Hashable {
        let kind: ItemKind
        let server: String
        let allowed: Bool
    }
    private let decisionCounters = Mutex<[DecisionKey: [Metrics.Counter]]>([:])

    /// Live sessions of a server; each has one upstream process.
    /// A session opened or ended: the server's open sessions, and the gateway's upstream processes.
    func sessionsChanged(server: String, count: Int, processes: Int) {
        Gauge(label: "orch_sessions_active", dimensions: [("server", server)], factory: factory).record(count)
        Gauge(label: "orch_upstream_processes", factory: factory).record(processes)
    }

    /// A session ended, by why (`stopped` for DELETE, idle, reload and shutdown).
    func sessionEnded(server: String, reason: UpstreamError) {
        Counter(label: "orch_sessions_ended_total", dimensions: [("server", server), ("reason", reason.label)], factory: factory).increment()
    }

    /// An upstream that could not start, died under a session, timed out or broke a bound.
    func upstreamFailure(server: String, reason: UpstreamError) {
        Counter(label: "orch_upstream_failures_total", dimensions: [("server", server), ("reason", reason.label)], factory: factory).increment()
    }

    /// The Prometheus text exposition.
    public func render() -> [UInt8] {
        registry.emitToBuffer()
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }

    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
