import Foundation
import Hummingbird
import Logging
import OrchJSON
import OrchPolicy
import Synchronization

/// Legacy sessions under sealed ids (`SessionSeal`): the id a session gets once its `initialize`
/// is answered, and the session an id names on a replica that does not hold it (another replica
/// opened it, or this one before a restart, or it idled out here), re-created transparently: its
/// own upstream, the client's `initialize` replayed, `notifications/initialized` sent once. What
/// cannot be re-created without losing something is refused with 404, so that the client
/// initializes again knowingly: a `"stateful": true` server, a server that now negotiates another
/// protocol version, an id the client ended here (DELETE), and every id that does not hold for the
/// caller (another key or sign-in, a key rotated under the same id, another server, expired,
/// tampered, or sealed with a `stateKey` this replica does not have).
struct SessionRecreation: Sendable {
    let gateway: Gateway

    /// A sealed id for a session of `caller` on `endpoint` that negotiated `version` with the
    /// `initialize` `params`, and when it expires (`limits.maxSessionSeconds` from now).
    func sealedID(_ caller: Caller, endpoint: String, version: String, params: JSONObject) -> (id: String, expires: Int64) {
        let now = Int64(gateway.clock.now().timeIntervalSince1970)
        let expires = now + Int64(caller.policy.settings.limits.maxSessionSeconds)
        let claims = Self.claims(caller, endpoint: endpoint, version: version, params: params, issued: now, expires: expires)
        return (SessionSeal(gateway.stateSeal(caller.policy)).seal(claims), expires)
    }

    /// Seals `session`'s id for `caller` on `endpoint` after its `initialize`, and renames it so.
    func seal(_ session: MCPSession, _ caller: Caller, endpoint: String, version: String, params: JSONObject) {
        let (id, expires) = sealedID(caller, endpoint: endpoint, version: version, params: params)
        gateway.sessions.rename(session, to: id, expires: expires)
    }

    static func claims(_ caller: Caller, endpoint: String, version: String, params: JSONObject, issued: Int64, expires: Int64) -> SealedSession {
        SealedSession(user: caller.userName, keyID: caller.keyName, credential: SessionSeal.fingerprint(caller.credential), endpoint: endpoint,
                      version: version, capabilities: params["capabilities"]?.objectValue ?? [:],
                      clientName: params["clientInfo"]?["name"]?.stringValue ?? "", clientVersion: params["clientInfo"]?["version"]?.stringValue ?? "",
                      issued: issued, expires: expires)
    }

    /// The claims of `id` if they hold for `caller` on `endpoint` now; else the reason for the audit
    /// log (the client gets 404 alike).
    func claims(_ id: String, _ caller: Caller, endpoint: String) -> Result<SealedSession, Refusal> {
        if gateway.sessions.wasEnded(id) { return .failure(Refusal("the client ended session \(id.prefix(12))… here (DELETE)")) }
        switch SessionSeal(gateway.stateSeal(caller.policy)).open(id) {
        case .foreignKey(let name):
            gateway.warnOnce("session-key-\(name)", """
                a client brought a session id sealed with a gateway.stateKey this replica does not have (key \(name)): \
                give every replica the same stateKey, listing a previous one after it while a rotation runs
                """)
            return .failure(Refusal("a session id sealed with another gateway.stateKey (key \(name))"))
        case .broken:
            return .failure(Refusal("a session id the gateway did not seal, or changed since"))
        case .opened(let claims):
            guard claims.credential == SessionSeal.fingerprint(caller.credential), claims.user == caller.userName, claims.keyID == caller.keyName else {
                return .failure(Refusal("a session id of another key or sign-in"))
            }
            guard claims.endpoint == endpoint else { return .failure(Refusal("a session id of \(claims.endpoint), not \(endpoint)")) }
            guard Int64(gateway.clock.now().timeIntervalSince1970) < claims.expires else {
                return .failure(Refusal("a session id that expired at \(Timestamp.format(Date(timeIntervalSince1970: TimeInterval(claims.expires))))"))
            }
            return .success(claims)
        }
    }

