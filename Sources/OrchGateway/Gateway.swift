public import Foundation
public import Hummingbird
import Glibc
import HummingbirdCore
public import Logging
public import OrchAuth
import NIOCore
public import OrchPolicy
public import ServiceLifecycle
import Synchronization
import UnixSignals

/// The gateway's shared parts: the policy store, the audit log and the metrics. Routes and
/// middleware read them; nothing here changes after start but the store's policy.
public final class Gateway: Sendable {
    /// orch's version: `orch --version`, and what the gateway tells MCP peers it is.
    public static let version = "0.1.0"

    public let store: PolicyStore
    public let audit: AuditLog
    /// Writes the audit records of requests (`audit` is the log they go to).
    let auditor: Auditor
    public let metrics: GatewayMetrics
    public let logger: Logger
    /// The time MCP decisions are made at (key expiry, `requestState` expiry, idle sessions).
    public let clock: WallClock
    let sessions: SessionTable
    /// Sessions of the aggregated endpoints (`/orgs/{org}/mcp`, `/mcp`); their members, and their
    /// slots under `maxSessionsPerKey`, are in `sessions`.
    let aggregates: AggregateTable
    let catalog = Catalog()
    /// The upstream sessions held for 2026-07-28 requests, one per key and server; they are also
    /// in `sessions`, where they count under `maxSessionsPerKey` and idle out.
    let legs = HeldLegs()
    /// The exposed names of each key's 2026-07-28 use of an aggregated endpoint.
    let heldAggregates = HeldAggregates()
    /// The servers failing on the aggregated and toolset endpoints, per credential, and their retries.
    let health = UpstreamHealth()
    /// The era each server speaks, as orch.json says or as it answered `server/discover`.
    let eras = UpstreamEras()
    /// Seals relayed questions' `requestState` and legacy session ids: with `gateway.stateKey`,
    /// else a key of this process's.
    private let stateSeals = Mutex<(keys: [String], seal: StateSeal)?>(nil)
    private let processSeal = StateSeal(keys: [])

    func stateSeal(_ policy: Policy) -> StateSeal {
        let keys = policy.settings.stateKeys
        guard !keys.isEmpty else { return processSeal }
        return stateSeals.withLock { kept in
            if let kept, kept.keys == keys { return kept.seal }
            let seal = StateSeal(keys: keys)
            kept = (keys, seal)
            return seal
        }
    }
    /// The encoded answers of `/api/v1/me` and `/api/v1/servers`, per key.
    let callerBodies = CallerBodies()
    let upstreams: UpstreamFactory
    /// Open connections per client address.
    let connections = ClientConnections()
    /// Proves who each request's bearer token names (keys, and `auth.oidc` sign-ins).
    let authenticator: Authenticator
    /// `orch.lock.json`, and what the servers listed against it.
    public let pins = PinStore()
    /// `gateway.pinning` applied to listed and called items against `pins`.
    let pinCheck: PinCheck
    /// The dashboard's signed-in browsers, and its sign-ins through an issuer under way.
    let dashboardSessions = DashboardSessions()
    let oidcPending = PendingSignIns()
    /// The issuers' discovery documents for that sign-in.
    let discovery = DiscoveryCache()
    /// How connected accounts reach metadata and token endpoints (tests give their own), where each
    /// server's users sign in (kept), and the connect callbacks this replica has taken.
    let oauthTransport = OAuthTransport()
    let connectionTargets: FetchCache<ConnectionTargetKey, ConnectionTarget>
    let usedConnectStates = UsedStates()
    /// The approval states 2026-07-28 retries brought, each taken once (per replica).
    let usedApprovalStates = UsedStates()
    /// Callers' connected accounts in use: tokens refreshed one at a time per account.
    let accounts = ConnectedAccounts()
    /// Sign-in tokens verified under the running policy, so that each is verified once.
    public let signIns = SignIns()
    /// The secret values the log handler takes out of every line (`GatewayLogHandler`).
    public let redaction: LogRedaction
    /// The causes `warnOnce` has logged.
    private let warned = Mutex<Set<String>>([])

    /// Logs `message` as a warning the first time `cause` happens, not once per request.
    func warnOnce(_ cause: String, _ message: @autoclosure () -> String) {
        guard warned.withLock({ $0.insert(cause).inserted }) else { return }
        logger.warning("\(message())")
    }

