import Foundation
import OrchJSON

/// Turns parsed orch.json into a typed `Document`, collecting every shape problem (unknown keys,
/// wrong types, bad names, malformed rules, plaintext tokens, missing variables) with its path.
/// References between parts (a member's role, a test's server) are the compiler's job.
struct DocumentDecoder {
    var log = DiagnosticLog()
    let environment: [String: String]
    /// `ORG/SERVER` of servers present in the file but too broken to decode, so that a test naming
    /// one is not reported again as naming a missing server.
    var brokenServers: Set<String> = []
    /// The values `${env:NAME}` put in: secrets the gateway's log never shows.
    var secretValues: Set<String> = []
    /// Set while a per-user server's env, headers and url are read: `${user:NAME}` is kept.
    var keepingUser = false

    static let topKeys = ["$schema", "version", "gateway", "auth", "roles", "orgs", "users", "tests"]

    mutating func decode(_ root: JSONNode) -> Document {
        var document = Document()
        guard let top = ObjectReader(root, path: "", known: Self.topKeys, log: &log) else { return document }
        if let version = top.required("version", &log) {
            if version.value != .integer(1) {
                log.error("version", "unsupported version \(version.value.compact): this orch reads version 1 (the number 1)")
            }
        }
        _ = top.string("$schema", &log)
        if let gateway = top["gateway"] { document.gateway = decodeGateway(gateway, path: "gateway") }
        if let auth = top["auth"] { document.auth = decodeAuth(auth, path: "auth") }
        if let roles = top["roles"] {
            for (name, value, path) in named(roles, path: "roles", what: "role") {
                if let role = decodeRole(name, value, path: path) { document.roles.append(role) }
            }
        }
        decodeOrgsAndUsers(top, into: &document)
        if document.gateway.stateKeys.isEmpty, let first = document.orgs.lazy.flatMap(\.servers).first(where: { $0.oauth != nil }) {
            log.warning(Path.member(first.path, "oauth"), "without gateway.stateKey, connected accounts are sealed with a random key of each process: every restart forgets them and other replicas cannot read them; set gateway.stateKey (openssl rand -base64 32, as ${env:NAME})")
        }
        if let tests = top["tests"] {
            if tests.isArray {
                for (i, item) in tests.items.enumerated() {
                    if let test = decodeTest(item, path: Path.item("tests", i)) { document.tests.append(test) }
                }
            } else {
                log.error("tests", "expected an array, found \(tests.typeDescription)")
            }
        }
        document.secretValues = secretValues
        return document
    }

    /// The members of an object whose keys are names, with their paths; bad names are logged.
    private mutating func named(_ value: JSONNode, path: String, what: String) -> [(String, JSONNode, String)] {
        guard value.isObject else {
            log.error(path, "expected an object of \(what)s, found \(value.typeDescription)")
            return []
        }
        var out: [(String, JSONNode, String)] = []
        out.reserveCapacity(value.members.count)
        for (name, member) in value.members {
            let memberPath = Path.member(path, name)
            guard Name.isValid(name) else {
                log.error(memberPath, "\"\(name)\" is not a valid \(what) name: \(Name.ruleDescription)")
                continue
            }
            // Org and server names are parts of the names on the aggregated endpoints
            // (ORG__PREFIX__NAME) and of file names (ORG__SERVER): "__" there would make one name
            // read two ways.
            if what == "org" || what == "server", let problem = Name.separatorProblem(name, trailing: what == "org") {
                log.error(memberPath, "\"\(name)\" is not a valid \(what) name: \(problem)")
                continue
            }
            out.append((name, member, memberPath))
        }
        return out
    }

    // MARK: gateway

