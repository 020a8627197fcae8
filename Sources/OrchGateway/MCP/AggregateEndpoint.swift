import Foundation
import Hummingbird
import Logging
import NIOCore
import OrchJSON
import OrchPolicy

/// The aggregated endpoints over Streamable HTTP: `/orgs/{org}/mcp` (the servers of one org the
/// key may reach) and `/mcp` (every org). The gateway answers `initialize`, `ping` and the lists
/// itself; every item's method is routed to its server's member session and decided there exactly
/// as on that server's own endpoint (docs/guide/clients.md, "One endpoint for every server").
struct AggregateEndpoint: MCPEndpoint {
    let gateway: Gateway

    /// What one of the lists merges: the method, the result's field, and how items are named.
    enum List: CaseIterable {
        case tools, prompts, resources, templates

        init?(_ method: String) {
            guard let list = Self.allCases.first(where: { $0.method == method }) else { return nil }
            self = list
        }

        var method: String {
            switch self {
            case .tools: "tools/list"
            case .prompts: "prompts/list"
            case .resources: "resources/list"
            case .templates: "resources/templates/list"
            }
        }

        var field: String {
            switch self {
            case .tools: "tools"
            case .prompts: "prompts"
            case .resources: "resources"
            case .templates: "resourceTemplates"
            }
        }
    }

    static let serverName = "orch"