    struct Refusal: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// The session `id` names for the caller on `server`: the one held here, or one re-created from
    /// the id. A missing id is 400; one that cannot be used 404 (audited with its reason).
    func session(_ id: String?, _ server: ResolvedServer, _ request: Request, _ context: GatewayContext) async throws -> MCPSession {
        let caller = try context.requireCaller()
        guard let id else { throw GatewayError.badRequest("missing Mcp-Session-Id header: send initialize first") }
        let resolver = gateway.resolver
        if gateway.sessions.session(id) != nil { return try resolver.session(id, server, caller) }
        func refuse(_ reason: String) -> GatewayError { refusal(reason, request, context, caller, org: server.org, server: server) }
        let claims: SealedSession
        switch self.claims(id, caller, endpoint: server.path) {
        case .success(let opened): claims = opened
        case .failure(let refusal): throw refuse(refusal.reason)
        }
        if caller.policy.server(server.id).spec.stateful {
            throw refuse("\(server.path) is stateful: its sessions stay on the replica that opened them")
        }
        let failure = Mutex<GatewayError?>(nil)
        let made = await gateway.sessions.recreated(id) {
            do {
                return try await recreate(id, claims, server, request, context)
            } catch let error as GatewayError {
                failure.withLock { $0 = error }
            } catch let error as UpstreamError {
                failure.withLock { $0 = GatewayError(error, server: server.path) }
            } catch {
                failure.withLock { $0 = refuse("\(error)") }
            }
            return nil
        }
        if let made { return try resolver.session(made.id, server, caller) }
        throw failure.withLock { $0 } ?? GatewayError.unknownSession()
    }

    /// DELETE: ends the session `id` if it is held here, and remembers it as ended until its
    /// expiry, so that this replica never re-creates it; a valid id held elsewhere (or nowhere) is
    /// only remembered. Across replicas this is best effort: the others close their legs of it
    /// when it idles out there.
    func end(_ id: String?, _ server: ResolvedServer, _ caller: Caller) throws {
        try end(id, endpoint: server.path, caller, held: gateway.sessions.holds) {
            let session = try gateway.resolver.session(id, server, caller)
            session.end(.stopped("the client ended the session (DELETE)"))
            return session.sealedUntil
        }
    }

    /// DELETE on an aggregated endpoint, as `end(_:_:_:)` for a server's.
    func endAggregate(_ id: String?, _ caller: Caller, view: AggregateView) throws {
        try end(id, endpoint: view.endpoint, caller, held: { gateway.aggregates.session($0) != nil }) {
            let session = try AggregateEndpoint(gateway: gateway).aggregate(id, caller, view: view)
            session.end("the client ended the session (DELETE)")
            return session.sealedUntil
        }
    }

    /// `endHeld` ends the held session (refusing one that is not the caller's) and says when its id expires.
    private func end(_ id: String?, endpoint: String, _ caller: Caller, held: (String) -> Bool, endHeld: () throws -> Int64) throws {
        let now = Int64(gateway.clock.now().timeIntervalSince1970)
        if let id, !held(id), case .success(let claims) = claims(id, caller, endpoint: endpoint) {
            gateway.sessions.ended(id, expires: claims.expires, now: now)
            return
        }
        let expires = try endHeld()
        if let id { gateway.sessions.ended(id, expires: expires, now: now) }
    }

