import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import OrchJSON
import OrchPolicy

/// The web dashboard under `/ui/` (docs/guide/dashboard.md): each person's servers, tools, client
/// configs and keys; the gateway's state for admins. It shows and explains the policy, never edits
/// it, and is built on the same snapshot and decisions as the REST API. Sign-in exchanges a key
/// (or an `auth.oidc` sign-in) for an `orch_session` cookie; every state-changing request carries
/// a CSRF token; every page is served with a strict Content-Security-Policy.
struct Dashboard: Sendable {
    let gateway: Gateway

    static let cookie = "orch_session"
    /// The sign-in form's CSRF cookie (double submit: the form carries the same value).
    static let csrfCookie = "orch_csrf"

    func addRoutes(to router: Router<GatewayContext>) {
        router.get("/") { _, _ in
            guard self.enabled else { throw GatewayError.notFound() }
            return Response(status: .found, headers: [.location: "/ui/"])
        }
        let ui = router.group("ui").add(middleware: DashboardHeaders(gateway: gateway))
        ui.get("assets/:file") { _, context in
            guard let file = DashboardAssets.files[context.parameters.get("file") ?? ""] else { throw GatewayError.notFound() }
            return Response(status: .ok, headers: [.contentType: file.type, .cacheControl: "no-cache"], body: .init(byteBuffer: file.body))
        }
        ui.get("signin") { request, context in try self.signInPage(request, context) }
        ui.post("signin") { request, context in try await self.signIn(request, context) }
        ui.post("signout") { request, context in try await self.signOut(request, context) }
        ui.get("") { request, context in try await self.page(request, context) { try self.serversPage($0, $1) } }
        ui.get("servers/:org/:server") { request, context in
            try await self.page(request, context) { session, caller in try await self.serverPage(session, caller, context) }
        }
        ui.get("connect") { request, context in try await self.page(request, context) { self.connectPage($0, $1) } }
        ui.get("keys") { request, context in try await self.page(request, context) { self.keysPage($0, $1) } }
        ui.get("admin") { request, context in try await self.page(request, context, admin: true) { self.adminPage($0, $1) } }
        ui.get("admin/access") { request, context in
            try await self.page(request, context, admin: true) { self.accessPage($0, $1, request) }
        }
        ui.get("admin/sessions") { request, context in try await self.page(request, context, admin: true) { self.sessionsPage($0, $1) } }
        ui.get("admin/audit") { request, context in
            try await self.page(request, context, admin: true) { self.auditPage($0, $1, request) }
        }
        ui.get("admin/audit/stream") { request, context in try self.auditStream(request, context) }
        DashboardSignIn(dashboard: self).addRoutes(to: ui)
        DashboardConnections(dashboard: self).addRoutes(to: ui)
        DashboardApprovals(dashboard: self).addRoutes(to: ui)
    }

    var enabled: Bool { gateway.store.policy?.settings.dashboard ?? true }

    // MARK: sessions

    /// The signed-in session of a request and its caller under the running policy; a redirect to
    /// the sign-in page otherwise.
    func signedIn(_ request: Request) throws -> (DashboardSessions.Session, Caller) {
        guard let policy = gateway.store.policy else { throw GatewayError.notReady() }
        guard let id = request.cookies[Self.cookie]?.value, let found = gateway.dashboardSessions.caller(id, policy: policy) else {
            throw DashboardRedirect(to: "/ui/signin")
        }
        return found
    }

