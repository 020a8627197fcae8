import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OrchJSON
import Logging
import OrchPolicy

extension HTTPField.Name {
    static let mcpSessionID = HTTPField.Name("Mcp-Session-Id")!
    static let mcpProtocolVersion = HTTPField.Name("MCP-Protocol-Version")!
}

/// The server a request's path names, resolved for its caller.
struct ResolvedServer {
    let id: ServerID
    let org: String
    let name: String
    let decision: Decision
    /// `/orgs/ORG/servers/NAME` or, for the short form, `/servers/NAME`.
    let base: String
}

extension Gateway {
    /// MCP endpoints, long form (`/orgs/{org}/servers/{server}/…`) and short form
    /// (`/servers/{server}/…`, when the caller reaches exactly one server of that name).
    func addMCPRoutes(to router: Router<GatewayContext>) {
        let auth = AuthMiddleware(gateway: self)
        for (group, hasOrg) in [(router.group("orgs/{org}/servers/{server}").add(middleware: auth), true),
                                (router.group("servers/{server}").add(middleware: auth), false)] {
            group.post("mcp") { request, context in try await self.streamablePOST(request, context, hasOrg: hasOrg) }
            group.get("mcp") { request, context in try await self.streamableGET(request, context, hasOrg: hasOrg) }
            group.delete("mcp") { request, context in try await self.streamableDELETE(request, context, hasOrg: hasOrg) }
            group.get("sse") { request, context in try await self.legacySSE(request, context, hasOrg: hasOrg) }
            group.post("messages") { request, context in try await self.legacyPOST(request, context, hasOrg: hasOrg) }
        }
    }

    // MARK: resolving and refusing

    /// The server of the path, if the caller's key may connect to it; else a 404 exactly like a
    /// missing server's, with the real reason in the audit log.
    func resolve(_ request: Request, _ context: GatewayContext, hasOrg: Bool, method: String) throws -> ResolvedServer {
        let caller = try context.requireCaller()
        let policy = caller.policy
        let name = context.parameters.get("server") ?? ""
        let now = Date()
        var candidates: [ServerID] = []
        if hasOrg {
            let org = context.parameters.get("org") ?? ""
            if let id = policy.server(org: org, name: name) { candidates = [id] }
        } else {
            candidates = policy.user(caller.user).memberships.flatMap { policy.org($0.org).servers }
                .filter { policy.server($0).name == name }
                .filter { policy.decide(user: caller.user, server: $0, tool: nil, key: caller.key, at: now).allowed }
        }
        let shown = hasOrg ? "\(context.parameters.get("org") ?? "")/\(name)" : name
        guard candidates.count == 1, let id = candidates.first else {
            let reason = candidates.isEmpty ? "no server \(shown) for \(caller.userName)" : "\(name) is ambiguous: \(caller.userName) reaches \(candidates.count) servers of that name"
            audit(context, request: request, caller: caller, decision: "deny", reason: reason, status: 404, started: .now, server: name, mcpMethod: method)
            throw GatewayError.notFound("no server \(shown)")
        }
        let decision = policy.decide(user: caller.user, server: id, tool: nil, key: caller.key, at: now)
        let org = policy.org(policy.server(id).org).name
        guard decision.allowed else {
            audit(context, request: request, caller: caller, decision: "deny", reason: policy.describe(decision.reason), status: 404, started: .now, org: org, server: name, mcpMethod: method)
            throw GatewayError.notFound("no server \(shown)")
        }
        let base = hasOrg ? Endpoints.serverPath(org: org, server: name) : "/servers/\(name)"
        return ResolvedServer(id: id, org: org, name: name, decision: decision, base: base)
    }

    /// The live session `id`, if it belongs to this key and server; else 404.
    func session(_ id: String?, _ server: ResolvedServer, _ caller: Caller) throws -> MCPSession {
        guard let id else { throw GatewayError.badRequest("missing Mcp-Session-Id header: send initialize first") }
        guard let session = sessions.session(id), !session.isEnded, session.keyHash == caller.policy.key(caller.key).spec.hash,
            session.org == server.org, session.server == server.name
        else { throw GatewayError.notFound("unknown or ended session") }
        return session
    }

    func checkProtocolVersion(_ request: Request) throws {
        if let version = request.headers[.mcpProtocolVersion], !JSONRPC.supportedVersions.contains(version) {
            throw GatewayError.badRequest("unsupported MCP-Protocol-Version \(version)")
        }
    }

