import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OrchJSON
import OrchPolicy

/// Connected accounts on the dashboard. `/ui/connections` lists the caller's `oauth` servers with
/// the state of their account and Connect / Disconnect; Connect sends the browser to the server's
/// authorization server (PKCE S256, `ConnectState` sealed into `state`, a nonce in a cookie of its
/// own naming the browser); `/ui/oauth/callback` checks the answer, exchanges the code and stores
/// the tokens, then shows a page (not a redirect: the SameSite=Strict session cookie does not come
/// back with a navigation that began at the provider). `/ui/admin/connections` shows who is
/// connected. No token, code or verifier is shown, logged or audited.
struct DashboardConnections: Sendable {
    let dashboard: Dashboard
    var gateway: Gateway { dashboard.gateway }

    static let callbackPath = "/ui/oauth/callback"
    /// The flow's cookie: Lax, so that it comes back from the provider's site, and only to the callback.
    static let flowCookie = "orch_connect"

    func addRoutes(to ui: RouterGroup<GatewayContext>) {
        ui.get("connections") { request, context in try await dashboard.page(request, context) { self.page($0, $1) } }
        ui.post("connections/connect") { request, context in try await self.connect(request, context) }
        ui.post("connections/disconnect") { request, context in try await self.disconnect(request, context) }
        ui.get("oauth/callback") { request, context in try await self.callback(request, context) }
        ui.get("admin/connections") { request, context in try await dashboard.page(request, context, admin: true) { self.adminPage($0, $1) } }
    }

    /// An `oauth` server as the dashboard offers it.
    struct OAuthServer {
        let path: String
        let url: String
        let oauth: OAuthSpec
    }

    /// The `oauth` servers `user` may reach (with `key`, when signed in with one).
    func servers(_ policy: Policy, user: UserID, key: KeyID?) -> [OAuthServer] {
        policy.reachableServers(user: user, key: key, at: gateway.clock.now()).compactMap { id in
            let spec = policy.server(id).spec
            guard let oauth = spec.oauth, case .remote(let url, _, _) = spec.transport else { return nil }
            return OAuthServer(path: policy.serverPath(id), url: url, oauth: oauth)
        }
    }

    private var now: Int64 { Int64(gateway.clock.now().timeIntervalSince1970) }

    func page(_ session: DashboardSessions.Session, _ caller: Caller, message: String? = nil) -> (template: String, values: [String: Any]) {
        let store = gateway.connectionStore(caller.policy)
        let rows: [[String: Any]] = servers(caller.policy, user: caller.user, key: caller.key).map { server in
            let state = store?.state(user: caller.userName, server: server.path, at: now) ?? .notConnected
            let connected = if case .notConnected = state { false } else { true }
            return [
                "server": server.path, "state": state.description, "connected": connected,
                "signsInAt": server.oauth.authorizationServer.flatMap { URLComponents(string: $0)?.host } ?? "as the server's metadata says",
            ]
        }
        return ("connections", [
            "title": "Connections", "navConnections": true, "rows": rows, "hasRows": !rows.isEmpty, "message": message ?? "",
            "hasMessage": message != nil,
        ])
    }

