import Hummingbird
import NIOCore
import OrchJSON
import OrchPolicy

/// The Streamable HTTP transport: POST for messages, GET for the server's stream, DELETE to end.
struct StreamableHTTPEndpoint: MCPEndpoint {
    let gateway: Gateway

    func post(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let started = ContinuousClock.now
        let caller = try context.requireCaller()
        let (incoming, sessionID): (IncomingMessage, String?)
        switch try await start(request, context, servesModern: true) {
        case .answered(let response): return response
        case .message(let message, let session): (incoming, sessionID) = (message, session)
        case .modern(let message): return try await modern(request, context, caller, hasOrg: hasOrg, incoming: message, started: started)
        }
        let server = try resolver.resolve(request, context, hasOrg: hasOrg, method: incoming.message.method ?? "message")
        let accepts = AcceptedReplies(request.headers[.accept])

        if case .request(let id, "initialize", let params) = incoming.message {
            return try await initialize(request, context, caller, server, incoming, id: id, params: params, accepts: accepts, started: started)
        }
        let session = try await recreation.session(sessionID, server, request, context)
        switch incoming.message {
        case .notification(let method, let params):
            if guardian.admitNotification(RequestOrigin(context, request), caller: caller, server: server, session: session, method: method) {
                session.forward(notification: incoming.bytes, method: method, params: params)
            }
            return Response(status: .accepted)
        case .response:
            session.forward(notification: incoming.bytes, method: nil, params: [:])
            return Response(status: .accepted)
        case .request(let id, let method, let params):
            let hooks: ReplyHooks
            var bytes = incoming.bytes
            var params = params
            switch guardian.admit(RequestOrigin(context, request), caller: caller, server: server, session: session, id: id, method: method, params: params, started: started) {
            case .forward(let admitted, let rewritten):
                hooks = admitted
                if let rewritten {
                    params = rewritten
                    bytes = MCPSession.encode(JSONRPC.request(id: id, method: method, params: rewritten))
                }
            case .refuse(let reply): return accepts.json ? Response.json(reply) : SSEEncoder.response(events: [MCPSession.encode(reply)])
            }
            let origin = RequestOrigin(context, request)
            let approval = guardian.approvalStep(origin, caller: caller, server: server, session: session, id: id, method: method, params: params,
                                                 canAsk: accepts.sse || session.hasStream)
            if case .refuse(let reply) = approval {
                hooks.outcome?(.replied(reply))
                return accepts.json ? Response.json(reply) : SSEEncoder.response(events: [MCPSession.encode(reply)])
            }
            // JSON when the client takes it and nothing can come before the reply; else a stream
            // that also carries the server's messages for this call (and the approval's question).
            let mayInterleave = params["_meta"]?["progressToken"] != nil || session.requestsClientMidCall
            let asks = if case .ask = approval { true } else { false }
            let streamed = accepts.sse && (!accepts.json || mayInterleave || asks)
            let queue = session.makeQueue()
            let target = SessionStateMachine.Target.response(queue, interim: streamed)
            let timeout = resolver.callTimeout(caller, server)
            if case .ask(let question) = approval {
                // Asked on the call's own stream (or the session's), forwarded only once approved.
                Task { [guardian] in
                    guard await guardian.approve(question, origin, caller: caller, server: server, session: session, id: id,
                                                 on: streamed ? target : .sessionStream, replyTarget: target, hooks: hooks,
                                                 progressToken: params["_meta"]?["progressToken"])
                    else { return }
                    session.forward(request: bytes, id: id, method: method, params: params, target: target, timeout: timeout, hooks: hooks)
                }
            } else {
                session.forward(request: bytes, id: id, method: method, params: params, target: target, timeout: timeout, hooks: hooks)
            }
            if streamed { return SSEEncoder.response(queue: queue) }
            guard case .message(let reply) = await queue.next() else { return Response(status: .accepted) }
            return Self.json(reply)
        }
    }