    /// The request body, bounded by `maxBodyBytes`, parsed; or the JSON-RPC error to answer.
    func readMessage(_ request: Request) async throws -> Result<(bytes: [UInt8], value: JSONValue, message: JSONRPCMessage), JSONRPCReply> {
        let limit = maxBodyBytes
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch {
            throw GatewayError.payloadTooLarge(limit)
        }
        let bytes = Array(buffer: body)
        guard let value = try? JSONValue.parse(bytes) else {
            return .failure(JSONRPCReply(JSONRPC.error(id: nil, code: JSONRPC.parseError, "Parse error: the body is not JSON")))
        }
        guard let message = JSONRPCMessage(value) else {
            let reason = value.arrayValue != nil ? "batches are not supported" : "not a JSON-RPC 2.0 request, notification or response"
            return .failure(JSONRPCReply(JSONRPC.error(id: value["id"], code: JSONRPC.invalidRequest, "Invalid Request: \(reason)")))
        }
        return .success((bytes, value, message))
    }

    // MARK: sessions

    /// Starts a session's upstream and registers the session, or refuses with 429 past the limit.
    func openSession(_ request: Request, _ context: GatewayContext, _ server: ResolvedServer, transport: MCPSession.Transport) throws -> MCPSession {
        let caller = try context.requireCaller()
        let policy = caller.policy
        let key = policy.key(caller.key)
        let limit = policy.settings.limits.maxSessionsPerKey
        if sessions.count(key: key.spec.hash) >= limit {
            audit(context, request: request, caller: caller, decision: "deny", reason: "key \(key.spec.id) has \(limit) sessions open", status: 429, started: .now, org: server.org, server: server.name, mcpMethod: "initialize")
            throw GatewayError.tooManySessions("key \(key.spec.id) already has \(limit) open sessions; end one (DELETE) or wait for it to idle out")
        }
        let label = "\(server.org)/\(server.name)"
        let upstream = try makeUpstream(policy.server(server.id).spec, label: label)
        let policyDigest = policy.digest
        let remote = context.remote
        let session = MCPSession(
            keyHash: key.spec.hash, user: caller.userName, keyID: key.spec.id, org: server.org, server: server.name,
            transport: transport, upstream: upstream
        ) { [weak self] session, reason in
            guard let self else { return }
            self.sessions.remove(session)
            self.metrics.sessionsChanged(server: session.serverPath, count: self.sessions.count(server: session.serverPath))
            if reason == "upstream exited" { self.metrics.upstreamFailure(server: session.serverPath) }
            self.audit.write(AuditRecord(
                policy: policyDigest, user: session.user, key: session.keyID, remote: remote, org: session.org,
                server: session.server, session: session.id, method: "session end", decision: "end", reason: reason, status: 0, ms: 0))
        }
        sessions.insert(session)
        metrics.sessionsChanged(server: session.serverPath, count: sessions.count(server: session.serverPath))
        Task { await session.pump() }
        return session
    }

    /// The timeout for one request to this server.
    func callTimeout(_ caller: Caller, _ server: ResolvedServer) -> Duration {
        .seconds(caller.policy.server(server.id).spec.timeoutSeconds ?? caller.policy.settings.limits.callTimeoutSeconds)
    }

    /// For `tools/list`: the reply with only the tools this key may call. For `tools/call`: nil
    /// when allowed, else the refusal. Both decide on the caller's current policy.
    func toolsFilter(_ caller: Caller, _ server: ResolvedServer) -> @Sendable (JSONValue) -> JSONValue {
        let policy = caller.policy, user = caller.user, key = caller.key, id = server.id
        return { reply in
            guard case .object(var object) = reply, case .object(var result) = object["result"],
                let tools = result["tools"]?.arrayValue
            else { return reply }
            let now = Date()
            result["tools"] = .array(tools.filter { tool in
                guard let name = tool["name"]?.stringValue else { return false }
                return policy.decide(user: user, server: id, tool: name, key: key, at: now).allowed
            })
            object["result"] = .object(result)
            return .object(object)
        }
    }

