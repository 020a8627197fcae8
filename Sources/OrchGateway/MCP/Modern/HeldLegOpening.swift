import Hummingbird
import HTTPTypes
import NIOCore
import OrchJSON
import OrchPolicy

extension MCPEndpoint {
    /// The key's held leg to `server` for clients that declare `asks` (`ModernExchange.asks`),
    /// opened (and initialized, declaring those capabilities) now when it has none.
    func heldLeg(_ request: Request, _ context: GatewayContext, _ caller: Caller, _ server: ResolvedServer, asks: String = "") async throws -> HeldLeg {
        let legs = gateway.legs
        // A 2026-07-28 server asks nothing mid-call: one leg serves every client of the key.
        let asks = if case .modern? = gateway.eras.era(of: caller.policy.server(server.id).spec) { "" } else { asks }
        let key = ModernExchange.legKey(caller, server, asks: asks)
        return try await legs.leg(key) {
            let started = ContinuousClock.now
            let session = try await opener.open(request, context, server, transport: .heldLeg) { session, _ in legs.remove(key, session: session) }
            var params = ModernForwarding.initializeParams(clientVersion: Gateway.version)
            if !asks.isEmpty {
                params["capabilities"] = .object(JSONObject(asks.split(separator: ",").map { (String($0), JSONValue.object([:])) }))
            }
            let id: JSONValue = .string("orch-initialize")
            let message = JSONRPC.request(id: id, method: "initialize", params: params)
            let incoming = IncomingMessage(bytes: MCPSession.encode(message), message: .request(id: id, method: "initialize", params: params))
            switch await opener.initialize(session, incoming, id: id, params: params, timeout: resolver.callTimeout(caller, server)) {
            case .opened(let reply):
                session.forward(notification: MCPSession.encode(["jsonrpc": "2.0", "method": "notifications/initialized"]),
                                method: "notifications/initialized", params: [:])
                gateway.auditor.record(context, request: request, caller: caller, decision: .allow,
                              reason: caller.policy.describe(server.decision.reason) + session.secretsNote + "; held for 2026-07-28 requests",
                              status: 200, started: started, org: server.org, server: server.name, session: session.id, mcpMethod: "initialize")
                let result = (try? JSONRPC.parse(reply))?["result"]?.objectValue ?? [:]
                return HeldLeg(session: session, initialized: result, asks: asks)
            case .refused(let reply):
                let why = (try? JSONRPC.parse(reply))?["error"]?["message"]?.stringValue ?? "an error"
                gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "upstream \(server.path) refused initialize",
                              status: 502, started: started, org: server.org, server: server.name, mcpMethod: "initialize")
                throw UpstreamError.refused("the server refused initialize: \(why)")
            case .failed(let error):
                gateway.auditor.record(context, request: request, caller: caller, decision: .deny, reason: "upstream \(server.path): \(error.message)",
                              status: error.kind == .timedOut ? 504 : 502, started: started, org: server.org, server: server.name, mcpMethod: "initialize")
                throw error
            }
        }
    }
}

extension ModernExchange {
    /// Carries out `call` for the router: forwarded on its leg, the reply is the POST's JSON body
    /// (with the era's status for its error code), or an SSE stream when the client takes one and
    /// the call may send progress before its reply.
    static func respond(_ call: Call, _ request: Request, timeout: TimeAmount) async -> Response {
        let accepts = AcceptedReplies(request.headers[.accept])
        let streamed = accepts.sse && (!accepts.json || call.mayProgress)
        if let approval = call.approval {
            // A role's approval first: on the call's own stream (with its progress), or waited for
            // here before the call goes on as it would have.
            if streamed, call.held == nil {
                let queue = call.leg.session.makeQueue()
                Task { if await approval(.response(queue, interim: true)) { call.forward(to: queue, streamed: true, timeout: timeout) } }
                return SSEEncoder.response(queue: queue)
            }
            let waiting = call.leg.session.makeQueue()
            if await !approval(.response(waiting, interim: false)) {
                while case .message(let reply) = await waiting.next() {
                    guard (try? JSONRPC.parse(reply))?["method"] == nil else { continue }  // progress: the POST is JSON
                    return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: reply)))
                }
                return Response(status: .accepted)
            }
        }
        if let held = call.held {
            call.forward(to: held.queue, streamed: false, timeout: timeout)
            return await respond(held, on: call.leg)
        }
        let queue = call.leg.session.makeQueue()
        call.forward(to: queue, streamed: streamed, timeout: timeout)
        if streamed { return SSEEncoder.response(queue: queue) }
        guard case .message(let reply) = await queue.next() else { return Response(status: .accepted) }
        // An error's status is the era's for its code, whoever answered (the gateway's own errors,
        // a timeout say, carry no code here and are 200).
        return Response(status: call.errorCode.status, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: reply)))
    }

    /// The router's response for an answer of the gateway's own.
    static func response(_ answer: Answer) -> Response {
        guard let body = answer.body else {
            return Response(status: answer.status, headers: answer.allowsPOSTOnly ? [.allow: "POST"] : [:])
        }
        return Response.json(body, status: answer.status)
    }

    /// The POST that waits on `held` now: answered `input_required` when the server asks its
    /// client something (the question, and a sealed state for the retry), or with the call's reply
    /// (the POST's own id in it) when the server answers.
    static func respond(_ held: HeldCall, on leg: HeldLeg) async -> Response {
        while true {
            switch await held.queue.next() {
            case .message(let bytes):
                guard case .object(var message)? = try? JSONRPC.parse(bytes) else { continue }
                if let method = message["method"]?.stringValue {
                    guard let upstreamID = message["id"] else { continue }  // progress: the POST is JSON
                    let result = held.inputRequired(method: method, params: message["params"] ?? [:], upstreamID: upstreamID)
                    return Response.json(["jsonrpc": "2.0", "id": held.clientID, "result": .object(result)])
                }
                leg.release(held)
                message["id"] = held.clientID
                let code = message["error"]?["code"]?.integerValue ?? 0
                return Response(status: ModernErrorStatus.status(forCode: code), headers: [.contentType: "application/json"],
                                body: ResponseBody(byteBuffer: ByteBuffer(bytes: MCPSession.encode(.object(message)))))
            case .keepAlive:
                continue
            case .end:
                leg.release(held)
                return Response(status: .accepted)
            }
        }
    }
}
