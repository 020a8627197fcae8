import Foundation
import Hummingbird
import NIOCore
import OrchJSON
import OrchPolicy
import Synchronization

/// 2026-07-28 requests on the per-server endpoints (`/orgs/ORG/servers/NAME/mcp`, `/servers/NAME/mcp`):
/// each POST is read (`ModernReading`), decided exactly as a handshake-era request is, and forwarded
/// on the key's held leg to the server (`HeldLegs`), under the leg's own id; the reply goes back with
/// the client's id, stamped for the era (`ModernForwarding`). No `Mcp-Session-Id` is issued.
extension StreamableHTTPEndpoint {
    func modern(
        _ request: Request, _ context: GatewayContext, _ caller: Caller, hasOrg: Bool, incoming: IncomingMessage?,
        started: ContinuousClock.Instant
    ) async throws -> Response {
        let reading = ModernReading(method: request.method, headers: request.headers, message: incoming?.message) { tool in
            inputSchema(of: tool, caller, context, hasOrg: hasOrg)
        }
        let modern: ModernRequest
        switch reading {
        case .legacy:
            return Response(status: .accepted)
        case .acknowledged(let method):
            // Dropped, as every notification of this era is; one no client sends is audited as on a session.
            if let refusal = CallGuard.notificationRefusal(method) {
                gateway.audit(context, request: request, caller: caller, decision: .deny, reason: refusal, status: 202, started: started,
                              server: context.parameters.get("server"), mcpMethod: method)
            }
            return Response(status: .accepted)
        case .refused(let refusal, let id):
            let method = incoming?.message.method ?? request.method.rawValue
            gateway.audit(context, request: request, caller: caller, decision: .deny, reason: "2026-07-28: \(refusal.message)",
                          status: Int(refusal.status.code), started: started, server: context.parameters.get("server"), mcpMethod: method)
            return Self.refusal(refusal, id: id)
        case .modern(let request): modern = request
        }
        let server = try resolver.resolve(request, context, hasOrg: hasOrg, method: modern.method)
        let leg: HeldLeg
        do {
            leg = try await heldLeg(request, context, caller, server)
        } catch let error as UpstreamError {
            return Self.initializeFailure(id: modern.id, error, server: server)
        }
        _ = leg.session.access.binding.admits(caller)  // a newer sign-in token carries the leg on

        if modern.known == .subscriptionsListen {
            return listen(request, context, caller, server, leg, modern, started: started)
        }
        if modern.known == .discover {
            gateway.audit(context, request: request, caller: caller, decision: .allow, reason: caller.policy.describe(server.decision.reason),
                          status: 200, started: started, org: server.org, server: server.name, session: leg.session.id, mcpMethod: modern.method)
            let result = ModernForwarding.discover(leg.initialized, ttl: CacheTTL(gateway.catalog.ttl))
            return Response.json(["jsonrpc": "2.0", "id": modern.id, "result": .object(result.json)])
        }
        var params = ModernForwarding.upstreamParams(modern.params)
        let admitted: ReplyHooks
        switch guardian.admit(RequestOrigin(context, request), caller: caller, server: server, session: leg.session, id: modern.id,
                              method: modern.method, params: params, started: started) {
        case .forward(let hooks, let rewritten):
            admitted = hooks
            if let rewritten { params = rewritten }
        case .refuse(let reply):
            return Response.json(reply, status: ModernErrorStatus.status(forCode: reply["error"]?["code"]?.integerValue ?? 0))
        }
        let upstreamID = leg.nextID()
        let stamp = ModernResultStamp(ttlBound: CacheTTL(gateway.catalog.ttl), serverInfo: nil)
        let (clientID, method) = (modern.id, modern.method)
        let errorCode = ErrorCode()
        let hooks = ReplyHooks(
            transform: { reply in
                let answer = ModernForwarding.reply(admitted.transform?(reply) ?? reply, id: clientID, method: method, stamp: stamp)
                errorCode.record(answer)
                return answer
            },
            outcome: admitted.outcome)
        let accepts = AcceptedReplies(request.headers[.accept])
        // As on a session: JSON unless the call may send progress before its reply.
        let streamed = accepts.sse && (!accepts.json || params["_meta"]?["progressToken"] != nil)
        let queue = leg.session.makeQueue()
        leg.session.forward(
            request: MCPSession.encode(JSONRPC.request(id: upstreamID, method: method, params: params)), id: upstreamID, clientID: clientID,
            method: method, params: params, target: .response(queue, interim: streamed), timeout: resolver.callTimeout(caller, server), hooks: hooks)
        if streamed { return SSEEncoder.response(queue: queue) }
        guard case .message(let reply) = await queue.next() else { return Response(status: .accepted) }
        // An error's status is the era's for its code, whoever answered (the gateway's own errors,
        // a timeout say, carry no code here and are 200).
        return Response(status: ModernErrorStatus.status(forCode: errorCode.value), headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: reply)))
    }

    /// A `subscriptions/listen`: an SSE stream whose first frame acknowledges the honoured filter,
    /// then the caller's list changes (a reload that changed what the caller sees, or the server's
    /// own) and updates of the resources it named and may read, each frame naming the listen's id.
    private func listen(
        _ request: Request, _ context: GatewayContext, _ caller: Caller, _ server: ResolvedServer, _ leg: HeldLeg, _ modern: ModernRequest,
        started: ContinuousClock.Instant
    ) -> Response {
        let filter: ListenFilter
        switch ListenFilter.read(modern.params) {
        case .success(let read): filter = read
        case .failure(let error):
            gateway.audit(context, request: request, caller: caller, decision: .deny, reason: error.message, status: 400, started: started,
                          org: server.org, server: server.name, session: leg.session.id, mcpMethod: modern.method)
            return Response.json(JSONRPC.error(id: modern.id, code: JSONRPC.invalidParams, error.message), status: .badRequest)
        }
        guard AcceptedReplies(request.headers[.accept]).sse else {
            return Response.json(JSONRPC.error(id: modern.id, code: JSONRPC.invalidRequest, "subscriptions/listen answers with a stream: send Accept: text/event-stream"),
                                 status: .notAcceptable)
        }
        let queue = MessageQueue()
        let timeout = resolver.callTimeout(caller, server)
        // The server is subscribed only to resources the caller may read; what reaches the stream
        // is decided again, per update, under the policy running then.
        let readable = { (uri: String) in
            caller.policy.decide(user: caller.user, server: server.id, item: Item(.resource, uri), key: caller.key, at: Date()).allowed
        }
        guard let token = leg.listen(queue, id: modern.id, filter: filter, readable: readable, timeout: timeout) else {
            return Self.initializeFailure(id: modern.id, .stopped("the server's session ended"), server: server)
        }
        gateway.audit(context, request: request, caller: caller, decision: .allow, reason: caller.policy.describe(server.decision.reason),
                      status: 200, started: started, org: server.org, server: server.name, session: leg.session.id, mcpMethod: modern.method)
        context.channel.closeFuture.whenComplete { _ in queue.hangUp() }
        return SSEEncoder.response(queue: queue) { leg.stopListening(token, timeout: timeout) }
    }

    /// A refused modern request: its JSON-RPC error with the era's status, or 405 with `Allow: POST`.
    static func refusal(_ refusal: ModernRefusal, id: JSONValue?) -> Response {
        guard let reply = refusal.reply(id: id) else { return Response(status: .methodNotAllowed, headers: [.allow: "POST"]) }
        return Response.json(reply, status: refusal.status)
    }

    /// The key's held leg to `server`, opened (and initialized) now when it has none.
    private func heldLeg(_ request: Request, _ context: GatewayContext, _ caller: Caller, _ server: ResolvedServer) async throws -> HeldLeg {
        let legs = gateway.legs
        let key = HeldLegs.Key(credential: caller.credential, org: server.org, server: server.name)
        return try await legs.leg(key) {
            let started = ContinuousClock.now
            let session = try await opener.open(request, context, server, transport: .heldLeg) { session, _ in legs.remove(key, session: session) }
            let params = ModernForwarding.initializeParams(clientVersion: Gateway.version)
            let id: JSONValue = .string("orch-initialize")
            let message = JSONRPC.request(id: id, method: "initialize", params: params)
            let incoming = IncomingMessage(bytes: MCPSession.encode(message), message: .request(id: id, method: "initialize", params: params))
            switch await opener.initialize(session, incoming, id: id, params: params, timeout: resolver.callTimeout(caller, server)) {
            case .opened(let reply):
                session.forward(notification: MCPSession.encode(["jsonrpc": "2.0", "method": "notifications/initialized"]),
                                method: "notifications/initialized", params: [:])
                gateway.audit(context, request: request, caller: caller, decision: .allow,
                              reason: caller.policy.describe(server.decision.reason) + session.secretsNote + "; held for 2026-07-28 requests",
                              status: 200, started: started, org: server.org, server: server.name, session: session.id, mcpMethod: "initialize")
                let result = (try? JSONRPC.parse(reply))?["result"]?.objectValue ?? [:]
                return HeldLeg(session: session, initialized: result)
            case .refused(let reply):
                let why = (try? JSONRPC.parse(reply))?["error"]?["message"]?.stringValue ?? "an error"
                gateway.audit(context, request: request, caller: caller, decision: .deny, reason: "upstream \(server.path) refused initialize",
                              status: 502, started: started, org: server.org, server: server.name, mcpMethod: "initialize")
                throw UpstreamError.refused("the server refused initialize: \(why)")
            case .failed(let error):
                gateway.audit(context, request: request, caller: caller, decision: .deny, reason: "upstream \(server.path): \(error.message)",
                              status: error.kind == .timedOut ? 504 : 502, started: started, org: server.org, server: server.name, mcpMethod: "initialize")
                throw error
            }
        }
    }

    /// The `inputSchema` of `tool` as the server's last listing gave it, nil when none is kept (the
    /// `Mcp-Param-*` check is then skipped, as the reference server skips it for an unknown tool).
    private func inputSchema(of tool: String, _ caller: Caller, _ context: GatewayContext, hasOrg: Bool) -> JSONValue? {
        let org = hasOrg ? context.parameters.get("org") : nil
        guard let server = resolver.find(caller, org: org, name: context.parameters.get("server") ?? ""),
            case .success(let (_, cacheKey)) = gateway.catalogSource(caller.policy, server.id, user: caller.userName),
            case .success(let listing)? = gateway.catalog.known(cacheKey: cacheKey),
            // A tool the caller may not use is refused as such, whatever its headers say.
            caller.policy.decide(user: caller.user, server: server.id, item: Item(.tool, tool), key: caller.key, at: Date()).allowed
        else { return nil }
        return listing.tools.first { $0["name"] == .string(tool) }?["inputSchema"]
    }
}

/// The JSON-RPC error code of the reply a modern request got (0 for a result), set where the reply
/// is made and read once it has been taken from its queue.
private final class ErrorCode: Sendable {
    private let code = Atomic<Int64>(0)

    func record(_ reply: JSONValue) {
        code.store(reply["error"]?["code"]?.integerValue ?? 0, ordering: .relaxed)
    }

    var value: Int64 { code.load(ordering: .relaxed) }
}