    /// Handles one client request on a session: tool calls are decided (and refused ones answered
    /// here, never forwarded), tool lists filtered, everything else forwarded unchanged.
    func dispatch(
        _ request: Request, _ context: GatewayContext, _ caller: Caller, _ server: ResolvedServer, _ session: MCPSession,
        bytes: [UInt8], id: JSONValue, method: String, params: JSONObject, target: MCPSession.Target
    ) async {
        let started = ContinuousClock.now
        var transform: (@Sendable (JSONValue) -> JSONValue)? = nil
        var onReply: (@Sendable ([UInt8]) -> Void)? = nil
        if method == "tools/list" {
            transform = toolsFilter(caller, server)
        } else if method == "tools/call" {
            let tool = params["name"]?.stringValue ?? ""
            let policy = caller.policy
            let decision = policy.decide(user: caller.user, server: server.id, tool: tool, key: caller.key, at: Date())
            let reason = policy.describe(decision.reason)
            metrics.toolCall(server: "\(server.org)/\(server.name)", allowed: decision.allowed)
            guard decision.allowed else {
                audit(context, request: request, caller: caller, decision: "deny", reason: reason, status: 200, started: started,
                      org: server.org, server: server.name, session: session.id, mcpMethod: method, tool: tool)
                session.answer(JSONRPC.error(id: id, code: JSONRPC.invalidParams, "Tool \(tool) is not permitted for \(caller.userName) on \(server.org)/\(server.name)"), to: target)
                return
            }
            onReply = { [weak self] reply in
                let failed = reply.count < 4096 && String(decoding: reply, as: UTF8.self).contains("\"error\":{")
                self?.audit(context, request: request, caller: caller, decision: "allow", reason: reason + (failed ? " (the call failed)" : ""), status: 200,
                            started: started, org: server.org, server: server.name, session: session.id, mcpMethod: method, tool: tool)
            }
        }
        await session.forward(request: bytes, id: id, method: method, target: target, timeout: callTimeout(caller, server), transform: transform, onReply: onReply)
    }

    static func discoverRefusal(_ id: JSONValue) -> JSONValue {
        JSONRPC.error(id: id, code: JSONRPC.methodNotFound, "Method not found: server/discover (use initialize)")
    }

    // MARK: Streamable HTTP

    func streamablePOST(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let caller = try context.requireCaller()
        let parsed: (bytes: [UInt8], value: JSONValue, message: JSONRPCMessage)
        switch try await readMessage(request) {
        case .success(let p): parsed = p
        case .failure(let error): return Response.json(error.value, status: .badRequest)
        }
        let sessionID = request.headers[.mcpSessionID]
        if case .request(let id, "server/discover", _) = parsed.message, sessionID == nil {
            // Protocol 2026-07-28 clients probe first, with their newer MCP-Protocol-Version;
            // "method not found" (before any version check) makes them fall back to initialize.
            return Response.json(Self.discoverRefusal(id))
        }
        try checkProtocolVersion(request)
        let server = try resolve(request, context, hasOrg: hasOrg, method: parsed.message.method ?? "message")
        let wantsSSE = (request.headers[.accept] ?? "").contains("text/event-stream")

        if case .request(let id, "initialize", _) = parsed.message {
            let session = try openSession(request, context, server, transport: .streamableHTTP)
            let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
            await session.forward(request: parsed.bytes, id: id, method: "initialize", target: .request(continuation, interim: false), timeout: callTimeout(caller, server))
            var reply: [UInt8] = []
            for await message in stream { reply = message }
            if session.isEnded || !session.upstream.isRunning {
                // The upstream could not be reached or exited at once: no session to hand out.
                session.end(reason: "upstream unavailable at initialize")
                audit(context, request: request, caller: caller, decision: "deny", reason: "upstream \(server.org)/\(server.name) unavailable", status: 502,
                      started: .now, org: server.org, server: server.name, mcpMethod: "initialize")
                throw GatewayError.upstreamUnavailable("the server \(server.org)/\(server.name) is unavailable")
            }
            audit(context, request: request, caller: caller, decision: "allow", reason: caller.policy.describe(server.decision.reason), status: 200,
                  started: .now, org: server.org, server: server.name, session: session.id, mcpMethod: "initialize")
            var response = wantsSSE && !(request.headers[.accept] ?? "").contains("application/json") ? sseResponse(events: [reply]) : jsonResponse(reply)
            response.headers[.mcpSessionID] = session.id
            return response
        }
        let session = try self.session(sessionID, server, caller)
        switch parsed.message {
        case .notification, .response:
            await session.forward(notification: parsed.bytes)
            return Response(status: .accepted)
        case .request(let id, let method, let params):
            let (stream, continuation) = AsyncStream.makeStream(of: [UInt8].self)
            await dispatch(request, context, caller, server, session, bytes: parsed.bytes, id: id, method: method, params: params,
                           target: .request(continuation, interim: wantsSSE))
            if wantsSSE { return sseResponse(stream: stream) }
            var reply: [UInt8] = []
            for await message in stream { reply = message }
            return jsonResponse(reply)
        }
    }

    func streamableGET(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let caller = try context.requireCaller()
        try checkProtocolVersion(request)
        let server = try resolve(request, context, hasOrg: hasOrg, method: "GET stream")
        let session = try self.session(request.headers[.mcpSessionID], server, caller)
        guard (request.headers[.accept] ?? "").contains("text/event-stream") else {
            throw GatewayError(.notAcceptable, code: "bad_request", "the GET stream needs Accept: text/event-stream")
        }
        let (stream, generation) = session.attachStream()
        return sseResponse(stream: stream, keepAlive: true, channel: context.channel) { session.streamClosed(generation: generation) }
    }