    private mutating func decodeGateway(_ value: JSONNode, path: String) -> GatewaySettings {
        var settings = GatewaySettings()
        guard let r = ObjectReader(value, path: path, known: ["listen", "publicURL", "allowedOrigins", "allowedHosts", "metrics", "audit", "dashboard", "pinning", "secrets", "stateKey", "limits", "connections", "approvals"], log: &log) else {
            return settings
        }
        if let listen = r.string("listen", &log) {
            if let (host, port) = GatewaySettings.hostPort(listen) {
                settings.host = host
                settings.port = port
            } else {
                log.error(r.at("listen"), "\"\(listen)\" is not HOST:PORT (for example 127.0.0.1:8080 or [::1]:8080)")
            }
        }
        settings.publicURL = "http://" + settings.listen
        if let url = r.string("publicURL", &log) {
            if Self.isHTTPURL(url, allowPath: true) {
                settings.publicURL = url.hasSuffix("/") ? String(url.dropLast()) : url
                settings.publicURLIsExplicit = true
            } else {
                log.error(r.at("publicURL"), "\"\(url)\" is not an http:// or https:// URL without query or fragment")
            }
        }
        for origin in r.strings("allowedOrigins", &log) ?? [] {
            if origin.value != "*" && !Self.isHTTPURL(origin.value, allowPath: false) {
                log.error(origin.path, "\"\(origin.value)\" is not an origin (scheme://host[:port], no path)")
            } else {
                settings.allowedOrigins.append(origin.value)
            }
        }
        for host in r.strings("allowedHosts", &log) ?? [] {
            let name = host.value.lowercased()
            if name.isEmpty || name.contains(where: { "/:@?# ".contains($0) }) {
                log.error(host.path, "\"\(host.value)\" is not a host name (no scheme, port or path: orch.example.com)")
            } else {
                settings.allowedHosts.append(name)
            }
        }
        if let metrics = r.string("metrics", &log) {
            if let access = MetricsAccess(rawValue: metrics) {
                settings.metrics = access
            } else {
                log.error(r.at("metrics"), "\"\(metrics)\" is not \"open\" (no token) or \"admin\" (an admin's key)")
            }
        }
        if let dashboard = r.bool("dashboard", &log) { settings.dashboard = dashboard }
        if let node = r["stateKey"] { settings.stateKeys = stateKeys(node, path: r.at("stateKey")) }
        if let secrets = r.string("secrets", &log) {
            if secrets.isEmpty { log.error(r.at("secrets"), "must be a folder path (default: secrets, beside orch.json)") } else { settings.secrets = secrets }
        }
        if let connections = r.string("connections", &log) {
            if connections.isEmpty {
                log.error(r.at("connections"), "must be a folder path (default: state/connections, beside orch.json)")
            } else {
                settings.connections = connections
            }
        }
        if let approvals = r.string("approvals", &log) {
            if approvals.isEmpty {
                log.error(r.at("approvals"), "must be a folder path (default: state/approvals, beside orch.json)")
            } else {
                settings.approvals = approvals
            }
        }
        if let pinning = r.string("pinning", &log) {
            if let mode = PinningMode(rawValue: pinning) {
                settings.pinning = mode
            } else {
                log.error(r.at("pinning"), "\"\(pinning)\" is not \"off\", \"warn\" (log, audit and count a tool that does not match orch.lock.json) or \"enforce\" (also hide and refuse it)")
            }
        }
        if let audit = r.string("audit", &log) {
            if audit.isEmpty { log.error(r.at("audit"), "must be a file path or \"-\" for standard output") } else { settings.audit = audit }
        }
        if let limits = r["limits"],
            let l = ObjectReader(limits, path: r.at("limits"), known: ["maxBodyBytes", "sessionIdleSeconds", "maxSessionSeconds", "maxSessionsPerKey", "callTimeoutSeconds", "maxUpstreamProcesses", "maxConnectionsPerClient", "requestHeadSeconds", "inputTimeoutSeconds", "perUser"], log: &log)
        {
            settings.limits.maxBodyBytes = l.positiveInt("maxBodyBytes", &log) ?? settings.limits.maxBodyBytes
            settings.limits.sessionIdleSeconds = l.positiveInt("sessionIdleSeconds", &log) ?? settings.limits.sessionIdleSeconds
            settings.limits.maxSessionSeconds = l.positiveInt("maxSessionSeconds", &log) ?? settings.limits.maxSessionSeconds
            settings.limits.maxSessionsPerKey = l.positiveInt("maxSessionsPerKey", &log) ?? settings.limits.maxSessionsPerKey
            settings.limits.callTimeoutSeconds = l.positiveInt("callTimeoutSeconds", &log) ?? settings.limits.callTimeoutSeconds
            settings.limits.maxUpstreamProcesses = l.positiveInt("maxUpstreamProcesses", &log) ?? settings.limits.maxUpstreamProcesses
            settings.limits.maxConnectionsPerClient = l.positiveInt("maxConnectionsPerClient", &log) ?? settings.limits.maxConnectionsPerClient
            settings.limits.requestHeadSeconds = l.positiveInt("requestHeadSeconds", &log) ?? settings.limits.requestHeadSeconds
            settings.limits.inputTimeoutSeconds = l.positiveInt("inputTimeoutSeconds", &log) ?? settings.limits.inputTimeoutSeconds
            if let perUser = l["perUser"],
                let p = ObjectReader(perUser, path: l.at("perUser"), known: ["requestsPerMinute", "toolCallsPerMinute", "concurrentCalls"], log: &log)
            {
                settings.limits.perUser = PerUserLimits(requestsPerMinute: p.positiveInt("requestsPerMinute", &log),
                                                        toolCallsPerMinute: p.positiveInt("toolCallsPerMinute", &log),
                                                        concurrentCalls: p.positiveInt("concurrentCalls", &log))
                let limits = settings.limits.perUser
                if let calls = limits.toolCallsPerMinute, let requests = limits.requestsPerMinute, calls > requests {
                    log.warning(p.at("toolCallsPerMinute"), "\(calls) tool calls a minute can never be reached: each is a request, and requestsPerMinute allows \(requests)")
                }
            }
        }
        return settings
    }

    static func isHTTPURL(_ text: String, allowPath: Bool, allowQuery: Bool = false) -> Bool {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
            allowQuery || components.query == nil, components.fragment == nil, components.user == nil
        else { return false }
        return allowPath || components.path.isEmpty
    }

    // MARK: auth

    private mutating func decodeAuth(_ value: JSONNode, path: String) -> AuthSettings {
        var settings = AuthSettings()
        guard let r = ObjectReader(value, path: path, known: ["resource", "oidc"], log: &log) else { return settings }
        if let resource = r.string("resource", &log) {
            if Self.isHTTPURL(resource, allowPath: true) {
                settings.resource = resource
            } else {
                log.error(r.at("resource"), "\"\(resource)\" is not an http:// or https:// URL without query or fragment")
            }
        }
        if let oidc = r["oidc"] {
            for (name, issuer, issuerPath) in named(oidc, path: r.at("oidc"), what: "issuer") {
                if let decoded = decodeIssuer(name, issuer, path: issuerPath) { settings.issuers.append(decoded) }
            }
            // With two issuers mapping by email, each could sign anyone in by their email.
            let byEmail = settings.issuers.filter { $0.userClaim == "email" }
            if byEmail.count > 1, let open = byEmail.first(where: { $0.emailDomains == nil }) {
                log.warning(open.path, "the issuers \(byEmail.map(\.name).joined(separator: ", ")) map users by email, and \(open.name) may assert any domain: it can sign in as any user by their email; give each issuer \"emailDomains\"")
            }
        }
        return settings
    }

