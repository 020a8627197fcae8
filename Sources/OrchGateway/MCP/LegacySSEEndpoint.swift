import Hummingbird
import NIOCore
import OrchJSON
import OrchPolicy

/// The legacy HTTP+SSE transport: GET opens the session and its one stream, whose first event
/// names the endpoint for POSTs; every reply and server message travels on that stream.
struct LegacySSEEndpoint: MCPEndpoint {
    let gateway: Gateway

    func stream(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let started = ContinuousClock.now
        let caller = try context.requireCaller()
        let server = try resolver.resolve(request, context, hasOrg: hasOrg, method: "GET sse")
        let session: MCPSession
        do {
            session = try await opener.open(request, context, server, transport: .legacySSE)
        } catch let error as UpstreamError {
            throw GatewayError(error, server: server.path)
        }
        gateway.auditor.record(context, request: request, caller: caller, decision: .allow, reason: caller.policy.describe(server.decision.reason) + session.secretsNote, status: 200,
                      started: started, org: server.org, server: server.name, session: session.id, mcpMethod: "GET sse")
        let queue = session.makeQueue()
        guard let generation = session.attachStream(queue) else { throw GatewayError(UpstreamError.exited("the server ended at once"), server: server.path) }
        context.channel.closeFuture.whenComplete { _ in queue.hangUp() }
        let endpoint = "\(server.base)/messages?sessionId=\(session.id)"
        return SSEEncoder.response(queue: queue, first: SSEEncoder.event(Array(endpoint.utf8), name: "endpoint")) {
            session.streamClosed(generation: generation)
        }
    }

    func post(_ request: Request, _ context: GatewayContext, hasOrg: Bool) async throws -> Response {
        let started = ContinuousClock.now
        let caller = try context.requireCaller()
        let server = try resolver.resolve(request, context, hasOrg: hasOrg, method: "POST messages")
        let sessionID: String? = request.uri.queryParameters.get("sessionId").map { String($0) }
        let session = try resolver.session(sessionID, server, caller)
        let incoming: IncomingMessage
        switch try await IncomingMessage.read(request, limit: gateway.maxBodyBytes) {
        case .success(let message): incoming = message
        case .failure(let error): return Response.json(error.value, status: .badRequest)
        }
        switch incoming.message {
        case .notification(let method, let params):
            if guardian.admitNotification(RequestOrigin(context, request), caller: caller, server: server, session: session, method: method) {
                session.forward(notification: incoming.bytes, method: method, params: params)
            }
        case .response:
            session.forward(notification: incoming.bytes, method: nil, params: [:])
        case .request(let id, "server/discover", _):
            session.answer(JSONRPC.discoverRefusal(id), to: .sessionStream)
        case .request(let id, let method, let params):
            if method == "initialize" { session.clientCapabilities(params["capabilities"]) }
            switch guardian.admit(RequestOrigin(context, request), caller: caller, server: server, session: session, id: id, method: method, params: params, started: started) {
            case .forward(let hooks, let rewritten):
                let bytes = rewritten.map { MCPSession.encode(JSONRPC.request(id: id, method: method, params: $0)) } ?? incoming.bytes
                let (origin, timeout, forwarded) = (RequestOrigin(context, request), resolver.callTimeout(caller, server), rewritten ?? params)
                switch guardian.approvalStep(origin, caller: caller, server: server, session: session, id: id, method: method, params: forwarded, canAsk: true) {
                case .none:
                    session.forward(request: bytes, id: id, method: method, params: forwarded, target: .sessionStream, timeout: timeout, hooks: hooks)
                case .refuse(let reply):
                    hooks.outcome?(.replied(reply))
                    session.answer(reply, to: .sessionStream)
                case .ask(let question):
                    Task { [guardian] in
                        guard await guardian.approve(question, origin, caller: caller, server: server, session: session, id: id,
                                                 on: .sessionStream, replyTarget: .sessionStream, hooks: hooks, progressToken: forwarded["_meta"]?["progressToken"])
                        else { return }
                        session.forward(request: bytes, id: id, method: method, params: forwarded, target: .sessionStream, timeout: timeout, hooks: hooks)
                    }
                }
            case .refuse(let reply):
                session.answer(reply, to: .sessionStream)
            }
        }
        return Response(status: .accepted)
    }
}