    func streamableDELETE(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let caller = try context.requireCaller()
        let server = try resolve(request, context, hasOrg: hasOrg, method: "DELETE")
        let session = try self.session(request.headers[.mcpSessionID], server, caller)
        session.end(reason: "client ended the session (DELETE)")
        return Response(status: .noContent)
    }

    // MARK: legacy HTTP+SSE

    func legacySSE(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let caller = try context.requireCaller()
        let server = try resolve(request, context, hasOrg: hasOrg, method: "GET sse")
        let session = try openSession(request, context, server, transport: .legacySSE)
        audit(context, request: request, caller: caller, decision: "allow", reason: caller.policy.describe(server.decision.reason), status: 200,
              started: .now, org: server.org, server: server.name, session: session.id, mcpMethod: "GET sse")
        let (stream, generation) = session.attachStream()
        let endpoint = "\(server.base)/messages?sessionId=\(session.id)"
        return sseResponse(stream: stream, keepAlive: true, first: "event: endpoint\ndata: \(endpoint)\n\n", channel: context.channel) {
            session.streamClosed(generation: generation)
        }
    }

    func legacyPOST(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let caller = try context.requireCaller()
        let server = try resolve(request, context, hasOrg: hasOrg, method: "POST messages")
        let session = try self.session(request.uri.queryParameters.get("sessionId"), server, caller)
        let parsed: (bytes: [UInt8], value: JSONValue, message: JSONRPCMessage)
        switch try await readMessage(request) {
        case .success(let p): parsed = p
        case .failure(let error): return Response.json(error.value, status: .badRequest)
        }
        switch parsed.message {
        case .notification, .response:
            await session.forward(notification: parsed.bytes)
        case .request(let id, "server/discover", _):
            session.answer(Self.discoverRefusal(id), to: .sessionStream)
        case .request(let id, let method, let params):
            await dispatch(request, context, caller, server, session, bytes: parsed.bytes, id: id, method: method, params: params, target: .sessionStream)
        }
        return Response(status: .accepted)
    }

    // MARK: responses

    func jsonResponse(_ message: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: message)))
    }

    static func sseEvent(_ message: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer(string: "event: message\ndata: ")
        buffer.writeBytes(message)
        buffer.writeString("\n\n")
        return buffer
    }

    func sseResponse(events: [[UInt8]]) -> Response {
        var buffer = ByteBuffer()
        for event in events { var e = Self.sseEvent(event); buffer.writeBuffer(&e) }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: ResponseBody(byteBuffer: buffer))
    }

    /// An SSE response carrying `stream` (with `:` comments every 5 s when `keepAlive`), calling
    /// `closed` once it ends or the client goes away.
    func sseResponse(
        stream: AsyncStream<[UInt8]>, keepAlive: Bool = false, first: String? = nil, channel: (any Channel)? = nil,
        closed: @escaping @Sendable () -> Void = {}
    ) -> Response {
        enum Event: Sendable { case message([UInt8]), ping, end }
        let body = ResponseBody { writer in
            let (events, continuation) = AsyncStream.makeStream(of: Event.self)
            let forward = Task {
                for await message in stream { continuation.yield(.message(message)) }
                continuation.yield(.end)
            }
            let ping = Task {
                while keepAlive && !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(5))
                    continuation.yield(.ping)
                }
            }
            // A client that hangs up only half-closes the connection (HTTP/1 allows it), which the
            // server cannot see; the next keep-alive comment draws a reset, the connection closes,
            // and the stream ends here. So a gone client is noticed within about 5 s.
            let hangUp = Task {
                try? await channel?.closeFuture.get()
                if channel != nil { continuation.yield(.end) }
            }
            defer {
                forward.cancel()
                ping.cancel()
                hangUp.cancel()
                continuation.finish()
                closed()
            }
            if let first { try await writer.write(ByteBuffer(string: first)) }
            loop: for await event in events {
                switch event {
                case .message(let message): try await writer.write(Self.sseEvent(message))
                case .ping: try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                case .end: break loop
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }
}

/// A JSON-RPC error the gateway answers a malformed message with.
struct JSONRPCReply: Error {
    let value: JSONValue
    init(_ value: JSONValue) { self.value = value }
}

extension JSONRPCMessage {
    var method: String? {
        switch self {
        case .request(_, let method, _), .notification(let method): method
        case .response: nil
        }
    }
}
