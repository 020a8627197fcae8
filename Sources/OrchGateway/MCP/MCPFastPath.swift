import Glibc
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import OrchJSON
import OrchPolicy

/// Answers the MCP requests that make up nearly all of a session's traffic on the connection's
/// event loop, with no hop to the concurrency pool: a POST on an open session from its own key,
/// with a JSON-RPC request that is answered as JSON (or a notification or response, answered
/// 202). It authenticates, resolves, decides and audits with the same code as the router, and
/// hands every other request, including every one that is refused, malformed, initializing or
/// streamed, to the router untouched, which answers it as it always does.
///
/// Requests on one connection are answered in order: while the router has a request of this
/// connection in hand, the next ones go to the router too; while a fast answer is pending, later
/// parts wait here.
final class MCPFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        case idle
        /// A candidate's head and body so far, and when it arrived.
        case collecting(HTTPRequest, ByteBuffer, ContinuousClock.Instant)
        /// The rest of a request the router has.
        case passing
        /// A fast request waits for its answer: `route` and `started` are for its metrics.
        case answering(route: String, started: ContinuousClock.Instant)
    }

    private let gateway: Gateway
    private let remote: String
    private let resolver: ServerResolver
    private let guardian: CallGuard
    private var state = State.idle
    /// Requests handed to the router whose response has not ended yet.
    private var routerRequests = 0
    /// Parts that arrived while a fast answer was pending.
    private var held: [HTTPRequestPart] = []
    private var context: ChannelHandlerContext?
    /// The `Date` header of the current second.
    private var date: (second: Int, value: String) = (0, "")

    init(gateway: Gateway, remote: SocketAddress?) {
        self.gateway = gateway
        self.remote = remote.flatMap { address in address.ipAddress.map { ip in address.port.map { "\(ip):\($0)" } ?? ip } } ?? "-"
        resolver = ServerResolver(gateway: gateway)
        guardian = CallGuard(gateway: gateway)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelInactive(context: ChannelHandlerContext) {
        held = []
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .answering = state {
            held.append(part)
            return
        }
        handle(part, context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { routerRequests -= 1 }
        context.write(data, promise: promise)
    }

    private func handle(_ part: HTTPRequestPart, _ context: ChannelHandlerContext) {
        switch (state, part) {
        case (.idle, .head(let head)):
            if routerRequests == 0, isCandidate(head) {
                state = .collecting(head, context.channel.allocator.buffer(capacity: 0), .now)
            } else {
                routerRequests += 1
                state = .passing
                pass(part, context)
            }
        case (.collecting(let head, var body, let started), .body(var chunk)):
            if body.readableBytes + chunk.readableBytes > gateway.maxBodyBytes {
                routerRequests += 1
                state = .passing
                pass(.head(head), context)
                if body.readableBytes > 0 { pass(.body(body), context) }
                pass(part, context)
            } else {
                body.writeBuffer(&chunk)
                state = .collecting(head, body, started)
            }
        case (.collecting(let head, let body, let started), .end(let trailers)):
            if !answer(head, body, started, context) {
                routerRequests += 1
                state = .idle
                pass(.head(head), context)
                if body.readableBytes > 0 { pass(.body(body), context) }
                pass(.end(trailers), context)
            }
        case (.passing, .end):
            state = .idle
            pass(part, context)
        default:
            pass(part, context)
        }
    }

    private func pass(_ part: HTTPRequestPart, _ context: ChannelHandlerContext) {
        context.fireChannelRead(wrapInboundOut(part))
    }

    /// Worth holding back from the router: a POST to an MCP endpoint with a session and a token,
    /// no Origin (the router checks those), within the body limit, keeping the connection.
    private func isCandidate(_ head: HTTPRequest) -> Bool {
        guard head.method == .post, Self.route(head.path) != nil,
            head.headerFields[.mcpSessionID] != nil, head.headerFields[.authorization] != nil,
            head.headerFields[.origin] == nil, head.headerFields[.connection] == nil, head.headerFields[.expect] == nil
        else { return false }
        if let length = head.headerFields[.contentLength].flatMap(Int.init), length > gateway.maxBodyBytes { return false }
        return true
    }

    /// `(org, server, route pattern)` of `/orgs/ORG/servers/SERVER/mcp` or `/servers/SERVER/mcp`.
    static func route(_ path: String?) -> (org: String?, server: String, route: String)? {
        guard let path, !path.contains("%") else { return nil }
        let parts = (path.split(separator: "?", maxSplits: 1).first ?? "").split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 6, parts[0].isEmpty, parts[1] == "orgs", parts[3] == "servers", parts[5] == "mcp", !parts[2].isEmpty, !parts[4].isEmpty {
            return (String(parts[2]), String(parts[4]), "/orgs/{org}/servers/{server}/mcp")
        }
        if parts.count == 4, parts[0].isEmpty, parts[1] == "servers", parts[3] == "mcp", !parts[2].isEmpty {
            return (nil, String(parts[2]), "/servers/{server}/mcp")
        }
        return nil
    }

    /// Answers the request here if it is an ordinary one; false hands it to the router.
    private func answer(_ head: HTTPRequest, _ body: ByteBuffer, _ started: ContinuousClock.Instant, _ context: ChannelHandlerContext) -> Bool {
        guard let policy = gateway.store.policy, let (org, name, route) = Self.route(head.path),
            case .success(let caller) = AuthMiddleware.authenticate(head.headerFields[.authorization], policy: policy),
            let server = resolver.find(caller, org: org, name: name),
            let session = try? resolver.session(head.headerFields[.mcpSessionID], server, caller),
            head.headerFields[.mcpProtocolVersion].map(JSONRPC.supportedVersions.contains) ?? true
        else { return false }
        let bytes = Array(body.readableBytesView)
        guard let value = try? JSONValue.parse(bytes), let message = JSONRPCMessage(value) else { return false }
        switch message {
        case .notification(let method, let params):
            state = .answering(route: route, started: started)
            session.forward(notification: bytes, method: method, params: params)
            respond(.accepted, json: nil)
        case .response:
            state = .answering(route: route, started: started)
            session.forward(notification: bytes, method: nil, params: [:])
            respond(.accepted, json: nil)
        case .request(let id, let method, let params):
            let accepts = AcceptedReplies(head.headerFields[.accept])
            guard method != "initialize", accepts.json, params["_meta"]?["progressToken"] == nil, !session.requestsClientMidCall else { return false }
            state = .answering(route: route, started: started)
            let origin = RequestOrigin(remote: remote, method: "POST", path: String(head.path?.split(separator: "?").first ?? ""))
            switch guardian.admit(origin, caller: caller, server: server, session: session, id: id, method: method, params: params, started: started) {
            case .refuse(let reply):
                respond(.ok, json: MCPSession.encode(reply))
            case .forward(let hooks):
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                let queue = MessageQueue { event in
                    if handler.eventLoop.inEventLoop {
                        handler.value.replied(event)
                    } else {
                        handler.eventLoop.execute { handler.value.replied(event) }
                    }
                }
                session.forward(request: bytes, id: id, method: method, params: params, target: .response(queue, interim: false),
                                timeout: resolver.callTimeout(caller, server), hooks: hooks)
            }
        }
        return true
    }

    private func replied(_ event: MessageQueue.Event) {
        switch event {
        case .message(let reply): respond(.ok, json: reply)
        case .end: respond(.accepted, json: nil)
        case .keepAlive: break
        }
    }

    /// The IMF-fixdate of now, formatted once a second.
    private func httpDate() -> String {
        var now = time_t()
        time(&now)
        if Int(now) != date.second {
            var parts = tm()
            gmtime_r(&now, &parts)
            var text = [CChar](repeating: 0, count: 64)
            let length = strftime(&text, text.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
            date = (Int(now), String(decoding: text[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return date.value
    }

    /// Writes the answer of the pending fast request (once), then goes on with held parts.
    private func respond(_ status: HTTPResponse.Status, json: [UInt8]?) {
        guard case .answering(let route, let started) = state, let context else { return }
        var head = HTTPResponse(status: status)
        head.headerFields[.server] = "orch"
        head.headerFields[.date] = httpDate()
        head.headerFields[.contentLength] = "\(json?.count ?? 0)"
        if json != nil { head.headerFields[.contentType] = "application/json" }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let json { context.write(wrapOutboundOut(.body(ByteBuffer(bytes: json))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        gateway.metrics.request(route: route, method: "POST", status: status.code, duration: ContinuousClock.now - started)
        state = .idle
        guard !held.isEmpty else { return }
        while !held.isEmpty {
            if case .answering = state { break }
            handle(held.removeFirst(), context)
        }
        // Outside a read cycle: the router's channel takes what was passed on at read-complete.
        context.fireChannelReadComplete()
    }
}
