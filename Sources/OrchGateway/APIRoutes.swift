import Foundation
import Hummingbird
import OrchJSON
import OrchPolicy

extension Gateway {
    /// `/healthz`'s answer, encoded once.
    static let healthyBody = ByteBuffer(string: (["status": "ok"] as JSONValue).compact)

    /// `/healthz` and `/readyz`: no authentication. `/metrics`: none on loopback, an admin's key
    /// elsewhere (`gateway.metrics` decides).
    func addHealthRoutes(to router: Router<GatewayContext>) {
        router.get("healthz") { _, _ in Response.json(encoded: Self.healthyBody) }
        router.get("readyz") { _, _ in
            guard let policy = self.store.policy else {
                return Response.json(["status": "not ready", "policy": nil], status: .serviceUnavailable)
            }
            return Response.json(["status": "ready", "policy": .string(policy.digest)])
        }
        router.get("metrics") { request, context in
            if let policy = self.store.policy, self.metricsNeedAdmin(policy) {
                let caller = try await AuthMiddleware(gateway: self).authenticate(request, context: context)
                guard caller.policy.user(caller.user).spec.admin else {
                    self.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "\(caller.userName) is not a gateway admin", status: 403, started: .now)
                    throw GatewayError.forbidden("/metrics is for gateway admins here (gateway.metrics)")
                }
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: self.metrics.render())))
        }
    }

    /// The REST API under `/api/v1`, behind `AuthMiddleware`.
    func addAPIRoutes(to api: RouterGroup<GatewayContext>) {
        // The answers of `me` and `servers` are the same for a key until the policy changes: each
        // is encoded once and kept.
        api.get("me") { _, context in Response.json(encoded: self.callerBody(.me, try context.requireCaller())) }
        api.get("servers") { _, context in Response.json(encoded: self.callerBody(.servers, try context.requireCaller())) }
        api.get("orgs/{org}/servers") { request, context in
            let caller = try context.requireCaller()
            let name = context.parameters.get("org") ?? ""
            let policy = caller.policy
            // An org the caller is not in answers exactly like one that does not exist.
            guard let org = policy.org(named: name), policy.user(caller.user).memberships.contains(where: { $0.org == org }) else {
                let reason = policy.org(named: name) == nil ? "no org \(name)" : "\(caller.userName) is not a member of \(name)"
                self.auditor.record(context, request: request, caller: caller, decision: .deny, reason: reason, status: 404, started: .now, org: name)
                throw GatewayError.notFound("no org \(name)")
            }
            let servers = self.reachableServers(caller).filter { policy.server($0).org == org }
            return Response.json(["servers": .array(servers.map { self.describe($0, policy) })])
        }
        api.get("toolsets") { _, context in Response.json(self.toolsets(try context.requireCaller())) }
        api.get("tools") { request, context in try await self.catalogResponse(.tool, request, context) }
        api.get("prompts") { request, context in try await self.catalogResponse(.prompt, request, context) }
        api.get("resources") { request, context in try await self.catalogResponse(.resource, request, context) }
        api.get("client-config") { request, context in try self.clientConfigResponse(request, context) }
        api.get("policy") { request, context in
            let caller = try context.requireCaller()
            guard caller.policy.user(caller.user).spec.admin else {
                self.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "\(caller.userName) is not a gateway admin", status: 403, started: .now)
                throw GatewayError.forbidden("the policy API is for gateway admins")
            }
            return Response.json(self.policyStatus())
        }
    }

    /// `/api/v1/toolsets`: the toolsets of the orgs the caller reaches servers in, each with its
    /// endpoint and the servers of it the caller reaches (what each tool is then decided on).
    func toolsets(_ caller: Caller) -> JSONValue {
        let policy = caller.policy
        let reachable = reachableServers(caller)
        let base = publicURL(for: policy)
        var listed: [JSONValue] = []
        for org in policy.orgs where reachable.contains(where: { policy.org(policy.server($0).org).name == org.name }) {
            for toolset in org.spec.toolsets {
                let servers = toolset.servers.filter { name in reachable.contains { policy.serverPath($0) == "\(org.name)/\(name)" } }
                let url = Endpoints.toolsetURL(publicURL: base, org: org.name, toolset: toolset.name)
                listed.append([
                    "org": .string(org.name), "name": .string(toolset.name), "description": .optional(toolset.description),
                    "tools": .strings(toolset.tools.map { "\($0.server):\($0.tools)" }),
                    "servers": .strings(servers.map { "\(org.name)/\($0)" }),
                    "endpoints": ["streamableHttp": .string(url), "search": .string(url + "?tools=search")],
                ])
            }
        }
        return ["toolsets": .array(listed)]
    }

    /// Servers the caller's key may connect to, in file order.
    func reachableServers(_ caller: Caller) -> [ServerID] { caller.reachableServers(at: clock.now()) }

    /// `GET /api/v1/client-config?client=C[&server=ORG/SERVER]…[&transport=T][&mode=per-server]`: the
    /// same document `orch client-config` prints (one entry per org, or per server), for the caller's key (its scope applies) with the caller's own
    /// token in it: the caller has just proved it holds it. Pretty-printed, ready to save as a file.
    func clientConfigResponse(_ request: Request, _ context: GatewayContext) throws -> Response {
        let caller = try context.requireCaller()
        let policy = caller.policy
        let query = request.uri.queryParameters
        guard let clientName = query.get("client") else {
            throw GatewayError.badRequest("give client=C; valid clients: \(MCPClient.validNames)")
        }
        guard let client = MCPClient(rawValue: clientName) else { throw GatewayError.badRequest(MCPClient.unknownMessage(clientName)) }
        let transportName = query.get("transport") ?? ClientTransport.streamableHTTP.rawValue
        guard let transport = ClientTransport(rawValue: transportName) else {
            throw GatewayError.badRequest(ClientTransport.unknownMessage(transportName))
        }
        let modeName = query.get("mode") ?? ClientConfigMode.perOrg.rawValue
        guard let mode = ClientConfigMode(rawValue: modeName) else {
            throw GatewayError.badRequest("unknown mode \"\(modeName)\"; valid modes: per-org, per-server")
        }
        // Authentication passed, so the header holds the token.
        guard let token = Authenticator.bearerToken(request.headers[.authorization]) else {
            throw GatewayError.unauthorized("missing bearer token")
        }
        let clientToken: ClientToken
        // A sign-in's token expires within the hour: its caller gets configs that sign in themselves.
        switch query.get("auth") ?? (caller.key == nil ? "oauth" : "token") {
        case "token":
            guard caller.key != nil else {
                throw GatewayError.badRequest("auth=token writes the caller's key into the config, and a single sign-on token is no key; use auth=oauth, or call with a key")
            }
            clientToken = .value(token)
        case "oauth":
            // No issuers: the sign-in the document would point at does not exist (as its metadata).
            guard !policy.auth.issuers.isEmpty else { throw GatewayError.notFound("no OAuth sign-in: orch.json has no auth.oidc issuers") }
            clientToken = .oauth
        case let other: throw GatewayError.badRequest("unknown auth \"\(other)\"; valid: token, oauth")
        }
        let now = clock.now()
        let reachable = policy.reachableServers(user: caller.user, key: caller.key, at: now)
        var selected: [ServerID]? = nil
        let wanted = query.getAll("server")
        if !wanted.isEmpty {
            switch policy.selectServers(wanted, reachable: reachable, user: caller.user, key: caller.key, at: now) {
            case .success(let ids):
                selected = ids
            case .failure(.notAServer(let text)):
                throw GatewayError.badRequest("server=\(text) is not ORG/SERVER")
            case .failure(.unknown(let text)):
                auditor.record(context, request: request, caller: caller, decision: .deny, reason: "no server \(text)", status: 404, started: .now, server: text)
                throw GatewayError.notFound("no server \(text)")
            case .failure(.unreachable(let text, let reason)):
                // A server the caller may not reach answers exactly like one that does not exist;
                // the audit log keeps the real reason.
                auditor.record(context, request: request, caller: caller, decision: .deny, reason: reason, status: 404, started: .now, server: text)
                throw GatewayError.notFound("no server \(text)")
            }
        }
        // A toolset is one endpoint of its own: it wins over server= and mode=. Search mode is the
        // aggregated and toolset endpoints'; per server there is none, and it changes nothing.
        let toolset = query.get("toolset")
        let search: Bool
        switch query.get("tools") {
        case nil: search = false
        case "search": search = true
        case let other?: throw GatewayError.badRequest("unknown tools \"\(other)\"; valid: search")
        }
        if let toolset, policy.toolsetOrgs(toolset, reachable: reachable).isEmpty {
            throw GatewayError.notFound("no toolset \(toolset)")
        }
        let config = policy.clientConfig(
            user: caller.user, client: client, transport: transport, token: clientToken, reachable: reachable, servers: selected,
            publicURL: publicURL(for: policy), mode: mode, toolset: toolset, search: search)
        // The document carries the caller's token: no cache may keep it.
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: config.document.pretty + "\n")))
    }

    /// The body of `/api/v1/me` or `/api/v1/servers` for the caller: made once per key and policy.
    func callerBody(_ kind: CallerBodies.Kind, _ caller: Caller) -> ByteBuffer {
        switch kind {
        case .me:
            return callerBodies.body(.me, for: caller, publicURL: "") { ByteBuffer(string: describeCaller(caller).compact) }
        case .servers:
            let publicURL = publicURL(for: caller.policy)
            return callerBodies.body(.servers, for: caller, publicURL: publicURL) {
                let servers = reachableServers(caller).map { describe($0, caller.policy, publicURL: publicURL, user: caller.userName) }
                return ByteBuffer(string: (["servers": .array(servers)] as JSONValue).compact)
            }
        }
    }

    /// `/api/v1/me`: the caller's user, key (or sign-in) and roles in each org.
    func describeCaller(_ caller: Caller) -> JSONValue {
        let policy = caller.policy
        let user = policy.user(caller.user)
        let key: JSONValue = caller.key.map { policy.key($0) }.map { key in
            ["id": .string(key.spec.id), "expires": .optional(key.spec.expires.map(Timestamp.format))]
        } ?? nil
        return [
            "user": .string(user.name), "displayName": .optional(user.spec.displayName), "admin": .bool(user.spec.admin),
            "key": key, "signIn": caller.credential.issuer.map { ["issuer": .string($0)] } ?? nil,
            "orgs": .array(user.memberships.map { m in
                var roles: [String] = []
                for grant in m.grants where !roles.contains(policy.roles[grant.role.index].name) {
                    roles.append(policy.roles[grant.role.index].name)
                }
                return ["org": .string(policy.org(m.org).name), "roles": .strings(roles)]
            }),
        ]
    }

    /// A server as the API shows it: never its command, env, URL or headers.
    /// A server as the API shows it. For `user`, a per-user server also says which of its secrets
    /// the user has (names only, never values) and what is wrong with the others.
    func describe(_ id: ServerID, _ policy: Policy, publicURL: String? = nil, user: String? = nil) -> JSONValue {
        let server = policy.server(id)
        let org = policy.org(server.org).name
        let urls = Endpoints.urls(publicURL: publicURL ?? self.publicURL(for: policy), org: org, server: server.name)
        var described: JSONValue = [
            "id": .string("\(org)/\(server.name)"), "org": .string(org), "name": .string(server.name),
            "description": .optional(server.spec.description), "transport": .string(server.spec.transportName),
            "endpoints": ["streamableHttp": .string(urls.streamableHTTP), "sse": .string(urls.sse)],
        ]
        if let user, !server.spec.userSecrets.isEmpty, case .object(var object) = described {
            let secrets = userSecrets(policy)
            object["userSecrets"] = .array(server.spec.userSecrets.map { name in
                switch secrets.read(user: user, name: name) {
                case .success: ["name": .string(name), "present": true, "problem": nil]
                case .failure(let problem): ["name": .string(name), "present": false, "problem": .string(problem.description)]
                }
            })
            described = .object(object)
        }
        return described
    }

    /// `/api/v1/policy`: what is loaded and how the last reload went.
    func policyStatus() -> JSONValue {
        let snapshot = store.snapshot
        var counts: JSONValue = nil
        if let c = snapshot.policy?.counts {
            counts = [
                "orgs": .integer(Int64(c.orgs)), "users": .integer(Int64(c.users)), "keys": .integer(Int64(c.keys)),
                "servers": .integer(Int64(c.servers)), "tests": .integer(Int64(c.tests)),
            ]
        }
        let last: JSONValue = snapshot.lastReload.map { r in
            ["at": .string(Timestamp.format(r.at)), "ok": .bool(r.ok), "diagnostics": .array(r.diagnostics.map(\.json))]
        } ?? nil
        return [
            "digest": .optional(snapshot.policy?.digest), "source": .string(store.source),
            "loadedAt": .optional(snapshot.loadedAt.map(Timestamp.format)), "counts": counts, "lastReload": last,
        ]
    }
}
