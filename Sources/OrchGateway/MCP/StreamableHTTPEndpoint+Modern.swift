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
        let exchange = ModernExchange(gateway: gateway)
        let origin = RequestOrigin(context, request)
        let modern: ModernRequest
        switch exchange.read(method: request.method, headers: request.headers, message: incoming?.message, caller: caller,
                             target: .server(org: hasOrg ? context.parameters.get("org") : nil, name: context.parameters.get("server") ?? "",
                                             resolved: nil),
                             origin: origin, started: started) {
        case .answered(let answer): return ModernExchange.response(answer)
        case .request(let request): modern = request
        }
        let server = try resolver.resolve(request, context, hasOrg: hasOrg, method: modern.method)
        let leg: HeldLeg
        do {
            // A client that can be asked things has a leg of its own kind (`ModernExchange.asks`).
            leg = try await heldLeg(request, context, caller, server, asks: ModernExchange.asks(modern.params))
        } catch let error as UpstreamError {
            return Self.initializeFailure(id: modern.id, error, server: server)
        }
        switch exchange.decide(modern, request: incoming?.bytes ?? [], caller: caller, server: server, leg: leg, origin: origin, started: started) {
        case .answer(let answer):
            return ModernExchange.response(answer)
        case .listen(let filter):
            return listen(request, context, caller, server, leg, modern, filter, started: started)
        case .forward(let call):
            return await ModernExchange.respond(call, request, timeout: resolver.callTimeout(caller, server))
        case .resume(let held, let leg):
            return await ModernExchange.respond(held, on: leg)
        }
    }

    /// A `subscriptions/listen`: an SSE stream whose first frame acknowledges the honoured filter,
    /// then the caller's list changes (a reload that changed what the caller sees, or the server's
    /// own) and updates of the resources it named and may read, each frame naming the listen's id.
    private func listen(
        _ request: Request, _ context: GatewayContext, _ caller: Caller, _ server: ResolvedServer, _ leg: HeldLeg, _ modern: ModernRequest,
        _ filter: ListenFilter, started: ContinuousClock.Instant
    ) -> Response {
        guard AcceptedReplies(request.headers[.accept]).sse else {
            return Response.json(JSONRPC.error(id: modern.id, code: JSONRPC.invalidRequest, "subscriptions/listen answers with a stream: send Accept: text/event-stream"),
                                 status: .notAcceptable)
        }
        let queue = MessageQueue()
        let timeout = resolver.callTimeout(caller, server)
        // The server is subscribed only to resources the caller may read; what reaches the stream
        // is decided again, per update, under the policy running then.
        let readable = { (uri: String) in
            caller.policy.decide(user: caller.user, server: server.id, item: Item(.resource, uri), key: caller.key, at: gateway.clock.now()).allowed
        }
        guard let token = leg.listen(queue, id: modern.id, filter: filter, readable: readable, timeout: timeout) else {
            return Self.initializeFailure(id: modern.id, .stopped("the server's session ended"), server: server)
        }
        gateway.auditor.record(context, request: request, caller: caller, decision: .allow, reason: caller.policy.describe(server.decision.reason),
                      status: 200, started: started, org: server.org, server: server.name, session: leg.session.id, mcpMethod: modern.method)
        context.channel.closeFuture.whenComplete { _ in queue.hangUp() }
        return SSEEncoder.response(queue: queue) { leg.stopListening(token, timeout: timeout) }
    }

}