    /// `http://HOST:PORT` the server is bound to, once it is.
    private let boundURL = BoundURL()

    /// `keyFetcher` reads the issuers' keys (JWKS); tests give their own. `redaction` is the one
    /// `logger`'s handler redacts with (`GatewayLogHandler(label:redaction:)`).
    public init(
        store: PolicyStore, audit: AuditLog, metrics: GatewayMetrics = GatewayMetrics(), logger: Logger,
        keyFetcher: any KeyFetcher = HTTPKeyFetcher(), redaction: LogRedaction = LogRedaction(), clock: WallClock = .system
    ) {
        self.redaction = redaction
        self.clock = clock
        let transport = oauthTransport
        self.connectionTargets = FetchCache { key in
            try await OAuthDiscovery.target(serverURL: key.url, oauth: key.oauth, fetch: transport.fetch)
        }
        let verifier = OIDCVerifier(fetcher: keyFetcher, now: clock.now, onFetch: { issuer, ok in
            metrics.keysFetched(issuer: issuer, ok: ok)
            if !ok { logger.warning("cannot fetch the keys of auth.oidc issuer \(issuer)") }
        })
        let boundURL = self.boundURL
        self.authenticator = Authenticator(store: store, signIns: signIns, clock: clock, verifier: verifier, metrics: metrics) { policy in
            policy.auth.resource ?? Self.publicURL(for: policy, bound: boundURL.value)
        }
        let sessions = SessionTable()
        self.sessions = sessions
        self.aggregates = AggregateTable(slots: sessions)
        self.store = store
        self.audit = audit
        self.auditor = Auditor(log: audit, store: store, metrics: metrics)
        self.metrics = metrics
        self.logger = logger
        self.upstreams = UpstreamFactory(logger: logger, metrics: metrics)
        self.pinCheck = PinCheck(store: store, pins: pins, audit: audit, metrics: metrics, logger: logger)
        // A failed audit write is counted always and logged on the first and every 1,000th.
        audit.onFailure { [destination = audit.destination] error, count in
            metrics.auditWriteFailed()
            if count == 1 || count % 1000 == 0 {
                logger.error("cannot write the audit log \(destination): \(String(cString: strerror(error))) (\(count) records lost so far)")
            }
        }
        // A reload that takes a key or a grant away ends the sessions that relied on it at once.
        let (aggregates, heldAggregates, dashboardSessions, eras) = (self.aggregates, self.heldAggregates, self.dashboardSessions, self.eras)
        store.onChange { change in
            eras.keep(only: change.new)
            sessions.apply(change)
            aggregates.apply(change)
            heldAggregates.apply(change)
            dashboardSessions.apply(change)
        }
        // Bodies made and tokens verified under the old policy are never used again; drop them with it.
        let (callerBodies, signIns) = (self.callerBodies, self.signIns)
        store.onChange { _ in
            callerBodies.removeAll()
            signIns.removeAll()
        }
    }

    /// The base URL for endpoint lists and client configs: the file's `publicURL` when it sets one,
    /// else the address actually listened on.
    func publicURL(for policy: Policy) -> String {
        Self.publicURL(for: policy, bound: boundURL.value)
    }

    private static func publicURL(for policy: Policy, bound: String?) -> String {
        policy.settings.publicURLIsExplicit ? policy.settings.publicURL : bound ?? policy.settings.publicURL
    }

    /// The executor of `MCPExchange`'s verdicts, with the services it needs.
    var callGuard: CallGuard {
        CallGuard(auditor: auditor, metrics: metrics, clock: clock, pins: pinCheck, limiter: limiter, approvals: { [self] in approvalStore($0) })
    }
    /// `gateway.limits.perUser` and servers' `limits`, counted in this replica.
    let limiter = Limiter()

    /// Finds the server and the session a request names, with the services it needs.
    var resolver: ServerResolver { ServerResolver(clock: clock, auditor: auditor, sessions: sessions) }

    /// Live MCP sessions (for tests and metrics).
    public var sessionCount: Int { sessions.all.count }

    /// Live sessions with a client stream attached (for tests).
    var sessionsWithStream: Int { sessions.all.filter(\.hasStream).count }