    /// `POST /ui/connections/connect` (`server`, `csrf`): to the server's authorization server.
    func connect(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let (session, caller, form) = try await dashboard.signedInForm(request, context, what: "connect")
        let policy = caller.policy
        guard let server = servers(policy, user: caller.user, key: caller.key).first(where: { $0.path == form["server"] }) else {
            throw GatewayError.notFound("no server \(form["server"] ?? "") with connected accounts for you")
        }
        let target: ConnectionTarget
        do {
            target = try await gateway.connectionTargets.value(for: ConnectionTargetKey(url: server.url, oauth: server.oauth))
        } catch {
            gateway.logger.warning("cannot find where the users of \(server.path) sign in: \(error.description)")
            let (template, values) = page(session, caller, message: "\(server.path) cannot be connected right now: \(error.description)")
            return dashboard.render(template, values, session: session, caller: caller, status: .badGateway)
        }
        let nonce = Hex.encode(Crypto.randomBytes(16))
        let verifier = PKCE.verifier()
        let redirectURI = gateway.publicURL(for: policy) + Self.callbackPath
        let state = ConnectState(
            user: caller.userName, session: ConnectState.session(nonce), server: server.path, issuer: target.authorizationServer.issuer,
            verifier: verifier, redirectURI: redirectURI, expires: now + ConnectState.lifetime)
        let location = ConnectFlow.authorizationURL(target, client: server.oauth.client, state: state.sealed(gateway.stateSeal(policy)), verifier: verifier,
                                                    redirectURI: redirectURI, sendResource: server.oauth.sendResource)
        gateway.auditor.record(context, request: request, caller: caller, decision: .allow, reason: "connecting an account at \(server.path)", status: 303,
                               started: .now, org: server.path.split(separator: "/").first.map(String.init))
        var headers: HTTPFields = [.location: location]
        headers.append(HTTPField(name: .setCookie, value: "\(Self.flowCookie)=\(nonce); Path=/ui/oauth; HttpOnly; SameSite=Lax; Max-Age=\(ConnectState.lifetime)"
            + (gateway.publicURL(for: policy).hasPrefix("https://") ? "; Secure" : "")))
        return Response(status: .seeOther, headers: headers)
    }

    /// `GET /ui/oauth/callback?code&state[&iss]` (or `?error`): checked, the code exchanged, the tokens stored.
    func callback(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard dashboard.enabled, let policy = gateway.store.policy else { throw GatewayError.notFound() }
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
        let nonce = request.cookies[Self.flowCookie]?.value ?? ""
        // The session cookie comes only when the callback is reached from the gateway's own pages.
        let signedInUser = (try? dashboard.signedIn(request))?.1.userName
        let result = ConnectFlow.check(
            query: query, seal: gateway.stateSeal(policy), user: signedInUser, session: ConnectState.session(nonce), now: now,
            sendsIssuer: { issuer in self.sendsIssuer(issuer, policy) },
            firstUse: { gateway.usedConnectStates.firstUse($0, expires: $1, now: self.now) })
        let clearCookie = HTTPField(name: .setCookie, value: "\(Self.flowCookie)=; Path=/ui/oauth; HttpOnly; SameSite=Lax; Max-Age=0")
        switch result {
        case .failure(let refusal):
            gateway.auditor.record(context, request: request, caller: nil, decision: .deny, reason: "connect callback refused: \(refusal.description)",
                                   status: 400, started: .now)
            return finished("Not connected", refusal.description, status: .badRequest, clearCookie)
        case .success(let (state, code)):
            let parts = state.server.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, let id = policy.server(org: parts[0], name: parts[1]), let oauth = policy.server(id).spec.oauth,
                case .remote(let url, _, _) = policy.server(id).spec.transport, let store = gateway.connectionStore(policy)
            else { return finished("Not connected", "\(state.server) no longer takes connected accounts.", status: .badRequest, clearCookie) }
            do {
                let target = try await gateway.connectionTargets.value(for: ConnectionTargetKey(url: url, oauth: oauth))
                let tokens = try await TokenEndpoint(url: target.authorizationServer.tokenEndpoint, client: oauth.client, post: gateway.oauthTransport.post)
                    .exchange(code: code, redirectURI: state.redirectURI, verifier: state.verifier, resource: oauth.sendResource ? target.resource : nil)
                var stored = StoredConnection(
                    accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, expiresAt: tokens.expiresIn.map { now + $0 },
                    scope: tokens.scope, issuer: target.authorizationServer.issuer, connectedAt: now)
                stored.refreshedAt = nil
                try store.write(stored, user: state.user, server: state.server)
            } catch {
                let why = "\(error)"
                gateway.logger.warning("connecting \(state.user)'s account at \(state.server) failed: \(why)")
                gateway.auditor.record(context, request: request, caller: nil, decision: .deny, reason: "connect at \(state.server) failed: \(why)", status: 502,
                                       started: .now, user: state.user)
                return finished("Not connected", "\(state.server) was not connected: \(why)", status: .badGateway, clearCookie)
            }
            gateway.auditor.record(context, request: request, caller: nil, decision: .allow, reason: "connected an account at \(state.server)", status: 200,
                                   started: .now, user: state.user)
            gateway.accountConnected(user: state.user, server: state.server)
            return finished("Connected", "Your account at \(state.server) is connected.", status: .ok, clearCookie)
        }
    }