    private mutating func decodeIssuer(_ name: String, _ value: JSONNode, path: String) -> OIDCIssuer? {
        guard let r = ObjectReader(value, path: path, known: ["issuer", "audiences", "jwks", "userClaim", "emailDomains", "scopes", "client"], log: &log) else { return nil }
        guard let issuer = r.string("issuer", required: true, &log) else { return nil }
        if !Self.isSecureURL(issuer) {
            log.error(r.at("issuer"), "\"\(issuer)\" is not an https:// URL (http:// only on loopback) without query or fragment")
        }
        var spec = OIDCIssuer(name: name, path: path, issuer: issuer)
        if let audiences = r.strings("audiences", &log) {
            if audiences.isEmpty { log.error(r.at("audiences"), "must name at least one audience (or leave it out: the resource URL)") }
            spec.audiences = audiences.map(\.value)
        }
        if let jwks = r.string("jwks", &log) {
            if jwks.hasPrefix("http://") || jwks.hasPrefix("https://") {
                if !Self.isSecureURL(jwks) { log.error(r.at("jwks"), "\"\(jwks)\" is not an https:// URL (http:// only on loopback)") }
                spec.keys = .url(jwks)
            } else if jwks.isEmpty {
                log.error(r.at("jwks"), "must be a URL or a file path (or leave it out: the issuer's discovery document names it)")
            } else {
                spec.keys = .file(jwks)
            }
        }
        if let claim = r.string("userClaim", &log) {
            if claim.isEmpty { log.error(r.at("userClaim"), "must name a claim (sub, email, preferred_username…)") } else { spec.userClaim = claim }
        }
        if let domains = r.strings("emailDomains", &log) {
            if spec.userClaim != "email" { log.warning(r.at("emailDomains"), "applies only when userClaim is email (it is \(spec.userClaim))") }
            for domain in domains where !Self.isDomain(domain.value) {
                log.error(domain.path, "\"\(domain.value)\" is not a domain name (as in user@DOMAIN, e.g. acme.example)")
            }
            spec.emailDomains = domains.map { $0.value.lowercased() }
        }
        spec.scopes = (r.strings("scopes", &log) ?? []).map(\.value)
        if let client = r["client"] { spec.client = oauthClient(client, path: r.at("client")) }
        return spec
    }

    /// An OAuth client: `{id, secret?}`, the secret through `${env:…}` only.
    private mutating func oauthClient(_ value: JSONNode, path: String) -> OIDCIssuer.Client? {
        guard let c = ObjectReader(value, path: path, known: ["id", "secret"], log: &log) else { return nil }
        let id = c.string("id", required: true, &log)
        if id?.isEmpty == true { log.error(c.at("id"), "must not be empty") }
        var secret: String? = nil
        if let text = c.string("secret", &log) {
            if EnvExpansion.usesEnvironment(text) {
                secret = expanded(text, path: c.at("secret"))
            } else {
                log.error(c.at("secret"), "a client secret never goes in orch.json: write \"${env:VARIABLE}\" and set VARIABLE where orch runs")
            }
        }
        guard let id, !id.isEmpty else { return nil }
        return OIDCIssuer.Client(id: id, secret: secret)
    }