    /// The aggregated session `id` names for the caller on `org`'s endpoint (`/mcp` without one):
    /// the one held here, or one re-created from the id. Nothing starts: its members start as
    /// requests need them, with the client's `initialize` from the id. An endpoint that reaches a
    /// `"stateful": true` server refuses it (404), as a server's endpoint does.
    func aggregate(_ id: String?, _ caller: Caller, view: AggregateView, _ request: Request, _ context: GatewayContext) throws -> AggregateSession {
        let endpoint = AggregateEndpoint(gateway: gateway)
        guard let id, gateway.aggregates.session(id) == nil else { return try endpoint.aggregate(id, caller, view: view) }
        let (path, org) = (view.endpoint, view.org)
        func refuse(_ reason: String) -> GatewayError { refusal(reason, request, context, caller, org: org, server: nil) }
        let claims: SealedSession
        switch self.claims(id, caller, endpoint: path) {
        case .success(let opened): claims = opened
        case .failure(let refusal): throw refuse(refusal.reason)
        }
        let policy = caller.policy
        if let stateful = AggregateScope(view).servers(caller, gateway: gateway).first(where: { policy.server($0.server.id).spec.stateful }) {
            throw refuse("\(path) reaches \(stateful.server.path), which is stateful: its sessions stay on the replica that opened them")
        }
        guard case .success(let kept) = ClientInitialize.keep(claims.initializeParams, id: .null) else { throw refuse("its initialize does not fit") }
        let session = AggregateSession(gateway: gateway, caller: caller, view: view, id: id, sealedUntil: claims.expires)
        session.keep(kept)
        let held: AggregateSession
        do {
            held = try gateway.aggregates.insert(session, limit: policy.settings.limits.maxSessionsPerKey)
        } catch .perKeyServer(let limit), .processes(let limit) {
            throw GatewayError.tooManySessions("\(caller.signIn) already has \(limit) open sessions on \(path); end one (DELETE) or wait for it to idle out")
        } catch .closed {
            throw GatewayError.shuttingDown()
        }
        if held === session {
            gateway.auditor.record(context, request: request, caller: caller, decision: .allow,
                                   reason: "session re-created from its id (opened by another replica, or before a restart or an idle end)",
                                   status: 200, started: .now, org: org, session: id, mcpMethod: "initialize")
        }
        return try endpoint.aggregate(held.id, caller, view: view)
    }

    /// A re-creation refused, audited with its reason: 404 (the client initializes again), or 502
    /// for an upstream that could not answer the replayed `initialize`.
    private func refusal(
        _ reason: String, _ request: Request, _ context: GatewayContext, _ caller: Caller, org: String?, server: ResolvedServer?, status: Int = 404
    ) -> GatewayError {
        gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "session not re-created: \(reason)", status: status,
                               started: .now, org: org, server: server?.name, mcpMethod: "initialize")
        return status == 404 ? GatewayError.unknownSession() : GatewayError.upstreamUnavailable("\(server?.path ?? org ?? ""): \(reason)")
    }

    /// Opens a session under `id` for the caller on `server` and replays its `initialize`.
    private func recreate(
        _ id: String, _ claims: SealedSession, _ server: ResolvedServer, _ request: Request, _ context: GatewayContext
    ) async throws -> MCPSession {
        let caller = try context.requireCaller()
        let opener = SessionOpener(gateway: gateway)
        let session = try await opener.open(request, context, server, transport: .streamableHTTP, id: id)
        let requestID: JSONValue = "orch-recreate"
        let params = claims.initializeParams
        let message = JSONRPC.request(id: requestID, method: "initialize", params: params)
        let incoming = IncomingMessage(bytes: MCPSession.encode(message), message: .request(id: requestID, method: "initialize", params: params))
        func refused(_ reason: String, status: Int) -> GatewayError {
            refusal(reason, request, context, caller, org: server.org, server: server, status: status)
        }
        switch await opener.initialize(session, incoming, id: requestID, params: params, timeout: gateway.resolver.callTimeout(caller, server)) {
        case .opened(let reply):
            let version = (try? JSONRPC.parse(reply))?["result"]?["protocolVersion"]?.stringValue
            guard version == claims.version else {
                session.end(.stopped("re-created, but the server negotiates another protocol version"))
                throw refused("\(server.path) now negotiates protocol version \(version ?? "none"), the session had \(claims.version)", status: 404)
            }
            session.sendInitialized()
            session.sealed(until: claims.expires)
            gateway.auditor.record(context, request: request, caller: caller, decision: .allow,
                                   reason: "session re-created from its id (opened by another replica, or before a restart or an idle end)",
                                   status: 200, started: .now, org: server.org, server: server.name, session: id, mcpMethod: "initialize")
            return session
        case .refused:
            throw refused("\(server.path) refused the replayed initialize", status: 404)
        case .failed(let error):
            throw refused("upstream \(server.path): \(error.message)", status: 502)
        }
    }
}