    /// Whether the authorization server `issuer` of a server of `policy` says it sends `iss` (RFC 9207),
    /// as its kept metadata says.
    private func sendsIssuer(_ issuer: String, _ policy: Policy) -> Bool {
        gateway.connectionTargets.kept.contains { $0.authorizationServer.issuer == issuer && $0.authorizationServer.sendsIssuer }
    }

    /// The page a callback ends on, which goes on to `/ui/connections` as a same-site navigation.
    private func finished(_ title: String, _ message: String, status: HTTPResponse.Status, _ cookie: HTTPField) -> Response {
        var response = dashboard.render("connected", ["title": title, "message": message], status: status)
        response.headers.append(cookie)
        return response
    }

    /// `POST /ui/connections/disconnect` (`server`, `csrf`): revoked where the server can, and forgotten.
    func disconnect(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let (session, caller, form) = try await dashboard.signedInForm(request, context, what: "disconnect")
        guard let server = servers(caller.policy, user: caller.user, key: caller.key).first(where: { $0.path == form["server"] }),
            let store = gateway.connectionStore(caller.policy)
        else { throw GatewayError.notFound("no server \(form["server"] ?? "") with connected accounts for you") }
        if case .connection(let stored) = store.read(user: caller.userName, server: server.path) {
            await revoke(stored, server)
        }
        do {
            try store.remove(user: caller.userName, server: server.path)
        } catch {
            let (template, values) = page(session, caller, message: "\(server.path) could not be disconnected: \(error.description)")
            return dashboard.render(template, values, session: session, caller: caller, status: .internalServerError)
        }
        gateway.auditor.record(context, request: request, caller: caller, decision: .allow, reason: "disconnected the account at \(server.path)", status: 303, started: .now)
        return Response(status: .seeOther, headers: [.location: "/ui/connections"])
    }

    /// RFC 7009 at the authorization server, when it has a revocation endpoint: the refresh token
    /// (which takes its access tokens with it at most servers), else the access token. A failure is
    /// logged; the tokens are forgotten either way.
    private func revoke(_ stored: StoredConnection, _ server: OAuthServer) async {
        guard let target = try? await gateway.connectionTargets.value(for: ConnectionTargetKey(url: server.url, oauth: server.oauth)),
            let endpoint = target.authorizationServer.revocationEndpoint
        else { return }
        let (token, hint) = stored.refreshToken.map { ($0, "refresh_token") } ?? (stored.accessToken, "access_token")
        do {
            try await TokenEndpoint(url: endpoint, client: server.oauth.client, post: gateway.oauthTransport.post).revoke(token, hint: hint)
        } catch {
            gateway.logger.warning("revoking a token at \(server.path)'s authorization server failed: \(error)")
        }
    }

    func adminPage(_ session: DashboardSessions.Session, _ caller: Caller) -> (template: String, values: [String: Any]) {
        let policy = caller.policy
        let store = gateway.connectionStore(policy)
        var rows: [[String: Any]] = []
        for user in policy.users {
            guard let id = policy.user(named: user.name) else { continue }
            for server in servers(policy, user: id, key: nil) {
                let state = store?.state(user: user.name, server: server.path, at: now) ?? .notConnected
                rows.append(["user": user.name, "server": server.path, "state": state.description])
            }
        }
        return ("adminConnections", ["title": "Connections", "navAdmin": true, "rows": rows, "hasRows": !rows.isEmpty])
    }
}