    /// Renders the page `build` describes for the signed-in caller (admins only with `admin`).
    func page(
        _ request: Request, _ context: GatewayContext, admin: Bool = false,
        _ build: (DashboardSessions.Session, Caller) async throws -> (template: String, values: [String: Any])
    ) async throws -> Response {
        guard enabled else { throw GatewayError.notFound() }
        let (session, caller) = try signedIn(request)
        let user = caller.policy.user(caller.user)
        if admin && !user.spec.admin {
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "\(user.name) is not a gateway admin", status: 403, started: .now)
            return render("error", ["title": "Admins only", "message": "This page is for gateway admins."], session: session, caller: caller,
                          status: .forbidden)
        }
        let (template, values) = try await build(session, caller)
        return render(template, values, session: session, caller: caller)
    }

    /// A page with the header's values (who is signed in, the CSRF token, the navigation).
    func render(
        _ template: String, _ values: [String: Any], session: DashboardSessions.Session? = nil, caller: Caller? = nil,
        status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]
    ) -> Response {
        var all = values
        if let session, let caller {
            all["user"] = caller.userName
            all["signIn"] = caller.credential.issuer.map { "signed in with \($0)" } ?? caller.keyName.map { "key \($0)" } ?? ""
            all["csrf"] = session.csrf
            all["admin"] = caller.policy.user(caller.user).spec.admin
            all["hasOAuthServers"] = caller.policy.servers.contains { $0.spec.oauth != nil }
            all["hasApprovals"] = caller.policy.servers.contains { $0.spec.approve.contains { $0.by != .caller } }
        }
        let html = DashboardTemplates.library.render(all, withTemplate: template) ?? ""
        var fields: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        fields.append(contentsOf: headers)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    /// A form body (`application/x-www-form-urlencoded`), within a small bound.
    static func form(_ request: Request) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 16 * 1024)
        var fields: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if let name = parts.first { fields[name] = parts.count > 1 ? parts[1] : "" }
        }
        return fields
    }

    /// The `Set-Cookie` value of a cookie of the dashboard's: HttpOnly, SameSite=Strict, Path=/ui,
    /// Secure when the public URL is https.
    func cookie(_ name: String, _ value: String, maxAge: Int?) -> String {
        var text = "\(name)=\(value); Path=/ui; HttpOnly; SameSite=Strict"
        if let maxAge { text += "; Max-Age=\(maxAge)" }
        if let policy = gateway.store.policy, gateway.publicURL(for: policy).hasPrefix("https://") { text += "; Secure" }
        return text
    }

    /// A new signed-in session for `caller`: the cookie, and a redirect home.
    func startSession(_ caller: Caller, _ request: Request, _ context: GatewayContext, how: String) -> Response {
        let session = gateway.dashboardSessions.create(for: caller)
        gateway.auditor.record(context, request: request, caller: caller, decision: .allow, reason: "signed in to the dashboard with \(how)", status: 303, started: .now)
        var headers: HTTPFields = [.location: "/ui/"]
        headers.append(HTTPField(name: .setCookie, value: cookie(Self.cookie, session.id, maxAge: Int(session.expires.timeIntervalSinceNow))))
        headers.append(HTTPField(name: .setCookie, value: cookie(Self.csrfCookie, "", maxAge: 0)))
        return Response(status: .seeOther, headers: headers)
    }

    // MARK: sign-in with a key, sign-out

    func signInPage(_ request: Request, _ context: GatewayContext, message: String? = nil, status: HTTPResponse.Status = .ok) throws -> Response {
        guard enabled else { throw GatewayError.notFound() }
        if message == nil, (try? signedIn(request)) != nil { return Response(status: .seeOther, headers: [.location: "/ui/"]) }
        let csrf = Hex.encode(Crypto.randomBytes(16))
        let issuers = (gateway.store.policy?.auth.issuers ?? []).filter { $0.client != nil }.map { ["name": $0.name] }
        var values: [String: Any] = ["title": "Sign in", "csrf": csrf, "issuers": issuers, "hasIssuers": !issuers.isEmpty]
        if let message { values["message"] = message }
        return render("signin", values, status: status,
                      headers: [.setCookie: cookie(Self.csrfCookie, csrf, maxAge: 3600)])
    }

    func signIn(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard enabled else { throw GatewayError.notFound() }
        guard let policy = gateway.store.policy else { throw GatewayError.notReady() }
        let form = try await Self.form(request)
        guard let sent = form["csrf"], !sent.isEmpty, sent == request.cookies[Self.csrfCookie]?.value else {
            gateway.auditor.record(context, request: request, caller: nil, decision: .deny, reason: "dashboard sign-in without its CSRF token", status: 403, started: .now)
            return try signInPage(request, context, message: "The form expired. Sign in again.", status: .forbidden)
        }
        switch Authenticator.known("Bearer " + (form["key"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines), policy: policy,
                                           signIns: SignIns(capacity: 0), at: gateway.clock.now())
        {
        case .success(let caller):
            return startSession(caller, request, context, how: "key \(caller.keyName ?? "")")
        case .failure(let refusal):
            gateway.metrics.authFailure(refusal.kind)
            gateway.auditor.record(context, request: request, caller: nil, decision: .deny, reason: "dashboard sign-in: \(refusal.reason)", status: 401,
                          started: .now, user: refusal.user, key: refusal.key)
            return try signInPage(request, context, message: "That key does not sign in here (unknown, expired or disabled).", status: .unauthorized)
        }
    }

    func signOut(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let form = try await Self.form(request)
        var headers: HTTPFields = [.location: "/ui/signin"]
        headers.append(HTTPField(name: .setCookie, value: cookie(Self.cookie, "", maxAge: 0)))
        if let (session, caller) = try? signedIn(request) {
            guard form["csrf"] == session.csrf else {
                gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "dashboard sign-out without its CSRF token", status: 403, started: .now)
                throw GatewayError.forbidden("missing or wrong CSRF token")
            }
            gateway.dashboardSessions.remove(session.id)
            gateway.auditor.record(context, request: request, caller: caller, decision: .allow, reason: "signed out of the dashboard", status: 303, started: .now)
        }
        return Response(status: .seeOther, headers: headers)
    }

    // MARK: pages

    func serversPage(_ session: DashboardSessions.Session, _ caller: Caller) throws -> (template: String, values: [String: Any]) {
        let policy = caller.policy
        let publicURL = gateway.publicURL(for: policy)
        var orgs: [(name: String, servers: [[String: Any]])] = []
        for id in gateway.reachableServers(caller) {
            let server = policy.server(id)
            let org = policy.org(server.org).name
            let (status, statusClass) = gateway.reachability(policy, id, user: caller.userName)
            let entry: [String: Any] = [
                "org": org, "name": server.name, "path": "\(org)/\(server.name)", "transport": server.spec.transportName,
                "description": server.spec.description ?? "", "status": status, "statusClass": statusClass,
                "endpoint": Endpoints.urls(publicURL: publicURL, org: org, server: server.name).streamableHTTP,
            ]
            if let index = orgs.firstIndex(where: { $0.name == org }) { orgs[index].servers.append(entry) } else { orgs.append((org, [entry])) }
        }
        let values: [[String: Any]] = orgs.map { org in
            let toolsets: [[String: Any]] = (policy.orgs.first { $0.name == org.name }?.spec.toolsets ?? []).map { toolset in
                [
                    "org": org.name, "name": toolset.name, "description": toolset.description ?? "",
                    "tools": toolset.tools.map { "\($0.server):\($0.tools)" }.joined(separator: ", "),
                    "endpoint": Endpoints.toolsetURL(publicURL: publicURL, org: org.name, toolset: toolset.name),
                ]
            }
            return ["name": org.name, "servers": org.servers, "endpoint": Endpoints.orgURLs(publicURL: publicURL, org: org.name).streamableHTTP,
                    "hasToolsets": !toolsets.isEmpty, "toolsets": toolsets]
        }
        return ("servers", ["title": "Servers", "navServers": true, "orgs": values])
    }

    func serverPage(_ session: DashboardSessions.Session, _ caller: Caller, _ context: GatewayContext) async throws -> (template: String, values: [String: Any]) {
        let policy = caller.policy
        let org = context.parameters.get("org") ?? "", name = context.parameters.get("server") ?? ""
        guard let id = policy.server(org: org, name: name), gateway.reachableServers(caller).contains(id) else {
            throw GatewayError.notFound("no server \(org)/\(name)")
        }
        let server = policy.server(id)
        let now = gateway.clock.now()
        var values: [String: Any] = [
            "title": "\(org)/\(name)", "navServers": true, "path": "\(org)/\(name)", "description": server.spec.description ?? "",
            "transport": server.spec.transportName,
            "endpoint": Endpoints.urls(publicURL: gateway.publicURL(for: policy), org: org, server: name).streamableHTTP,
        ]
        var kinds: [[String: Any]] = []
        switch await gateway.catalogListing(policy, id, user: caller.userName) {
        case .success(let listing):
            for kind in ItemKind.allCases {
                let items: [[String: Any]] = listing.items(kind).compactMap { entry in
                    guard let itemName = entry[kind == .resource ? "uri" : "name"]?.stringValue, let named = Item.named(kind, itemName) else { return nil }
                    let decision = policy.decide(user: caller.user, server: id, item: named, key: caller.key, at: now)
                    var item: [String: Any] = [
                        "name": itemName, "description": entry["description"]?.stringValue ?? entry["title"]?.stringValue ?? "",
                        "allowed": decision.allowed, "reason": policy.describe(decision.reason),
                    ]
                    // How its listing stands against its pin, only read: a page view reports and remembers nothing.
                    if kind != .resource, gateway.pinCheck.mode != .off {
                        let status = gateway.pins.status(server: "\(org)/\(name)", kind, entry)
                        if status != .pinned { item["pin"] = "\(kind) \(PinCheck.text(status))" }
                        if decision.allowed, let refusal = gateway.pinCheck.refusal(server: "\(org)/\(name)", kind, itemName, status: status) {
                            item["allowed"] = false
                            item["reason"] = refusal
                        }
                    }
                    if kind == .tool, let schema = entry["inputSchema"] { item["schema"] = schema.pretty }
                    return item
                }
                kinds.append(["kind": kind.plural, "title": kind.plural.capitalized, "items": items, "hasItems": !items.isEmpty])
            }
        case .failure(let error):
            values["failure"] = Gateway.catalogFailure(error, processLimit: policy.settings.limits.maxUpstreamProcesses)
        }
        values["kinds"] = kinds
        return ("server", values)
    }

    func connectPage(_ session: DashboardSessions.Session, _ caller: Caller) -> (template: String, values: [String: Any]) {
        let policy = caller.policy
        let user = policy.user(caller.user).name
        let reachable = policy.reachableServers(user: caller.user, key: caller.key, at: gateway.clock.now())
        let clients: [[String: Any]] = MCPClient.allCases.map { client in
            let config = policy.clientConfig(user: caller.user, client: client, token: .placeholder, reachable: reachable,
                                             publicURL: gateway.publicURL(for: policy))
            return [
                "id": client.rawValue, "name": client.displayName, "location": client.configLocation, "config": config.document.pretty,
                "command": "orch client-config --user \(user) --client \(client.rawValue) --token-env ORCH_TOKEN",
            ]
        }
        return ("connect", [
            "title": "Connect", "navConnect": true, "perOrg": true, "clients": clients,
            "mintCommand": "orch keys new orch.json --user \(user) --id \(Self.freeKeyID(caller)) --expires 90d --client cursor --write",
        ])
    }

    func keysPage(_ session: DashboardSessions.Session, _ caller: Caller) -> (template: String, values: [String: Any]) {
        let policy = caller.policy
        let user = policy.user(caller.user)
        let now = gateway.clock.now()
        let keys: [[String: Any]] = user.keys.map { id in
            let spec = policy.key(id).spec
            let (status, statusClass): (String, String) =
                if let expires = spec.expires, expires <= now { ("expired", "expired") }
                else if policy.key(id).expiresSoon(at: now) { ("expires soon", "expiring") }
                else { ("active", "active") }
            return [
                "id": spec.id, "status": status, "statusClass": statusClass, "expires": spec.expires.map(Timestamp.format) ?? "never",
                "scope": spec.scope.map { $0.map(\.text).joined(separator: ", ") } ?? "all the user's access",
                "description": spec.description ?? "", "current": caller.key == id,
            ]
        }
        return ("keys", [
            "title": "Keys", "navKeys": true, "keys": keys, "hasKeys": !keys.isEmpty,
            "mintCommand": "orch keys new orch.json --user \(user.name) --id NAME --expires 90d --write",
        ])
    }

    func adminPage(_ session: DashboardSessions.Session, _ caller: Caller) -> (template: String, values: [String: Any]) {
        let snapshot = gateway.store.snapshot
        let counts = snapshot.policy?.counts
        var diagnostics: [[String: Any]] = []
        var lastReload = "none since start"
        if let reload = snapshot.lastReload {
            lastReload = "\(Timestamp.format(reload.at)): \(reload.ok ? "ok" : "failed, the running policy was kept")"
            diagnostics = reload.diagnostics.map { d in
                ["severity": d.severity.rawValue, "location": d.path + (d.line.map { " (line \($0))" } ?? ""), "message": d.message]
            }
        }
        let counters: [[String: Any]] = [
            ["name": "Live MCP sessions", "value": gateway.sessions.all.count],
            ["name": "Aggregated sessions", "value": gateway.aggregates.all.count],
            ["name": "Upstream processes", "value": gateway.sessions.processCount],
            ["name": "Dashboard sessions", "value": gateway.dashboardSessions.all.count],
            ["name": "Reloads (ok / failed / unchanged)", "value": gateway.metrics.reloadCounts],
            ["name": "Audit records that could not be written", "value": gateway.audit.failedWrites],
        ]
        return ("admin", [
            "title": "Gateway", "navAdmin": true, "digest": snapshot.policy?.digest ?? "no policy loaded", "source": gateway.store.source,
            "loadedAt": snapshot.loadedAt.map(Timestamp.format) ?? "-", "lastReload": lastReload,
            "counts": counts.map { "\($0.orgs) orgs, \($0.users) users, \($0.keys) keys, \($0.servers) servers, \($0.tests) tests" } ?? "-",
            "diagnostics": diagnostics, "hasDiagnostics": !diagnostics.isEmpty, "counters": counters,
        ])
    }

    /// Users × servers, at most 100 users at a time (filtered by name), each cell the same decision
    /// the gateway makes on connecting (no key scope); a cell opens its reason.
    func accessPage(_ session: DashboardSessions.Session, _ caller: Caller, _ request: Request) -> (template: String, values: [String: Any]) {
        let policy = caller.policy
        let query = request.uri.queryParameters
        let filter = query.get("user") ?? ""
        let servers = policy.serverIDs
        let paths = servers.map(policy.serverPath)
        let now = gateway.clock.now()
        let matching = policy.userIDs.lazy.filter { filter.isEmpty || policy.user($0).name.contains(filter) }
        let shown = Array(matching.prefix(100))
        let rows: [[String: Any]] = shown.map { user in
            let name = policy.user(user).name
            return [
                "user": name, "disabled": policy.user(user).spec.disabled,
                "cells": servers.enumerated().map { index, server -> [String: Any] in
                    ["user": name, "server": paths[index], "allowed": policy.decide(user: user, server: server, tool: nil, key: nil, at: now).allowed]
                },
            ]
        }
        var values: [String: Any] = [
            "title": "Access", "navAdmin": true, "userFilter": filter, "servers": paths, "rows": rows, "shown": shown.count,
            "total": policy.users.count, "more": policy.users.count > shown.count,
        ]
        if let userName = query.get("user"), let user = policy.user(named: userName), let path = query.get("server"),
            let index = paths.firstIndex(of: path)
        {
            let decision = policy.decide(user: user, server: servers[index], tool: nil, key: nil, at: now)
            let roles = policy.user(user).memberships.filter { $0.org == policy.server(servers[index]).org }
                .flatMap { $0.grants.map { policy.roles[$0.role.index].name } }
            values["detail"] = [
                "user": userName, "server": path, "allowed": decision.allowed, "reason": policy.describe(decision.reason),
                "roles": Array(Set(roles)).sorted(), "hasRoles": !roles.isEmpty,
            ] as [String: Any]
        }
        return ("access", values)
    }

    func sessionsPage(_ session: DashboardSessions.Session, _ caller: Caller) -> (template: String, values: [String: Any]) {
        let now = gateway.clock.now()
        let rows: [[String: Any]] = gateway.sessions.all.sorted { $0.openedAt < $1.openedAt }.map { mcp in
            [
                "user": mcp.user, "server": mcp.serverPath,
                "credential": mcp.keyID.map { "key \($0)" } ?? "signed in with \(mcp.credential.issuer ?? "")",
                "age": Self.duration(now.timeIntervalSince(mcp.openedAt)),
                "idle": Self.duration(Double(mcp.idle().nanoseconds) / 1e9),
            ]
        }
        return ("sessions", [
            "title": "Sessions", "navAdmin": true, "rows": rows, "hasRows": !rows.isEmpty,
            "dashboardSessions": gateway.dashboardSessions.all.count == 1 ? "1 browser is" : "\(gateway.dashboardSessions.all.count) browsers are",
        ])
    }

    /// The last audit records (newest first) that match the filters, and the live tail's URL.
    func auditPage(_ session: DashboardSessions.Session, _ caller: Caller, _ request: Request) -> (template: String, values: [String: Any]) {
        let filter = AuditFilter(request)
        let rows = gateway.audit.feed.recent.reversed().compactMap { line -> [String: Any]? in
            guard let record = try? JSONValue.parse(line), filter.matches(record) else { return nil }
            return Self.auditRow(record)
        }
        let decisions: [[String: Any]] = [("", "any"), ("allow", "allow"), ("deny", "deny"), ("end", "session end")].map {
            ["value": $0.0, "label": $0.1, "selected": filter.decision == $0.0]
        }
        return ("audit", [
            "title": "Audit", "navAdmin": true, "rows": Array(rows.prefix(500)), "userFilter": filter.user, "server": filter.server,
            "decisions": decisions, "stream": "/ui/admin/audit/stream" + (request.uri.query.map { "?" + $0 } ?? ""),
        ])
    }

    static func auditRow(_ record: JSONValue) -> [String: Any] {
        var row: [String: Any] = [:]
        for field in ["ts", "user", "server", "method", "decision", "reason"] { row[field] = record[field]?.stringValue ?? "" }
        let server = [record["org"]?.stringValue, record["server"]?.stringValue].compactMap { $0 }.joined(separator: "/")
        row["server"] = server
        row["target"] = record["target"]?.stringValue ?? ""
        return row
    }

    /// `GET /ui/admin/audit/stream`: new audit records matching the filters, as server-sent events.
    func auditStream(_ request: Request, _ context: GatewayContext) throws -> Response {
        guard enabled else { throw GatewayError.notFound() }
        let (_, caller) = try signedIn(request)
        guard caller.policy.user(caller.user).spec.admin else {
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "\(caller.userName) is not a gateway admin", status: 403, started: .now)
            throw GatewayError.forbidden("the audit stream is for gateway admins")
        }
        let filter = AuditFilter(request)
        let records = gateway.audit.feed.follow()
        let sessionID = request.cookies[Self.cookie]?.value ?? ""
        let gateway = self.gateway
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: ": live\n\n"))
            for await line in records {
                // The stream ends with the browser's session.
                guard let policy = gateway.store.policy, gateway.dashboardSessions.caller(sessionID, policy: policy) != nil else { break }
                guard let record = try? JSONValue.parse(line), filter.matches(record) else { continue }
                var event = Self.auditRow(record)
                event["ts"] = record["ts"]?.stringValue ?? ""
                let json = JSONValue.object(JSONObject(event.map { ($0.key, JSONValue.string($0.value as? String ?? "")) }))
                try await writer.write(ByteBuffer(string: "data: \(json.compact)\n\n"))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-store"], body: body)
    }

    /// A key id the caller does not use yet, for the commands the pages show.
    static func freeKeyID(_ caller: Caller) -> String {
        let used = Set(caller.policy.user(caller.user).keys.map { caller.policy.key($0).spec.id })
        return (["laptop", "desktop", "workstation"] + (2...99).map { "laptop-\($0)" }).first { !used.contains($0) } ?? "new-key"
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds)
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min" }
        return "\(s / 3600) h \(s % 3600 / 60) min"
    }
}