    /// A remote server's `oauth`: `{client, scopes?, authorizationServer?, resource?, sendResource?}`.
    private mutating func oauth(_ value: JSONNode, path: String, headers: [NameValue]) -> OAuthSpec? {
        guard let r = ObjectReader(value, path: path, known: ["client", "scopes", "authorizationServer", "resource", "sendResource"], log: &log)
        else { return nil }
        guard let clientNode = r.required("client", &log), let client = oauthClient(clientNode, path: r.at("client")) else { return nil }
        var spec = OAuthSpec(client: client)
        for scope in r.strings("scopes", &log) ?? [] {
            // RFC 6749 §3.3: a scope is one or more printable ASCII characters but space, " and \.
            if scope.value.isEmpty || !scope.value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) {
                log.error(scope.path, "\"\(scope.value)\" is not an OAuth scope (printable characters, no spaces, quotes or backslashes)")
            } else if !spec.scopes.contains(scope.value) {
                spec.scopes.append(scope.value)
            }
        }
        if let issuer = r.string("authorizationServer", &log) {
            if Self.isSecureURL(issuer) {
                spec.authorizationServer = issuer
            } else {
                log.error(r.at("authorizationServer"), "\"\(issuer)\" is not an https:// URL (http:// only on loopback) without query or fragment")
            }
        } else {
            log.warning(path, "authorizationServer is not set: users sign in wherever the server's metadata sends them (a compromised server could send them to another login page); set it to the issuer you expect")
        }
        if let resource = r.string("resource", &log) {
            if Self.isHTTPURL(resource, allowPath: true, allowQuery: true) {
                spec.resource = resource
            } else {
                log.error(r.at("resource"), "\"\(resource)\" is not an http:// or https:// URL without user info or fragment")
            }
        }
        spec.sendResource = r.bool("sendResource", &log) ?? true
        for header in headers where header.name.lowercased() == "authorization" {
            log.error(path, "a server with \"oauth\" sends each user's own token as Authorization: leave Authorization out of its headers")
        }
        return spec
    }

    /// Labels of letters, digits and `-`, joined by dots.
    static func isDomain(_ text: String) -> Bool {
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        return text.utf8.count <= 253 && labels.allSatisfy { label in
            (1...63).contains(label.utf8.count) && label.utf8.allSatisfy { Name.isLowerOrDigit($0 | 0x20) || $0 == UInt8(ascii: "-") }
        }
    }

    /// https, or http on a loopback host (a provider on the same machine, as in tests).
    static func isSecureURL(_ text: String) -> Bool { GatewaySettings.isSecureURL(text) }

    // MARK: roles

    private mutating func decodeRole(_ name: String, _ value: JSONNode, path: String) -> RoleSpec? {
        guard let r = ObjectReader(value, path: path, known: ["description", "allow", "deny"], log: &log) else { return nil }
        var role = RoleSpec(name: name, path: path, description: r.string("description", &log))
        role.allow = rules(r.strings("allow", required: true, &log) ?? [])
        role.deny = rules(r.strings("deny", &log) ?? [])
        return role
    }

    private mutating func rules(_ texts: [Located<String>]) -> [Rule] {
        texts.compactMap { text in
            switch Rule.parse(text.value) {
            case .success(let rule):
                warnOnResourceGlob(text)
                return rule
            case .failure(let error):
                log.error(text.path, "bad rule \"\(text.value)\": \(error.message)")
                return nil
            }
        }
    }

    // MARK: orgs

    private mutating func decodeOrg(_ name: String, _ value: JSONNode, path: String) -> OrgSpec? {
        guard let r = ObjectReader(value, path: path, known: ["displayName", "members", "teams", "servers", "toolsets"], log: &log) else { return nil }
        var org = OrgSpec(name: name, path: path, displayName: r.string("displayName", &log))
        if let members = r.required("members", &log) {
            if !members.isObject {
                log.error(r.at("members"), "expected an object of user: role, found \(members.typeDescription)")
            }
            for (user, roles) in members.members {
                let memberPath = Path.member(r.at("members"), user)
                var located: [Located<String>] = []
                if let role = roles.string {
                    located = [Located(value: role, path: memberPath)]
                } else if roles.isArray {
                    located = ObjectReader.strings(roles, path: memberPath, &log) ?? []
                } else {
                    log.error(memberPath, "expected a role name or an array of role names, found \(roles.typeDescription)")
                }
                org.members.append(MemberSpec(user: Located(value: user, path: memberPath), roles: located))
            }
        }
        if let teams = r["teams"] {
            for (team, value, teamPath) in named(teams, path: r.at("teams"), what: "team") {
                guard let t = ObjectReader(value, path: teamPath, known: ["members", "roles"], log: &log) else { continue }
                org.teams.append(TeamSpec(
                    name: team, path: teamPath,
                    members: t.strings("members", required: true, &log) ?? [],
                    roles: t.strings("roles", required: true, &log) ?? []))
            }
        }
        // Without its servers (a misspelled or missing "servers"), tests naming one are not
        // reported again as naming a missing server.
        if r["servers"] == nil { brokenServers.insert("\(name)/*") }
        if let servers = r.required("servers", &log) {
            for (server, value, serverPath) in named(servers, path: r.at("servers"), what: "server") {
                if let spec = decodeServer(server, org: name, value, path: serverPath) {
                    if let other = org.servers.first(where: { $0.exposedPrefix == spec.exposedPrefix }) {
                        log.error(spec.prefix == nil ? serverPath : Path.member(serverPath, "prefix"),
                                  "prefix \"\(spec.exposedPrefix)\" is already server \(other.name)'s: the aggregated endpoints need one prefix per server")
                    }
                    org.servers.append(spec)
                } else {
                    brokenServers.insert("\(name)/\(server)")
                }
            }
        }
        if let toolsets = r["toolsets"] {
            for (toolset, value, at) in named(toolsets, path: r.at("toolsets"), what: "toolset") {
                if let spec = decodeToolset(toolset, value, path: at, org: org) { org.toolsets.append(spec) }
            }
        }
        return org
    }

    /// An org's toolset: `{description?, tools: ["SERVER:GLOB" | "SERVER", …]}`, each SERVER one of
    /// the org's (a server broken above is not reported again).
    private mutating func decodeToolset(_ name: String, _ value: JSONNode, path: String, org: OrgSpec) -> ToolsetSpec? {
        guard let r = ObjectReader(value, path: path, known: ["description", "tools"], log: &log) else { return nil }
        var spec = ToolsetSpec(name: name, path: path, description: r.string("description", &log))
        guard let entries = r.strings("tools", required: true, &log) else { return nil }
        if entries.isEmpty { log.error(r.at("tools"), "names no tool: list SERVER:GLOB entries (SERVER alone for all its tools)") }
        for entry in entries {
            let parts = entry.value.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let (server, glob) = (parts[0], parts.count == 2 ? parts[1] : "*")
            guard !server.isEmpty, !glob.isEmpty else {
                log.error(entry.path, "\(JSONValue.string(entry.value).compact) is not SERVER:GLOB (a server of the org and a glob of its tools' upstream names)")
                continue
            }
            guard org.servers.contains(where: { $0.name == server }) else {
                if !brokenServers.contains("\(org.name)/\(server)") {
                    log.error(entry.path, "no server \(server) in org \(org.name)" + PolicyLinker.whatExists(server, org.servers.map(\.name), what: "servers of org \(org.name)"))
                }
                continue
            }
            spec.tools.append(.init(server: server, tools: Glob(glob)))
        }
        return spec
    }

    static let serverKeys = ["description", "disabled", "timeoutSeconds", "prefix", "tools", "prompts", "resources", "command", "args", "env", "cwd", "url", "transport", "headers", "protocol", "stateful", "limits", "oauth", "approve", "overrides"]

    private mutating func decodeServer(_ name: String, org: String, _ value: JSONNode, path: String) -> ServerSpec? {
        guard let r = ObjectReader(value, path: path, known: Self.serverKeys, log: &log) else { return nil }
        let description = r.string("description", &log)
        let disabled = r.bool("disabled", &log) ?? false
        let timeout = r.positiveInt("timeoutSeconds", &log)
        let tools = filter(r, "tools"), prompts = filter(r, "prompts"), resources = filter(r, "resources")
        // A per-user server: every value of its env, headers and url becomes a template of the
        // caller's secrets (`${user:NAME}`), rendered when a session starts.
        let templated = ([r["url"]] + [r["env"], r["headers"]].flatMap { node in node.map { Array($0.members).map { Optional($0.value) } } ?? [] })
            .contains { $0?.string.map(EnvExpansion.usesUserSecret) ?? false }
        for key in ["command", "args", "cwd"] {
            let strings = r[key].map { $0.isArray ? $0.items.compactMap(\.string) : [$0.string].compactMap { $0 } } ?? []
            if strings.contains(where: EnvExpansion.usesUserSecret) {
                log.error(r.at(key), "${user:…} goes in a server's env, headers or url only (\(key) is visible to every local user)")
            }
        }
        let transport: ServerSpec.Transport
        switch (r["command"], r["url"]) {
        case (nil, nil):
            log.error(path, "a server needs \"command\" (stdio) or \"url\" (remote)")
            return nil
        case (.some, .some):
            log.error(path, "a server has \"command\" (stdio) or \"url\" (remote), not both")
            return nil
        case (.some, nil):
            for key in ["transport", "headers"] where r[key] != nil {
                log.error(r.at(key), "\"\(key)\" applies to url servers only")
            }
            // A ${user:…} here was reported above; it is not expanded again.
            let userless = { (text: String?) in text.flatMap { EnvExpansion.usesUserSecret($0) ? "" : $0 } }
            let command = expanded(userless(r.string("command", &log)), path: r.at("command"))
            if command?.isEmpty == true { log.error(r.at("command"), "must not be empty") }
            let args = (r.strings("args", &log) ?? []).map { arg in
                if arg.value.replacingOccurrences(of: "$$", with: "").contains("${env:") {
                    log.warning(arg.path, "an expanded ${env:…} in args is visible to every local user (ps, /proc); pass the value in \"env\" instead and let the server read it from there")
                }
                return expanded(userless(arg.value), path: arg.path) ?? ""
            }
            keepingUser = templated
            let env = nameValues(r["env"], path: r.at("env"), what: "environment variable")
            keepingUser = false
            let cwd = expanded(userless(r.string("cwd", &log)), path: r.at("cwd"))
            guard let command else { return nil }
            transport = .stdio(command: command, args: args, env: env, cwd: cwd)
        case (nil, .some):
            for key in ["args", "env", "cwd"] where r[key] != nil {
                log.error(r.at(key), "\"\(key)\" applies to command servers only")
            }
            var kind = ServerSpec.RemoteKind.streamableHTTP
            if let text = r.string("transport", &log) {
                if let k = ServerSpec.RemoteKind(rawValue: text) {
                    kind = k
                } else {
                    log.error(r.at("transport"), "unknown transport \"\(text)\": use \"streamable-http\" or \"sse\"")
                }
            }
            keepingUser = templated
            let headers = nameValues(r["headers"], path: r.at("headers"), what: "header")
            let expandedURL = expanded(r.string("url", &log), path: r.at("url"))
            keepingUser = false
            guard let url = expandedURL else { return nil }
            // The expanded URL may hold a secret, so the message does not repeat it. A template is
            // checked with every secret as one letter.
            if !Self.isHTTPURL(templated ? UserSecrets.render(url) { _ in "x" } : url, allowPath: true, allowQuery: true) {
                log.error(r.at("url"), "is not an http:// or https:// URL without user info or fragment")
            }
            transport = .remote(url: url, kind: kind, headers: headers)
        }
        var oauthSpec: OAuthSpec? = nil
        if let node = r["oauth"] {
            if case .remote(_, _, let headers) = transport {
                oauthSpec = oauth(node, path: r.at("oauth"), headers: headers)
            } else {
                log.error(r.at("oauth"), "\"oauth\" applies to url servers only (a command server takes each user's values from ${user:…} in env)")
            }
        }
        var prefix = r.string("prefix", &log)
        if let text = prefix, let problem = ExposedName.prefixProblem(text) {
            log.error(r.at("prefix"), "\"\(text)\" is not a prefix: \(problem)")
            prefix = nil
        } else if prefix == nil, name.hasSuffix("_") {
            log.error(path, "the name \(name) cannot start its tools' names on the aggregated endpoints (it ends with '_', which runs into the \"__\" after it): set \"prefix\"")
        } else if prefix == nil, ExposedName.prefixProblem(name) != nil {
            log.warning(path, "the name \(name) cannot start its tools' names on the aggregated endpoints (it is longer than 32 characters); set \"prefix\"")
        }
        // On /mcp a name is ORG__PREFIX__NAME, within 64 characters.
        let head = "\(org)\(ExposedName.separator)\(prefix ?? name)\(ExposedName.separator)"
        let room = ExposedName.maxLength - head.utf8.count
        if room < 16 {
            log.warning(path, "on /mcp its tool and prompt names leave \(max(room, 0)) characters after \"\(head)\": longer names are cut and given a hash suffix, and past 64 left out (set a shorter \"prefix\")")
        }
        var spec = ServerSpec(
            name: name, org: org, path: path, description: description, disabled: disabled,
            timeoutSeconds: timeout, tools: tools, prompts: prompts, resources: resources, transport: transport, prefix: prefix)
        spec.stateful = r.bool("stateful", &log) ?? false
        spec.oauth = oauthSpec
        if let value = r["limits"] { spec.limits = serverLimits(value, path: r.at("limits")) }
        if let value = r["approve"] { spec.approve = approvalRules(value, path: r.at("approve")) }
        if let value = r["overrides"] { spec.overrides = overrides(value, path: r.at("overrides")) }
        if let text = r.string("protocol", &log) {
            if let chosen = ServerSpec.UpstreamProtocol(rawValue: text) {
                spec.upstreamProtocol = chosen
                if chosen == .modern, case .remote(_, .sse, _) = transport {
                    log.error(r.at("protocol"), "\"2026-07-28\" is not spoken over the HTTP+SSE transport (\"transport\": \"sse\" is of the handshake era): use \"streamable-http\", or \"auto\" or \"legacy\"")
                }
            } else {
                log.error(r.at("protocol"), "unknown protocol \"\(text)\": use \"auto\", \"2026-07-28\" or \"legacy\"")
            }
        }
        if templated {
            let values: [String] = switch transport {
            case .stdio(_, _, let env, _): env.map(\.value)
            case .remote(let url, _, let headers): [url] + headers.map(\.value)
            }
            spec.userSecrets = values.flatMap(UserSecrets.names(in:)).reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
        }
        return spec
    }

    /// A server's `approve`: `[{tools: [GLOB], by: "caller" | "role:NAME", timeoutSeconds?, redact?}]`.
    /// Whether a role named exists is checked once the roles are known (`PolicyLinker`).
    private mutating func approvalRules(_ value: JSONNode, path: String) -> [ApprovalRule] {
        guard value.isArray else {
            log.error(path, "expected an array of approval rules ({\"tools\": [...], \"by\": \"caller\" or \"role:NAME\"}), found \(value.typeDescription)")
            return []
        }
        var rules: [ApprovalRule] = []
        for (i, item) in value.items.enumerated() {
            let at = Path.item(path, i)
            guard let r = ObjectReader(item, path: at, known: ["tools", "by", "timeoutSeconds", "redact"], log: &log) else { continue }
            let tools = r.strings("tools", required: true, &log)
            let by = r.string("by", required: true, &log)
            let timeout = r.positiveInt("timeoutSeconds", &log)
            let redact = r.strings("redact", &log)?.map(\.value) ?? []
            if let timeout, timeout > 86_400 { log.error(r.at("timeoutSeconds"), "\(timeout) is more than a day (86400): a call waits at most that long") }
            var globs: [Glob] = []
            for tool in tools ?? [] {
                if tool.value.isEmpty || tool.value.contains(":") {
                    log.error(tool.path, "\"\(tool.value)\" is not a tool glob: a tool's name, * matching any run of characters (no SERVER: part; the server is this one)")
                } else {
                    globs.append(Glob(tool.value))
                }
            }
            if let tools, tools.isEmpty { log.error(r.at("tools"), "names no tool: list the tools (globs) that need approval") }
            let approver: ApprovalRule.Approver?
            switch by {
            case "caller"?: approver = .caller
            case let text? where text.hasPrefix("role:") && text.count > 5: approver = .role(String(text.dropFirst(5)))
            case let text?:
                log.error(r.at("by"), "\"\(text)\" is not an approver: write \"caller\" (the caller approves through their client) or \"role:NAME\" (someone holding role NAME in the org, on the dashboard)")
                approver = nil
            case nil: approver = nil
            }
            guard let approver, !globs.isEmpty, globs.count == tools?.count else { continue }
            rules.append(ApprovalRule(tools: globs, by: approver, timeoutSeconds: timeout ?? ApprovalRule.defaultTimeoutSeconds, redact: redact, path: at))
        }
        return rules
    }

    /// A server's `overrides`: `{tools: {NAME: {name?, description?, hidden?}}}`. An exposed name
    /// must pass the name rule and meet no other exposed name of the server.
    private mutating func overrides(_ value: JSONNode, path: String) -> ToolOverrides {
        guard let r = ObjectReader(value, path: path, known: ["tools"], log: &log), let tools = r["tools"] else { return ToolOverrides() }
        guard tools.isObject else {
            log.error(r.at("tools"), "expected an object of tool names, found \(tools.typeDescription)")
            return ToolOverrides()
        }
        var decoded: [String: ToolOverrides.Tool] = [:]
        for (upstream, node) in tools.members {
            let at = Path.member(r.at("tools"), upstream)
            guard let t = ObjectReader(node, path: at, known: ["name", "description", "hidden"], log: &log) else { continue }
            var tool = ToolOverrides.Tool(name: t.string("name", &log), description: t.string("description", &log),
                                          hidden: t.bool("hidden", &log) ?? false, path: at)
            if upstream.isEmpty { log.error(at, "names no tool: the key is the tool's name as its server lists it") }
            if let name = tool.name, !ExposedName.isValid(name) {
                log.error(t.at("name"), "\(JSONValue.string(name).compact) breaks the name rule clients hold tool names to: 1 to 64 characters of a-z, A-Z, 0-9, '_' and '-'")
                tool.name = nil
            }
            if tool.hidden, t["name"] != nil || t["description"] != nil {
                log.warning(at, "a hidden tool is neither listed nor callable: its name and description are never shown")
            }
            if t["name"] == nil, t["description"] == nil, t["hidden"] == nil {
                log.warning(at, "changes nothing: give \"name\", \"description\" or \"hidden\"")
            }
            decoded[upstream] = tool
        }
        // Two tools may not be shown under one name: a rename meets another rename, or a tool kept
        // under its own name.
        var shown: [String: String] = [:]
        for (upstream, tool) in decoded.sorted(by: { $0.key < $1.key }) where !tool.hidden {
            let exposed = tool.name ?? upstream
            if let other = shown[exposed] {
                let (first, second) = other < upstream ? (other, upstream) : (upstream, other)
                log.error((decoded[second] ?? tool).path, "tools \(first) and \(second) would both be shown as \(exposed): give each its own name")
            } else {
                shown[exposed] = upstream
            }
        }
        return ToolOverrides(decoded)
    }

    /// A server's `limits`: `{concurrentCalls?, tools?: {GLOB: {callsPerMinute}}}`.
    private mutating func serverLimits(_ value: JSONNode, path: String) -> ServerLimits {
        var limits = ServerLimits()
        guard let r = ObjectReader(value, path: path, known: ["concurrentCalls", "tools"], log: &log) else { return limits }
        limits.concurrentCalls = r.positiveInt("concurrentCalls", &log)
        guard let tools = r["tools"] else { return limits }
        guard tools.isObject else {
            log.error(r.at("tools"), "expected an object of tool globs, found \(tools.typeDescription)")
            return limits
        }
        for (pattern, rate) in tools.members {
            let at = Path.member(r.at("tools"), pattern)
            guard !pattern.isEmpty, !pattern.contains(":") else {
                log.error(at, "\"\(pattern)\" is not a tool glob: a tool's name, * matching any run of characters (no SERVER: part; the server is this one)")
                continue
            }
            guard let t = ObjectReader(rate, path: at, known: ["callsPerMinute"], log: &log) else { continue }
            guard let perMinute = t.positiveInt("callsPerMinute", &log) ?? (t.required("callsPerMinute", &log).map { _ in 0 }) , perMinute > 0 else { continue }
            limits.tools.append(.init(glob: Glob(pattern), callsPerMinute: perMinute))
        }
        return limits
    }

    /// A server's `tools`, `prompts` or `resources` filter: `{allow?, deny?}` globs.
    private mutating func filter(_ r: ObjectReader, _ field: String) -> NameFilter {
        var filter = NameFilter()
        if let value = r[field], let f = ObjectReader(value, path: r.at(field), known: ["allow", "deny"], log: &log) {
            filter.allow = f.strings("allow", &log).map { globs($0, resources: field == "resources") }
            filter.deny = f.strings("deny", &log).map { globs($0, resources: field == "resources") } ?? []
        }
        return filter
    }

    /// A filter's globs; resource globs in normal form, with a warning where not written so.
    private mutating func globs(_ texts: [Located<String>], resources: Bool) -> [Glob] {
        texts.map { text in
            guard resources else { return Glob(text.value) }
            let form = ResourceURI.normalizeGlob(text.value)
            if let warning = form.warning(written: text.value) { log.warning(text.path, warning) }
            return Glob(form.pattern)
        }
    }

    /// Warns when the resource glob of a rule or scope entry is not in normal form (it is matched
    /// in normal form) or can match no resource.
    private mutating func warnOnResourceGlob(_ entry: Located<String>) {
        guard let written = ItemGlob.writtenResourceGlob(of: entry.value),
            let warning = ResourceURI.normalizeGlob(written).warning(written: written)
        else { return }
        log.warning(entry.path, warning)
    }

    /// Expands `${env:…}`; logs a missing or malformed reference (never the value) and returns nil.
    private mutating func expanded(_ text: String?, path: String) -> String? {
        guard let text else { return nil }
        switch EnvExpansion.expand(text, environment: environment, keepingUser: keepingUser) {
        case .success(let value):
            for name in EnvPlaceholders.variables(in: text) {
                if let secret = environment[name], !secret.isEmpty { secretValues.insert(secret) }
            }
            return value
        case .failure(.missing(let name)):
            log.error(path, "environment variable \(name) is not set (write ${env:\(name):-default} for a default)")
        case .failure(.malformed(let message)):
            log.error(path, message)
        }
        return nil
    }

    /// `gateway.stateKey`: one key or a list of them (the first current, the rest previous ones),
    /// each 32 bytes in base64, best written as `${env:NAME}`.
    private mutating func stateKeys(_ node: JSONNode, path: String) -> [String] {
        let entries: [Located<String>]
        if let single = node.string {
            entries = [Located(value: single, path: path)]
        } else if node.isArray {
            entries = ObjectReader.strings(node, path: path, &log) ?? []
            if node.items.isEmpty { log.error(path, "must name at least one key (leave stateKey out for a random key per process)") }
        } else {
            log.error(path, "expected a key (a string) or a list of keys, the current one first, found \(node.typeDescription)")
            return []
        }
        var keys: [String] = []
        for entry in entries {
            if !EnvExpansion.usesEnvironment(entry.value), !entry.value.isEmpty {
                log.warning(entry.path, "looks like a secret written into the file; write \"${env:VARIABLE}\" and set VARIABLE where orch runs")
            }
            guard let key = expanded(entry.value, path: entry.path) else { continue }
            guard let bytes = Data(base64Encoded: key) else {
                log.error(entry.path, "is not base64 (make a key with: openssl rand -base64 32)")
                continue
            }
            guard bytes.count == 32 else {
                log.error(entry.path, "must be 32 bytes in base64, found \(bytes.count) (make a key with: openssl rand -base64 32)")
                continue
            }
            secretValues.insert(key)
            keys.append(key)
        }
        return keys
    }

    /// An object of string values (env, headers): expanded, with the secret-in-file warning.
    private mutating func nameValues(_ value: JSONNode?, path: String, what: String) -> [NameValue] {
        guard let value else { return [] }
        guard value.isObject else {
            log.error(path, "expected an object of \(what) names to strings, found \(value.typeDescription)")
            return []
        }
        var out: [NameValue] = []
        for (name, raw) in value.members {
            let itemPath = Path.member(path, name)
            guard let text = ObjectReader.string(raw, path: itemPath, &log) else { continue }
            if Self.looksSecret(name: name) && !EnvExpansion.usesEnvironment(text) && !EnvExpansion.usesUserSecret(text) && !text.isEmpty {
                log.warning(itemPath, "looks like a secret written into the file; write \"${env:VARIABLE}\" and set VARIABLE where orch runs")
            }
            if let v = expanded(text, path: itemPath) { out.append(NameValue(name: name, value: v)) }
        }
        return out
    }

    static func looksSecret(name: String) -> Bool {
        let upper = name.uppercased()
        return ["TOKEN", "SECRET", "KEY", "PASSWORD", "AUTH"].contains { upper.contains($0) }
    }

    // MARK: users

    /// Orgs and users are nearly all of a large file. With thousands of them, they are decoded at
    /// once in parts (the orgs, then slices of the users), each part with a log of its own, joined
    /// in file order: the document and its diagnostics come out as from one pass.
    private mutating func decodeOrgsAndUsers(_ top: ObjectReader, into document: inout Document) {
        let orgs = top["orgs"].map { named($0, path: "orgs", what: "org") } ?? []
        var userNames = DocumentDecoder(environment: environment)
        let users = top["users"].map { userNames.named($0, path: "users", what: "user") } ?? []
        let large = orgs.count + users.count >= 2_000
        let slices = large ? 4 : 1
        let environment = self.environment
        let parts = concurrentMap(1 + slices, concurrently: large) { part in
            var decoder = DocumentDecoder(environment: environment)
            var decoded = DecodedPart()
            if part == 0 {
                decoded.orgs = orgs.compactMap { name, value, path in decoder.decodeOrg(name, value, path: path) }
            } else {
                let slice = users.count * (part - 1) / slices..<users.count * part / slices
                decoded.users = users[slice].compactMap { name, value, path in decoder.decodeUser(name, value, path: path) }
            }
            decoded.log = decoder.log
            decoded.brokenServers = decoder.brokenServers
            decoded.secretValues = decoder.secretValues
            return decoded
        }
        document.orgs = parts[0].orgs
        brokenServers = parts[0].brokenServers
        secretValues.formUnion(parts[0].secretValues)
        log.append(contentsOf: parts[0].log)
        log.append(contentsOf: userNames.log)
        document.users.reserveCapacity(users.count)
        for part in parts.dropFirst() {
            document.users += part.users
            log.append(contentsOf: part.log)
        }
    }

    private struct DecodedPart: Sendable {
        var orgs: [OrgSpec] = []
        var users: [UserSpec] = []
        var secretValues: Set<String> = []
        var log = DiagnosticLog()
        var brokenServers: Set<String> = []
    }

    private mutating func decodeUser(_ name: String, _ value: JSONNode, path: String) -> UserSpec? {
        guard let r = ObjectReader(value, path: path, known: ["displayName", "email", "identities", "disabled", "admin", "keys"], log: &log) else { return nil }
        var user = UserSpec(name: name, path: path, displayName: r.string("displayName", &log), email: r.string("email", &log))
        for entry in r.strings("identities", &log) ?? [] {
            guard let colon = entry.value.firstIndex(ofASCII: ":"), colon != entry.value.startIndex,
                entry.value.utf8.index(after: colon) != entry.value.endIndex
            else {
                log.error(entry.path, "\"\(entry.value)\" is not ISSUER:VALUE (an auth.oidc issuer's name and the user's value of its userClaim)")
                continue
            }
            let identity = UserIdentity(issuer: String(entry.value[..<colon]), value: String(entry.value[entry.value.utf8.index(after: colon)...]))
            user.identities.append(Located(value: identity, path: entry.path))
        }
        user.disabled = r.bool("disabled", &log) ?? false
        user.admin = r.bool("admin", &log) ?? false
        if let keys = r["keys"] {
            guard keys.isArray else {
                log.error(r.at("keys"), "expected an array of keys, found \(keys.typeDescription)")
                return user
            }
            let keysPath = r.at("keys")
            user.keys.reserveCapacity(keys.items.count)
            // Every id is checked, also of a key that is broken otherwise: two problems, two errors.
            var ids: [String] = []
            for (i, item) in keys.items.enumerated() {
                if let id = item.isObject ? item["id"]?.string : nil {
                    // Keys of one user are few: a linear search beats a set.
                    if ids.contains(id) { log.error(Path.member(Path.item(keysPath, i), "id"), "user \(name) has two keys with id \"\(id)\"") }
                    ids.append(id)
                }
                guard let key = decodeKey(item, path: Path.item(keysPath, i)) else { continue }
                user.keys.append(key)
            }
        }
        return user
    }

    static let keyKeys = ["id", "sha256", "created", "expires", "scope", "description", "token"]

    private mutating func decodeKey(_ value: JSONNode, path: String) -> KeySpec? {
        guard let r = ObjectReader(value, path: path, known: Self.keyKeys, log: &log) else { return nil }
        if r["token"] != nil {
            log.error(r.at("token"), "plaintext tokens never go in orch.json: pipe the token to `orch keys hash` and store the output as \"sha256\"")
        }
        let id = r.string("id", required: true, &log)
        if let id, !Name.isValid(id) {
            log.error(r.at("id"), "\"\(id)\" is not a valid key id: \(Name.ruleDescription)")
        }
        var hash: KeyHash? = nil
        if let hex = r.string("sha256", required: r["token"] == nil, &log) {
            if let h = KeyHash(hex: hex) {
                hash = h
            } else if hex.count == 64, KeyHash(hex: hex.lowercased()) != nil {
                log.error(r.at("sha256"), "must be lowercase hex")
            } else {
                log.error(r.at("sha256"), "is not a SHA-256 hex digest (64 characters); if it is a token, never store it: pipe it to `orch keys hash` and store the output")
            }
        }
        let created = date(r, "created")
        let expires = date(r, "expires")
        var scope: [ScopeGlob]? = nil
        if let entries = r.strings("scope", &log) {
            scope = entries.compactMap { entry in
                switch ScopeGlob.parse(entry.value) {
                case .success(let glob):
                    warnOnResourceGlob(entry)
                    return glob
                case .failure(let error):
                    log.error(entry.path, "bad scope \"\(entry.value)\": \(error.message)")
                    return nil
                }
            }
        }
        let description = r.string("description", &log)
        guard let id, let hash else { return nil }
        return KeySpec(id: id, path: path, hash: hash, created: created, expires: expires, scope: scope, description: description)
    }

    private mutating func date(_ r: ObjectReader, _ key: String) -> Date? {
        guard let text = r.string(key, &log) else { return nil }
        guard let date = Timestamp.parse(text) else {
            log.error(r.at(key), "\"\(text)\" is not a date (YYYY-MM-DD) or an RFC 3339 time (2027-06-30T12:00:00Z)")
            return nil
        }
        return date
    }

    // MARK: tests

    private mutating func decodeTest(_ value: JSONNode, path: String) -> TestSpec? {
        guard let r = ObjectReader(value, path: path, known: ["user", "key", "at", "allow", "deny", "approve"], log: &log) else { return nil }
        let user = r.string("user", required: true, &log)
        let key = r.string("key", &log)
        let at = date(r, "at")
        let allow = targets(r.strings("allow", &log) ?? [])
        let deny = targets(r.strings("deny", &log) ?? [])
        let approve = targets(r.strings("approve", &log) ?? [])
        guard let user else { return nil }
        return TestSpec(
            path: path, user: Located(value: user, path: r.at("user")),
            key: key.map { Located(value: $0, path: r.at("key")) }, at: at, allow: allow, deny: deny, approve: approve)
    }

    private mutating func targets(_ texts: [Located<String>]) -> [Located<Target>] {
        texts.compactMap { text in
            switch Target.parse(text.value) {
            case .success(let target): return Located(value: target, path: text.path)
            case .failure(let error):
                log.error(text.path, error.message)
                return nil
            }
        }
    }
}