    /// Questions of the gateway's own that wait for a session's client to answer (for tests).
    var questionsAwaitingAnswer: Int { sessions.all.map(\.questionsAwaitingAnswer).reduce(0, +) }

    /// The pids of the live sessions' upstream processes (for tests).
    public var upstreamPIDs: [Int32] { sessions.all.compactMap { $0.upstream?.pid } }

    /// Upstream processes running now, for sessions and catalog fetches (for tests).
    public var upstreamProcessCount: Int { sessions.processCount }

    /// The service that answers requests past their deadline, sends keep-alives, ends idle
    /// sessions, and ends every session at shutdown; run it beside the server.
    public func sessionTicker(keepAliveInterval: Duration = .seconds(5)) -> some Service {
        SessionTicker(gateway: self, keepAliveInterval: keepAliveInterval)
    }

    /// Bookkeeping when a session ends: the table, metrics and the audit log.
    func sessionEnded(_ session: MCPSession, reason: UpstreamError, policy: String, remote: String) {
        sessions.remove(session)
        metrics.sessionsChanged(server: session.serverPath, count: sessions.count(server: session.serverPath), processes: sessions.processCount)
        metrics.sessionEnded(server: session.serverPath, reason: reason)
        if reason.kind != .stopped { metrics.upstreamFailure(server: session.serverPath, reason: reason) }
        audit.write(AuditRecord(
            policy: policy, user: session.user, key: session.keyID, issuer: session.credential.issuer, remote: remote, org: session.org,
            server: session.server, session: session.id, method: "session end", decision: .end, reason: reason.message, status: 0, ms: 0))
    }

    /// Whether `/metrics` needs an admin's key: as `gateway.metrics` says, or by default when the
    /// gateway does not listen on loopback only.
    func metricsNeedAdmin(_ policy: Policy) -> Bool {
        switch policy.settings.metrics {
        case .open?: return false
        case .admin?: return true
        case nil:
            let bound = boundURL.value.flatMap { url in url.split(separator: "/").last.map { String($0) } }
            let host = bound.flatMap(GatewaySettings.hostPort)?.0 ?? policy.settings.host
            return !GatewaySettings.isLoopback(host)
        }
    }

    /// The body limit in force: the running policy's, or the default before one is loaded.
    var maxBodyBytes: Int { store.policy?.settings.limits.maxBodyBytes ?? Limits().maxBodyBytes }