/// The audit page's filters: user, server (`ORG/SERVER` or a server name) and decision.
struct AuditFilter {
    let user: String
    let server: String
    let decision: String

    init(_ request: Request) {
        let query = request.uri.queryParameters
        user = query.get("user") ?? ""
        server = query.get("server") ?? ""
        decision = query.get("decision") ?? ""
    }

    func matches(_ record: JSONValue) -> Bool {
        if !user.isEmpty, record["user"]?.stringValue != user { return false }
        if !decision.isEmpty, record["decision"]?.stringValue != decision { return false }
        if !server.isEmpty {
            let name = record["server"]?.stringValue ?? ""
            let path = (record["org"]?.stringValue).map { "\($0)/\(name)" } ?? name
            if server != name && server != path { return false }
        }
        return true
    }
}

/// A redirect thrown from deep in a page (to the sign-in page).
struct DashboardRedirect: HTTPResponseError {
    let to: String
    var status: HTTPResponse.Status { .seeOther }
    func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: .seeOther, headers: [.location: to])
    }
}

/// The headers of every dashboard response: no framing, no inline script or style, no sniffing,
/// no referrer, no caching of pages that show a person's access.
struct DashboardHeaders: RouterMiddleware {
    typealias Context = GatewayContext
    let gateway: Gateway

    static let policy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self' https: http:; base-uri 'none'"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let redirect as DashboardRedirect {
            response = try redirect.response(from: request, context: context)
        }
        response.headers[.contentSecurityPolicy] = Self.policy
        response.headers[.xFrameOptions] = "DENY"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "same-origin"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }
}

extension HTTPField.Name {
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}

extension Dashboard {
    /// A form POSTed by the signed-in caller, with its session's CSRF token (refused and audited without).
    func signedInForm(_ request: Request, _ context: GatewayContext, what: String) async throws
        -> (DashboardSessions.Session, Caller, [String: String])
    {
        guard enabled else { throw GatewayError.notFound() }
        let (session, caller) = try signedIn(request)
        let form = try await Dashboard.form(request)
        guard form["csrf"] == session.csrf else {
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "dashboard \(what) without its CSRF token", status: 403, started: .now)
            throw GatewayError.forbidden("missing or wrong CSRF token")
        }
        return (session, caller, form)
    }

}