    private func initialize(
        _ request: Request, _ context: GatewayContext, _ caller: Caller, _ server: ResolvedServer, _ incoming: IncomingMessage,
        id: JSONValue, params: JSONObject, accepts: AcceptedReplies, started: ContinuousClock.Instant
    ) async throws -> Response {
        let result: SessionOpener.Initialized
        let session: MCPSession
        do {
            session = try await opener.open(request, context, server, transport: .streamableHTTP)
            result = await opener.initialize(session, incoming, id: id, params: params, timeout: resolver.callTimeout(caller, server))
        } catch let error as UpstreamError {
            return Self.initializeFailure(id: id, error, server: server)
        }
        switch result {
        case .opened(let opened):
            // A caller who may see no tool here is told why.
            let reply = Instructions.adding(gateway.emptyView(caller, servers: [server.id]), to: opened)
            let version = (try? JSONRPC.parse(reply))?["result"]?["protocolVersion"]?.stringValue ?? JSONRPC.latestVersion
            recreation.seal(session, caller, endpoint: server.path, version: version, params: params)
            gateway.auditor.record(context, request: request, caller: caller, decision: .allow, reason: caller.policy.describe(server.decision.reason) + session.secretsNote, status: 200,
                          started: started, org: server.org, server: server.name, session: session.id, mcpMethod: "initialize")
            var response = accepts.json ? Self.json(reply) : SSEEncoder.response(events: [reply])
            response.headers[.mcpSessionID] = session.id
            return response
        case .refused(let reply):
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "upstream \(server.path) refused initialize", status: 200,
                          started: started, org: server.org, server: server.name, mcpMethod: "initialize")
            return Self.json(reply)
        case .failed(let error):
            let response = Self.initializeFailure(id: id, error, server: server)
            gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "upstream \(server.path): \(error.message)",
                          status: Int(response.status.code), started: started, org: server.org, server: server.name, mcpMethod: "initialize")
            return response
        }
    }

    /// An initialize the upstream could not answer: 504 for a timeout, else 502, with a JSON-RPC
    /// error (so an MCP client can show it) whose `data.code` is the gateway's error code.
    static func initializeFailure(id: JSONValue, _ error: UpstreamError, server: ResolvedServer) -> Response {
        let gatewayError = GatewayError(error, server: server.path)
        let code = error.kind == .timedOut ? JSONRPC.requestTimeout : JSONRPC.internalError
        var reply = JSONRPC.error(id: id, code: code, gatewayError.message)
        if case .object(var object) = reply, case .object(var body) = object["error"] {
            body["data"] = ["code": .string(gatewayError.code)]
            object["error"] = .object(body)
            reply = .object(object)
        }
        return Response.json(reply, status: gatewayError.status)
    }

    /// GET: the session's stream of server messages. Without a session there is no stream to
    /// offer, which the specification answers with 405 (clients treat it as "no GET stream" and
    /// carry on, where a 400 makes some reconnect in a loop).
    func get(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let caller = try context.requireCaller()
        if RequestEra(headers: request.headers, message: nil) == .modern {
            return try await modern(request, context, caller, hasOrg: hasOrg, incoming: nil, started: .now)
        }
        try resolver.checkProtocolVersion(request)
        let server = try resolver.resolve(request, context, hasOrg: hasOrg, method: "GET stream")
        guard let sessionID = request.headers[.mcpSessionID] else {
            throw GatewayError(.methodNotAllowed, code: "bad_request", "no stream without a session: send initialize first, then GET with its Mcp-Session-Id",
                               headers: [.allow: "POST, DELETE"])
        }
        let session = try await recreation.session(sessionID, server, request, context)
        guard AcceptedReplies(request.headers[.accept]).sse else {
            throw GatewayError(.notAcceptable, code: "bad_request", "the GET stream needs Accept: text/event-stream")
        }
        let queue = session.makeQueue()
        guard let generation = session.attachStream(queue) else { throw GatewayError.unknownSession() }
        context.channel.closeFuture.whenComplete { _ in queue.hangUp() }
        return SSEEncoder.response(queue: queue) { session.streamClosed(generation: generation) }
    }

    func delete(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let caller = try context.requireCaller()
        if RequestEra(headers: request.headers, message: nil) == .modern {
            return try await modern(request, context, caller, hasOrg: hasOrg, incoming: nil, started: .now)
        }
        let server = try resolver.resolve(request, context, hasOrg: hasOrg, method: "DELETE")
        try recreation.end(request.headers[.mcpSessionID], server, caller)
        return Response(status: .noContent)
    }

    static func json(_ message: [UInt8]) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: message)))
    }
}