    public func router() -> Router<GatewayContext> {
        let router = Router(context: GatewayContext.self)
        router.add(middleware: RequestMiddleware(gateway: self))
        router.add(middleware: HostMiddleware(gateway: self))
        router.add(middleware: OriginMiddleware(gateway: self))
        addHealthRoutes(to: router)
        addProtectedResourceRoutes(to: router)
        MCPRoutes(gateway: self).addRoutes(to: router)
        router.get(RouterPath(OpenAPIDocument.path)) { _, _ in OpenAPIDocument.response() }  // no authentication
        Dashboard(gateway: self).addRoutes(to: router)
        let api = router.group("api/v1").add(middleware: AuthMiddleware(gateway: self))
        addAPIRoutes(to: api)
        router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))  // last: wraps only the not-found answer
        return router
    }

    /// The HTTP application: bounded connections, header sizes and idle time, plus `services`
    /// (the reload watcher) run beside the server.
    public func application(
        host: String, port: Int, services: [any Service] = [], maxConnections: Int = 1024,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(),
            server: .orch(configuration: .init(
                idleTimeout: .seconds(75),
                httpDecoderConfiguration: .init(maxHeaderFieldSize: 16 * 1024, maxHeaderListSize: 64 * 1024, maxHeaderFieldCount: 100)),
                gateway: self),
            configuration: .init(
                address: .hostname(host, port: port), serverName: "orch",
                availableConnectionsDelegate: MaximumAvailableConnections(maxConnections)),
            services: services,
            onServerRunning: onServerRunning,
            logger: logger)
    }

    /// Serves until SIGTERM or SIGINT, then shuts down in order: `services` (the reload watcher),
    /// then the sessions (their streams end and their processes stop, so no SSE stream holds the
    /// server open), then the server, which lets in-flight requests finish. Logs the bound address
    /// once listening (port 0 picks a free one).
    public func run(host: String, port: Int, services: [any Service]) async throws {
        let logger = self.logger
        let source = store.source
        let app = application(host: host, port: port) { channel in
            let address = channel.localAddress.map { "\($0.ipAddress ?? host):\($0.port ?? port)" } ?? "\(host):\(port)"
            self.boundURL.value = "http://\(address)"
            // Before a valid file, it serves /healthz and /readyz (503) and waits.
            let waiting = self.store.policy == nil ? " (not ready: waiting for a valid \(source))" : ""
            logger.info("orch is serving \(source) on http://\(address)\(waiting)")
            if let policy = self.store.policy, policy.settings.stateKeys.isEmpty {
                logger.notice("""
                    gateway.stateKey is not set: the state this gateway hands out (session ids, requestState) is sealed with a random key of this \
                    process, which no other replica has and a restart forgets; replicas and restarts need one \
                    (openssl rand -base64 32, set as ${env:NAME})
                    """)
            }
            if let policy = self.store.policy, let problem = self.connectionStore(policy)?.checkWritable() {
                logger.error("connected accounts are off: the connections folder (gateway.connections) cannot be written: \(problem.reason) (\(problem.path))")
            }
        }
        // A service group shuts its services down last-listed first.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: app), .init(service: sessionTicker())] + services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

extension Gateway {
    /// Where `policy`'s connected accounts are stored; nil when no server of it has `oauth`. Without
    /// `gateway.stateKey`, under this process's own key (every store of the process opens what
    /// another wrote; a restart does not).
    func connectionStore(_ policy: Policy) -> ConnectionStore? {
        guard policy.servers.contains(where: { $0.spec.oauth != nil }) else { return nil }
        let keys = policy.settings.stateKeys.isEmpty ? [Self.processKey] : policy.settings.stateKeys
        return ConnectionStore(folder: policy.settings.connections, relativeTo: URL(fileURLWithPath: store.source).deletingLastPathComponent().path,
                               keys: keys)
    }

    /// Where `policy`'s calls wait for a role's approval (`gateway.approvals`), sealed as the
    /// connected accounts are.
    func approvalStore(_ policy: Policy) -> ApprovalStore {
        let keys = policy.settings.stateKeys.isEmpty ? [Self.processKey] : policy.settings.stateKeys
        return ApprovalStore(folder: policy.settings.approvals, relativeTo: URL(fileURLWithPath: store.source).deletingLastPathComponent().path, keys: keys)
    }

    /// A random key of this process's, for what it seals when orch.json gives none.
    static let processKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
}

/// The address the server is bound to, once it is.
final class BoundURL: Sendable {
    private let url = Mutex<String?>(nil)

    var value: String? {
        get { url.withLock { $0 } }
        set { url.withLock { $0 = newValue } }
    }
}

/// The time MCP decisions are made at; tests give a fixed or stepped one.
public struct WallClock: Sendable {
    public let now: @Sendable () -> Date

    public init(now: @escaping @Sendable () -> Date) {
        self.now = now
    }

    public static let system = WallClock(now: { Date() })
}

extension AuditRecord {
    /// The record of a request from `origin` by `caller` (nil before one is known); without an MCP
    /// `method`, its method is the HTTP request line. Its `ms` is set when it is written.
    init(
        _ origin: RequestOrigin, caller: Caller?, decision: AuditDecision, reason: String, status: Int, org: String? = nil,
        server: String? = nil, session: String? = nil, method: String? = nil, item: Item? = nil
    ) {
        self.init(policy: caller?.policy.digest, user: caller?.userName, key: caller?.keyName, issuer: caller?.credential.issuer,
                  remote: origin.remote, org: org, server: server, session: session, method: method ?? "\(origin.method) \(origin.path)",
                  item: item, decision: decision, reason: reason, status: status, ms: 0)
    }
}

/// Where a request came from and what it asked, for the audit log.
struct RequestOrigin: Sendable {
    let remote: String
    let method: String
    let path: String

    init(remote: String, method: String, path: String) {
        self.remote = remote
        self.method = method
        self.path = path
    }

    init(_ context: GatewayContext, _ request: Request) {
        self.init(remote: context.remote, method: request.method.rawValue, path: request.uri.path)
    }
}