    func post(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let started = ContinuousClock.now
        let caller = try context.requireCaller()
        let (incoming, sessionID): (IncomingMessage, String?)
        switch try await start(request, context, servesModern: true) {
        case .answered(let response): return response
        case .message(let message, let session): (incoming, sessionID) = (message, session)
        case .modern(let message): return try await modern(request, context, caller, hasOrg: hasOrg, incoming: message, started: started)
        }
        let view = try scope(request, context, caller, hasOrg: hasOrg, method: incoming.message.method ?? "message")
        let org = view.org
        let accepts = AcceptedReplies(request.headers[.accept])
        func reply(_ value: JSONValue) -> Response {
            accepts.json ? Response.json(value) : SSEEncoder.response(events: [MCPSession.encode(value)])
        }
        if case .request(let id, "initialize", let params) = incoming.message {
            let kept: ClientInitialize
            switch ClientInitialize.keep(params, id: id) {
            case .success(let initialize): kept = initialize
            case .failure(let error): return Response.json(error.value, status: .badRequest)
            }
            let sealed = recreation.sealedID(caller, endpoint: view.endpoint, version: Self.version(params), params: params)
            let session = try open(request, context, caller, view: view, started: started, method: "initialize", sealed: sealed)
            var response = reply(initialized(session, caller, id: id, params: params, kept: kept))
            response.headers[.mcpSessionID] = session.id
            return response
        }
        let session = try recreation.aggregate(sessionID, caller, view: view, request, context)
        session.touch()
        switch incoming.message {
        case .notification(let method, let params):
            if MethodRule.forwardsNotification(method) {
                session.notificationFromClient(incoming.bytes, method: method, params: params)
            } else {
                gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "dropped notification \(method)",
                              status: 202, started: started, org: org, session: session.id, mcpMethod: method)
            }
            return Response(status: .accepted)
        case .response(let id):
            if let value = try? JSONRPC.parse(incoming.bytes) { session.answerFromClient(value, id: id) }
            return Response(status: .accepted)
        case .request(let id, let method, let params):
            return await handle(request, context, caller, session, id: id, method: method, params: params, transport: .streamableHTTP(accepts),
                                started: started, reply: reply)
        }
    }

    /// How the client talks to the session, and so where replies go.
    enum Transport {
        case streamableHTTP(AcceptedReplies)
        case legacySSE
    }

    private func handle(
        _ request: Request, _ context: GatewayContext, _ caller: Caller, _ session: AggregateSession, id: JSONValue, method: String,
        params: JSONObject, transport: Transport, started: ContinuousClock.Instant, reply: (JSONValue) -> Response
    ) async -> Response {
        var (method, params) = (method, params)
        if Self.searchMode(request) {
            switch (method, params["name"]?.stringValue) {
            case ("tools/list", _):
                session.listed(.tool)
                return reply(searchList(id: id))
            case ("tools/call", Self.findTools?):
                return reply(await findTools(request, context, caller, session, id: id, params: params))
            case ("tools/call", Self.callTool?):
                guard let direct = Self.directCall(params) else {
                    return reply(JSONRPC.error(id: id, code: JSONRPC.invalidParams, "call_tool needs a string arguments.name"))
                }
                params = direct
            default:
                break
            }
        }
        if let list = List(method) {
            session.listed(Self.kind(list))
            return reply(await merged(list, request, context, caller, session, id: id, params: params))
        }
        switch method {
        case "ping":
            return reply(["jsonrpc": "2.0", "id": id, "result": [:]])
        case "logging/setLevel":
            for member in session.startedMembers { session.tell(member, method: method, params: params, timeout: .seconds(10)) }
            return reply(["jsonrpc": "2.0", "id": id, "result": [:]])
        case "tools/call", "prompts/get", "resources/read", "resources/subscribe", "resources/unsubscribe", "completion/complete":
            return await routed(request, context, caller, session, id: id, method: method, params: params, transport: transport, started: started, reply: reply)
        default:
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "the aggregated endpoint does not serve \(method)",
                          status: 200, started: started, org: session.org, session: session.id, mcpMethod: method)
            return reply(JSONRPC.error(id: id, code: JSONRPC.methodNotFound, "Method not found: \(method)"))
        }
    }

    // MARK: initialize

    /// A new aggregated session for the caller (no server starts yet), in a slot of its key's on
    /// the endpoint (429 past `maxSessionsPerKey`).
    private func open(_ request: Request, _ context: GatewayContext, _ caller: Caller, view: AggregateView, started: ContinuousClock.Instant,
                      method: String, sealed: (id: String, expires: Int64)? = nil) throws -> AggregateSession {
        let org = view.org
        let session = AggregateSession(gateway: gateway, caller: caller, view: view, id: sealed?.id, sealedUntil: sealed?.expires ?? 0)
        do {
            try gateway.aggregates.insert(session, limit: caller.policy.settings.limits.maxSessionsPerKey)
        } catch .perKeyServer(let limit), .processes(let limit) {
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "\(caller.signIn) has \(limit) sessions open on \(session.endpoint)",
                          status: 429, started: started, org: org, mcpMethod: method)
            throw GatewayError.tooManySessions("\(caller.signIn) already has \(limit) open sessions on \(session.endpoint); end one (DELETE) or wait for it to idle out")
        } catch .closed {
            throw GatewayError.shuttingDown()
        }
        let count = session.scoped(caller).count
        gateway.auditor.record(context, request: request, caller: caller, decision: .allow,
                      reason: "\(count) server\(count == 1 ? "" : "s") behind \(view.endpoint)",
                      status: 200, started: started, org: org, session: session.id, mcpMethod: method)
        return session
    }

    /// The gateway's answer to `initialize`: the client's version when the gateway speaks it, every
    /// capability a server behind it may have, and what orch.json says of each server.
    private func initialized(_ session: AggregateSession, _ caller: Caller, id: JSONValue, params: JSONObject, kept: ClientInitialize) -> JSONValue {
        session.keep(kept)
        let capabilities: JSONObject = session.view.toolsOnly
            ? ["tools": ["listChanged": true], "logging": [:]]
            : [
                "tools": ["listChanged": true], "prompts": ["listChanged": true],
                "resources": ["listChanged": true, "subscribe": true], "completions": [:], "logging": [:],
            ]
        var result: JSONObject = [
            "protocolVersion": .string(Self.version(params)),
            "capabilities": .object(capabilities),
            "serverInfo": .object(Self.serverInfo),
        ]
        if let instructions = instructions(session, caller) { result["instructions"] = .string(instructions) }
        return ["jsonrpc": "2.0", "id": id, "result": .object(result)]
    }

    /// The version the gateway answers `initialize` with: the client's when the gateway speaks it.
    static func version(_ params: JSONObject) -> String {
        let requested = params["protocolVersion"]?.stringValue ?? JSONRPC.latestVersion
        return JSONRPC.supportedVersions.contains(requested) ? requested : JSONRPC.latestVersion
    }

    // MARK: lists

    /// A list merged from every server of the session at once, each under its own deadline. A
    /// server that fails or times out is left out of this answer (logged, audited, and told to the
    /// client as a log message) and holds up no other. The cursor says where each server stands.
    func merged(
        _ list: List, _ request: Request, _ context: GatewayContext, _ caller: Caller, _ session: any AggregateMembers, id: JSONValue,
        params: JSONObject
    ) async -> JSONValue {
        let cursors: [String: String]?
        if let cursor = params["cursor"] {
            guard let decoded = cursor.stringValue.flatMap(Self.decodeCursor) else {
                return JSONRPC.error(id: id, code: JSONRPC.invalidParams, "invalid cursor")
            }
            cursors = decoded
        } else {
            cursors = nil
        }
        // A toolset's endpoint serves tools only.
        if session.view.toolsOnly, list != .tools { return ["jsonrpc": "2.0", "id": id, "result": [.init(list.field): []]] }
        let scoped = session.scoped(caller).filter { cursors == nil || cursors?[$0.server.path] != nil }
        let servers = scoped.map(\.server)
        let pages = await withTaskGroup(of: (Int, Result<JSONObject, UpstreamError>).self) { group in
            for (index, entry) in scoped.enumerated() {
                let server = entry.server
                group.addTask {
                    let timeout = resolver.callTimeout(caller, server)
                    // A server failing for the caller is left out at once until its retry is due.
                    if let failing = gateway.health.waiting(UpstreamHealth.Key(server: server.path, credential: caller.credential)) {
                        return (index, .failure(.refused(Self.failingMessage(failing))))
                    }
                    let page = await Self.page(of: list, session, server, entry, cursor: cursors?[server.path], request, context,
                                               timeout: timeout, gateway: gateway)
                    switch page {
                    case .success: gateway.federationAnswered(server, caller)
                    case .failure(let error): gateway.federationFailed(server, caller, error)
                    }
                    return (index, page)
                }
            }
            var pages = [Result<JSONObject, UpstreamError>?](repeating: nil, count: servers.count)
            for await (index, page) in group { pages[index] = page }
            return pages
        }
        return mergedReply(list, request, context, caller, session, id: id, scoped: scoped, pages: pages, cursors: cursors)
    }

    /// What a failing server's calls and lists are told while its retry is not due.
    /// `withReason`: the upstream's own words, which the REST API never shows (they may name a
    /// command or a host).
    static func failingMessage(_ failing: UpstreamHealth.Failing, withReason: Bool = true) -> String {
        let wait = max(0, (failing.retryAt - .now).components.seconds)
        return "it is failing\(withReason ? " (\(failing.reason))" : ""); the gateway retries it in \(wait) s"
    }

    /// One server's page of a merged list, filtered for the caller (and to a toolset's tools).
    private static func page(
        of list: List, _ session: any AggregateMembers, _ server: ResolvedServer, _ entry: AggregateScope.Server, cursor: String?,
        _ request: Request, _ context: GatewayContext, timeout: TimeAmount, gateway: Gateway
    ) async -> Result<JSONObject, UpstreamError> {
                    do {
                        let member = try await session.member(server, request, context, timeout: timeout)
                        var askParams: JSONObject = [:]
                        if let cursor { askParams["cursor"] = .string(cursor) }
                        var transform = gateway.callGuard.replyFilter(list == .templates ? .templates : .items(Self.kind(list)), member.access)
                        if let globs = entry.tools { transform = { [transform] in transform(Self.keeping($0, tools: globs)) } }
                        let reply = await session.ask(member, method: list.method, params: askParams, timeout: timeout, transform: transform)
                        if let error = reply["error"] {
                            // A server without this kind of item offers none.
                            if error["code"] == .integer(JSONRPC.methodNotFound) { return .success([:]) }
                            return .failure(.refused(error["message"]?.stringValue ?? "an error"))
                        }
                        return .success(reply["result"]?.objectValue ?? [:])
                    } catch let error as UpstreamError {
                        return .failure(error)
                    } catch let error as GatewayError {
                        // The gateway's own refusal (a limit, the session ended): not the server failing.
                        return .failure(.stopped(error.message))
                    } catch {
                        return .failure(.refused("\(error)"))
                    }
    }

    /// The merged answer from each server's page: items under exposed names, the failing servers
    /// left out (logged, audited, and told to the client), and the cursor of those with more.
    private func mergedReply(
        _ list: List, _ request: Request, _ context: GatewayContext, _ caller: Caller, _ session: any AggregateMembers, id: JSONValue,
        scoped: [AggregateScope.Server], pages: [Result<JSONObject, UpstreamError>?], cursors: [String: String]?
    ) -> JSONValue {
        var items: [JSONValue] = []
        var next: [String: String] = [:]
        for (entry, page) in zip(scoped, pages) {
            let server = entry.server
            switch page {
            case .success(let result)?:
                let (orgPart, prefix) = (entry.org, entry.prefix)
                for item in result[list.field]?.arrayValue ?? [] {
                    if let renamed = rename(item, list, session, server: server, org: orgPart, prefix: prefix) { items.append(renamed) }
                }
                if let cursor = result["nextCursor"]?.stringValue { next[server.path] = cursor }
            case .failure(let error)?:
                let reason = "\(server.path) is left out of \(list.method): \(error.message)"
                gateway.logger.warning("\(reason)")
                gateway.auditor.record(context, request: request, caller: caller, decision: .error, reason: reason, status: 200, started: .now,
                              org: server.org, server: server.name, session: session.sessionID, mcpMethod: list.method)
                session.log(.warning, reason)
            case nil:
                break
            }
        }
        let failing = zip(scoped, pages).compactMap { entry, page -> String? in
            if case .failure? = page { return entry.server.path } else { return nil }
        }
        if list == .tools, items.isEmpty, cursors == nil, !failing.isEmpty {
            session.log(.warning, "No tools here right now: \(failing.joined(separator: ", ")) \(failing.count == 1 ? "is" : "are") failing; the tools come back when \(failing.count == 1 ? "it answers" : "they answer") again")
        }
        var result: JSONObject = [list.field: .array(items)]
        if !next.isEmpty { result["nextCursor"] = .string(Self.encodeCursor(next)) }
        return ["jsonrpc": "2.0", "id": id, "result": .object(result)]
    }

    /// A server's `tools/list` reply with only the tools whose upstream names match `globs` (a
    /// toolset's), before the policy's filter and the server's overrides apply.
    static func keeping(_ reply: JSONValue, tools globs: [Glob]) -> JSONValue {
        guard case .object(var object) = reply, case .object(var result)? = object["result"], let tools = result["tools"]?.arrayValue else { return reply }
        result["tools"] = .array(tools.filter { tool in tool["name"]?.stringValue.map { name in globs.contains { $0.matches(name) } } ?? false })
        object["result"] = .object(result)
        return .object(object)
    }

    /// An item of a server's list under its exposed name or URI; nil (and a log message) for a
    /// name the prefix leaves no room for.
    func rename(_ item: JSONValue, _ list: List, _ session: any AggregateMembers, server: ResolvedServer, org: String?, prefix: String) -> JSONValue? {
        guard case .object(var object) = item else { return nil }
        switch list {
        case .tools, .prompts:
            guard let name = object["name"]?.stringValue else { return nil }
            let exposed = list == .tools
                ? session.names.expose(name, .tool, server: server.path, org: org, prefix: prefix)
                : session.names.expose(name, .prompt, server: server.path, org: org, prefix: prefix)
            guard let exposed else {
                session.log(.warning, "\(list == .tools ? "tool" : "prompt") \(name) of \(server.path) cannot be named within 64 characters: shorten the server's prefix")
                return nil
            }
            object["name"] = .string(exposed)
        case .resources:
            guard let uri = object["uri"]?.stringValue else { return nil }
            object["uri"] = .string(ExposedURI.make(org: org, prefix: prefix, uri: uri))
        case .templates:
            guard let template = object["uriTemplate"]?.stringValue else { return nil }
            object["uriTemplate"] = .string(ExposedURI.make(org: org, prefix: prefix, uri: template, template: true))
        }
        return .object(object)
    }

    static func kind(_ list: List) -> ItemKind {
        switch list {
        case .tools: .tool
        case .prompts: .prompt
        case .resources, .templates: .resource
        }
    }

    /// The merged cursor: where each server with more to give stands, as base64url JSON.
    static func encodeCursor(_ cursors: [String: String]) -> String {
        let json = JSONValue.object(JSONObject(cursors.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.string($0.value)) })).compact
        return Data(json.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decodeCursor(_ text: String) -> [String: String]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), case .object(let object)? = try? JSONValue.parse([UInt8](data)), !object.isEmpty else { return nil }
        var cursors: [String: String] = [:]
        for (server, cursor) in object {
            guard let text = cursor.stringValue else { return nil }
            cursors[server] = text
        }
        return cursors
    }

    // MARK: routed methods

    /// The server and the renamed params of a method on one item, from what the session knows
    /// without asking any server (its name tables, a name's prefix, a URI): nil when it takes a
    /// listing to tell, or names nothing of this session.
    func knownRoute(_ method: String, _ params: JSONObject, _ caller: Caller, _ session: any AggregateMembers) -> (ResolvedServer, JSONObject)? {
        var rewritten = params
        // A toolset's endpoint routes calls of its own tools only.
        if session.view.toolsOnly, method != "tools/call" { return nil }
        switch method {
        case "tools/call", "prompts/get":
            let kind: ItemKind = method == "tools/call" ? .tool : .prompt
            guard let name = params["name"]?.stringValue, let (server, original) = lookUp(name, kind, caller, session) else { return nil }
            if kind == .tool, session.view.toolsOnly, !holds(server, tool: original, caller, session) { return nil }
            rewritten["name"] = .string(original)
            return (server, rewritten)
        case "resources/read", "resources/subscribe", "resources/unsubscribe":
            guard let uri = params["uri"]?.stringValue, let (server, original) = byURI(uri, caller, session) else { return nil }
            rewritten["uri"] = .string(original)
            return (server, rewritten)
        case "completion/complete":
            var ref = params["ref"]?.objectValue ?? [:]
            let found: (ResolvedServer, String)?
            if ref["type"] == "ref/prompt", let name = ref["name"]?.stringValue {
                found = lookUp(name, .prompt, caller, session)
                if let (_, original) = found { ref["name"] = .string(original) }
            } else if let uri = ref["uri"]?.stringValue {
                found = byURI(uri, caller, session)
                if let (_, original) = found { ref["uri"] = .string(original) }
            } else {
                found = nil
            }
            guard let (server, _) = found else { return nil }
            rewritten["ref"] = .object(ref)
            return (server, rewritten)
        default:
            return nil
        }
    }

    /// Whether the view holds `server`'s tool that its member lists as `name` (an override's
    /// exposed name is mapped back to the upstream name a toolset names). A hidden or renamed
    /// upstream name is left to the policy's decision, which refuses it with its reason.
    func holds(_ server: ResolvedServer, tool name: String, _ caller: Caller, _ session: any AggregateMembers) -> Bool {
        guard let entry = session.scoped(caller).first(where: { $0.server.path == server.path }) else { return false }
        guard case .tool(let upstream) = caller.policy.toolCall(name, server: server.id) else { return true }
        return entry.holds(tool: upstream)
    }

    /// The kind of item a method names by exposed name (a tool or prompt), which a listing may
    /// still have to make known; nil for a URI.
    func namedKind(_ method: String, _ params: JSONObject) -> ItemKind? {
        switch method {
        case "tools/call": .tool
        case "prompts/get": .prompt
        case "completion/complete" where params["ref"]?["type"] == "ref/prompt": .prompt
        default: nil
        }
    }

    /// A name in the session's table, or one that needed no mapping.
    func lookUp(_ exposed: String, _ kind: ItemKind, _ caller: Caller, _ session: any AggregateMembers) -> (ResolvedServer, String)? {
        if let origin = session.names.origin(of: exposed, kind: kind),
            let scoped = session.scoped(caller).first(where: { $0.server.path == origin.server })
        {
            return (scoped.server, origin.name)
        }
        return canonical(exposed, caller, session)
    }

    /// A method's refusal: the item is not one the caller may reach on this endpoint (audited).
    struct Unrouted: Error {
        let reply: JSONValue
    }

    /// The server of a method on one item, and its params renamed back: the exposed name or URI is
    /// looked up, listing the servers once when it is not known yet; a name of nothing the caller
    /// may reach is refused (-32602) and audited.
    func route(
        _ request: Request, _ context: GatewayContext, _ caller: Caller, _ session: any AggregateMembers, id: JSONValue, method: String,
        params: JSONObject, started: ContinuousClock.Instant
    ) async -> Result<(ResolvedServer, JSONObject), Unrouted> {
        var route = knownRoute(method, params, caller, session)
        if route == nil, let kind = namedKind(method, params) {
            // A name with a suffix not seen by this client yet (one that calls without listing):
            // list once, every page, and look again.
            await listAll(kind == .tool ? .tools : .prompts, request, context, caller, session)
            route = knownRoute(method, params, caller, session)
        }
        if let route { return .success(route) }
        let unknown = switch method {
        case "tools/call", "prompts/get":
            "\(namedKind(method, params)!.description.capitalized) \(params["name"]?.stringValue ?? "") is not permitted for \(caller.userName) on \(session.endpoint)"
        case "completion/complete": "completion/complete names no prompt or resource of this session"
        default: "Resource \(params["uri"]?.stringValue ?? "") is not permitted for \(caller.userName) on \(session.endpoint)"
        }
        gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: unknown, status: 200, started: started,
                      org: session.org, session: session.sessionID, mcpMethod: method)
        return .failure(Unrouted(reply: JSONRPC.error(id: id, code: JSONRPC.invalidParams, unknown)))
    }

    /// A method on one item: the exposed name or URI is looked up (listing the servers once when
    /// the session has not seen it yet), renamed back, decided as on the server's own endpoint,
    /// and forwarded to its member.
    private func routed(
        _ request: Request, _ context: GatewayContext, _ caller: Caller, _ session: AggregateSession, id: JSONValue, method: String,
        params: JSONObject, transport: Transport, started: ContinuousClock.Instant, reply: (JSONValue) -> Response
    ) async -> Response {
        let (server, rewritten): (ResolvedServer, JSONObject)
        switch await route(request, context, caller, session, id: id, method: method, params: params, started: started) {
        case .success(let found): (server, rewritten) = found
        case .failure(let refusal): return reply(refusal.reply)
        }
        let timeout = resolver.callTimeout(caller, server)
        let member: MCPSession
        if let refusal = failing(server, caller, id: id, method: method, request, context, session) { return reply(refusal) }
        do {
            member = try await session.member(server, request, context, timeout: timeout)
        } catch {
            return reply(unavailable(server, caller, error, id: id))
        }
        let hooks: ReplyHooks
        var forwarded = rewritten
        switch guardian.admit(RequestOrigin(context, request), caller: caller, server: server, session: member, id: id, method: method,
                              params: rewritten, started: started) {
        case .forward(let admitted, let decided):
            hooks = admitted
            forwarded = decided ?? rewritten
        case .refuse(let refusal): return reply(refusal)
        }
        let bytes = MCPSession.encode(JSONRPC.request(id: id, method: method, params: forwarded))
        let sink: AggregateSession.Sink
        switch transport {
        case .streamableHTTP(let accepts):
            let mayInterleave = params["_meta"]?["progressToken"] != nil || member.requestsClientMidCall
            sink = .response(streamed: accepts.sse && (!accepts.json || mayInterleave))
        case .legacySSE:
            sink = .sessionStream
        }
        // An `approve` rule's question goes on the call's own stream, before the call.
        let origin = RequestOrigin(context, request)
        let canAsk = if case .response(streamed: false) = sink { false } else { true }
        var approve: (@Sendable (SessionStateMachine.Target, ReplyHooks) async -> Bool)?
        switch guardian.approvalStep(origin, caller: caller, server: server, session: member, id: id, method: method, params: forwarded, canAsk: canAsk) {
        case .none: approve = nil
        case .refuse(let refusal):
            hooks.outcome?(.replied(refusal))
            return reply(refusal)
        case .ask(let question):
            approve = { [guardian] target, hooks in
                await guardian.approve(question, origin, caller: caller, server: server, session: member, id: id, on: target, replyTarget: target, hooks: hooks,
                                       progressToken: params["_meta"]?["progressToken"])
            }
        }
        return await session.forward(bytes, to: member, id: id, method: method, params: forwarded, sink: sink, timeout: timeout, hooks: hooks,
                                     approve: approve)
            ?? Response(status: .accepted)
    }

    /// The refusal of a call to a server failing for the caller while its retry is not due
    /// (audited): a clear upstream error, at once.
    func failing(
        _ server: ResolvedServer, _ caller: Caller, id: JSONValue, method: String, _ request: Request, _ context: GatewayContext,
        _ session: any AggregateMembers
    ) -> JSONValue? {
        guard let failing = gateway.health.waiting(UpstreamHealth.Key(server: server.path, credential: caller.credential)) else { return nil }
        let message = "the server \(server.path) is unavailable: \(Self.failingMessage(failing))"
        gateway.auditor.record(context, request: request, caller: caller, decision: .error, reason: message, status: 200, started: .now,
                               org: server.org, server: server.name, session: session.sessionID, mcpMethod: method)
        return JSONRPC.error(id: id, code: JSONRPC.internalError, message)
    }

    /// The answer to a call whose server could not be started or reached (which makes it failing).
    func unavailable(_ server: ResolvedServer, _ caller: Caller, _ error: any Error, id: JSONValue) -> JSONValue {
        if let error = error as? UpstreamError { gateway.federationFailed(server, caller, error) }
        let message = (error as? UpstreamError)?.message ?? (error as? GatewayError)?.message ?? "\(error)"
        return JSONRPC.error(id: id, code: JSONRPC.internalError, "the server \(server.path) is unavailable: \(message)")
    }

    /// Every page of a merged list, for the names it makes known to the session.
    func listAll(_ list: List, _ request: Request, _ context: GatewayContext, _ caller: Caller, _ session: any AggregateMembers) async {
        _ = await allPages(list, request, context, caller, session)
    }

    /// The items of every page of a merged list (at most 100 pages).
    func allPages(_ list: List, _ request: Request, _ context: GatewayContext, _ caller: Caller, _ session: any AggregateMembers) async -> [JSONValue] {
        var params: JSONObject = [:]
        var items: [JSONValue] = []
        for _ in 0..<100 {
            let page = await merged(list, request, context, caller, session, id: "orch-lookup", params: params)
            items += page["result"]?[list.field]?.arrayValue ?? []
            guard let cursor = page["result"]?["nextCursor"] else { break }
            params["cursor"] = cursor
        }
        return items
    }

    /// A name that needed no mapping names its server by its head (`PREFIX__`, `ORG__PREFIX__`):
    /// the server is found without listing or starting any other, and the policy then decides the
    /// call on the real (server, name), as on the server's own endpoint. The longest head wins.
    func canonical(_ exposed: String, _ caller: Caller, _ session: any AggregateMembers) -> (ResolvedServer, String)? {
        var best: (ResolvedServer, String, head: Int)? = nil
        for scoped in session.scoped(caller) {
            let head = scoped.head.utf8
            guard exposed.utf8.starts(with: head), head.count > best?.head ?? 0 else { continue }
            let name = String(Substring(exposed.utf8.dropFirst(head.count)))
            if ExposedName.make(org: scoped.org, prefix: scoped.prefix, name: name) == exposed { best = (scoped.server, name, head.count) }
        }
        return best.map { ($0.0, $0.1) }
    }

    func byURI(_ exposed: String, _ caller: Caller, _ session: any AggregateMembers) -> (ResolvedServer, String)? {
        guard let parsed = ExposedURI.parse(exposed, withOrg: session.org == nil) else { return nil }
        let scoped = session.scoped(caller).first { $0.org == parsed.org && $0.prefix == parsed.prefix }
        return scoped.map { ($0.server, parsed.uri) }
    }

    // MARK: stream and end

    func get(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let caller = try context.requireCaller()
        try resolver.checkProtocolVersion(request)
        let view = try scope(request, context, caller, hasOrg: hasOrg, method: "GET stream")
        guard let sessionID = request.headers[.mcpSessionID] else {
            throw GatewayError(.methodNotAllowed, code: "bad_request", "no stream without a session: send initialize first, then GET with its Mcp-Session-Id",
                               headers: [.allow: "POST, DELETE"])
        }
        let session = try recreation.aggregate(sessionID, caller, view: view, request, context)
        guard AcceptedReplies(request.headers[.accept]).sse else {
            throw GatewayError(.notAcceptable, code: "bad_request", "the GET stream needs Accept: text/event-stream")
        }
        let queue = MessageQueue()
        guard let generation = session.attachStream(queue) else { throw GatewayError.unknownSession() }
        context.channel.closeFuture.whenComplete { _ in queue.hangUp() }
        return SSEEncoder.response(queue: queue) { session.streamClosed(generation: generation) }
    }

    func delete(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let caller = try context.requireCaller()
        let view = try scope(request, context, caller, hasOrg: hasOrg, method: "DELETE")
        try recreation.endAggregate(request.headers[.mcpSessionID], caller, view: view)
        return Response(status: .noContent)
    }

    // MARK: legacy SSE

    /// `GET /orgs/{org}/sse`, `GET /sse`: opens a session and its one stream, whose first event
    /// names the endpoint for POSTs; every reply and server message travels on it.
    func stream(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let started = ContinuousClock.now
        let caller = try context.requireCaller()
        let view = try scope(request, context, caller, hasOrg: hasOrg, method: "GET sse")
        let session = try open(request, context, caller, view: view, started: started, method: "GET sse")
        let queue = MessageQueue()
        guard let generation = session.attachStream(queue) else { throw GatewayError.unknownSession("connect again") }
        context.channel.closeFuture.whenComplete { _ in queue.hangUp() }
        let endpoint = "\(view.endpoint.dropLast(4))/messages?sessionId=\(session.id)"
        return SSEEncoder.response(queue: queue, first: SSEEncoder.event(Array(endpoint.utf8), name: "endpoint")) {
            session.streamClosed(generation: generation)
            // The legacy stream is the session: when the client hangs up, it ends.
            session.end("the client closed the SSE stream")
        }
    }

    /// `POST /orgs/{org}/messages?sessionId=…`, `POST /messages?…`: one message; whatever answers
    /// it goes on the session's stream.
    func messages(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let started = ContinuousClock.now
        let caller = try context.requireCaller()
        let view = try scope(request, context, caller, hasOrg: hasOrg, method: "POST messages")
        let session = try aggregate(request.uri.queryParameters.get("sessionId").map { String($0) }, caller, view: view)
        session.touch()
        let incoming: IncomingMessage
        switch try await IncomingMessage.read(request, limit: gateway.maxBodyBytes) {
        case .success(let message): incoming = message
        case .failure(let error): return Response.json(error.value, status: .badRequest)
        }
        let reply: (JSONValue) -> Response = { value in
            session.deliver(MCPSession.encode(value))
            return Response(status: .accepted)
        }
        switch incoming.message {
        case .notification(let method, let params):
            if MethodRule.forwardsNotification(method) { session.notificationFromClient(incoming.bytes, method: method, params: params) }
            return Response(status: .accepted)
        case .response(let id):
            if let value = try? JSONRPC.parse(incoming.bytes) { session.answerFromClient(value, id: id) }
            return Response(status: .accepted)
        case .request(let id, "server/discover", _):
            return reply(JSONRPC.discoverRefusal(id))
        case .request(let id, "initialize", let params):
            switch ClientInitialize.keep(params, id: id) {
            case .success(let kept): return reply(initialized(session, caller, id: id, params: params, kept: kept))
            case .failure(let error): return Response.json(error.value, status: .badRequest)
            }
        case .request(let id, let method, let params):
            return await handle(request, context, caller, session, id: id, method: method, params: params, transport: .legacySSE,
                                started: started, reply: reply)
        }
    }

    // MARK: scope and session

    /// The endpoint a request is on: `/mcp`, or `/orgs/{org}/mcp` (and `/orgs/{org}/toolsets/{name}/mcp`)
    /// if the caller reaches some server of the org, and the toolset is the org's; a 404 like a
    /// missing org's otherwise (the audit log has the reason).
    func scope(_ request: Request, _ context: GatewayContext, _ caller: Caller, hasOrg: Bool, method: String) throws -> AggregateView {
        guard hasOrg else { return AggregateView(org: nil) }
        let org = context.parameters.get("org") ?? ""
        let policy = caller.policy
        let reaches = gateway.reachableServers(caller).contains { policy.org(policy.server($0).org).name == org }
        guard reaches else {
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "\(caller.userName) reaches no server of org \(org)",
                          status: 404, started: .now, org: org, mcpMethod: method)
            throw GatewayError.notFound("no org \(org)")
        }
        guard let toolset = context.parameters.get("toolset") else { return AggregateView(org: org) }
        guard policy.orgs.contains(where: { $0.name == org && $0.spec.toolset(named: toolset) != nil }) else {
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "org \(org) has no toolset \(toolset)",
                          status: 404, started: .now, org: org, mcpMethod: method)
            throw GatewayError.notFound("no toolset \(toolset) in org \(org)")
        }
        return AggregateView(org: org, toolset: toolset)
    }

    func aggregate(_ id: String?, _ caller: Caller, view: AggregateView) throws -> AggregateSession {
        guard let id else { throw GatewayError.badRequest("missing Mcp-Session-Id header: send initialize first") }
        guard let session = gateway.aggregates.session(id), session.view == view, !session.isEnded,
            session.binding.admits(caller)
        else { throw GatewayError.unknownSession() }
        return session
    }
}
