import Glibc
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import OrchJSON
import OrchPolicy

/// Answers the requests that make up nearly all of the traffic on the connection's event loop,
/// with no hop to the concurrency pool: a POST on an open MCP session from its own key, with a
/// JSON-RPC request that is answered as JSON (or a notification or response, answered 202); and
/// an authenticated `GET /api/v1/me` or `/api/v1/servers`. It authenticates, resolves, decides and
/// audits with the same code as the router, and hands every other request, including every one
/// that is refused, malformed, initializing or streamed, to the router untouched, which answers
/// it as it always does.
///
/// Requests on one connection are answered in order: while the router has a request of this
/// connection in hand, the next ones go to the router too; while a fast answer is pending, later
/// parts wait here.
final class FastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        case idle
        /// A candidate's head, route and body so far, and when it arrived.
        case collecting(HTTPRequest, Route, ByteBuffer, ContinuousClock.Instant)
        /// The rest of a request the router has.
        case passing
        /// A fast request waits for its answer: `route` and `started` are for its metrics.
        case answering(route: String, method: String, started: ContinuousClock.Instant)
    }

    private let gateway: Gateway
    private let remote: String
    private var state = State.idle
    /// Requests handed to the router whose response has not ended yet.
    private var routerRequests = 0
    /// Parts that arrived while a fast answer was pending.
    private var held: [HTTPRequestPart] = []
    private var context: ChannelHandlerContext?
    private var resolver: ServerResolver { gateway.resolver }
    private var guardian: CallGuard { gateway.callGuard }
    /// The `Date` header of the current second.
    private var date: (second: Int, value: String) = (0, "")

    init(gateway: Gateway, remote: SocketAddress?) {
        self.gateway = gateway
        self.remote = remote.flatMap { address in address.ipAddress.map { ip in address.port.map { "\(ip):\($0)" } ?? ip } } ?? "-"
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if case .answering = state {
            held.append(part)
            return
        }
        handle(part, context, as: data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { routerRequests -= 1 }
        context.write(data, promise: promise)
    }

    /// `data` is `part` as it arrived, when it did: passed on as it is, it is not boxed again.
    private func handle(_ part: HTTPRequestPart, _ context: ChannelHandlerContext, as data: NIOAny? = nil) {
        switch (state, part) {
        case (.idle, .head(let head)):
            if routerRequests == 0, let route = candidate(head) {
                state = .collecting(head, route, context.channel.allocator.buffer(capacity: 0), .now)
            } else {
                routerRequests += 1
                state = .passing
                pass(part, context, as: data)
            }
        case (.collecting(let head, let route, var body, let started), .body(var chunk)):
            if body.readableBytes + chunk.readableBytes > gateway.maxBodyBytes {
                routerRequests += 1
                state = .passing
                pass(.head(head), context)
                if body.readableBytes > 0 { pass(.body(body), context) }
                pass(part, context, as: data)
            } else {
                body.writeBuffer(&chunk)
                state = .collecting(head, route, body, started)
            }
        case (.collecting(let head, let route, let body, let started), .end(let trailers)):
            if !answer(head, route, body, started, context) {
                routerRequests += 1
                state = .idle
                pass(.head(head), context)
                if body.readableBytes > 0 { pass(.body(body), context) }
                pass(.end(trailers), context)
            }
        case (.passing, .end):
            state = .idle
            pass(part, context, as: data)
        default:
            pass(part, context, as: data)
        }
    }

    private func pass(_ part: HTTPRequestPart, _ context: ChannelHandlerContext, as data: NIOAny? = nil) {
        context.fireChannelRead(data ?? wrapInboundOut(part))
    }

    /// Worth holding back from the router: a POST to an MCP endpoint with a session, or a GET of
    /// `/api/v1/me` or `/api/v1/servers`, with a token, no Origin (the router checks those), within
    /// the body limit, keeping the connection.
    private func candidate(_ head: HTTPRequest) -> Route? {
        // The header checks first: most requests that are no candidate fail one without the path
        // being read.
        // Presence is asked with `contains`, which builds no value.
        let fields = head.headerFields
        guard head.method == .post || head.method == .get, fields.contains(.authorization),
            !fields.contains(.origin), !fields.contains(.connection), !fields.contains(.expect),
            var route = head.path.flatMap(Route.init),
            head.method == (route.api == nil ? .post : .get)
        else { return nil }
        if route.api == nil {
            route.hasSession = fields.contains(.mcpSessionID)
            guard route.hasSession || (route.server != nil && Self.namesModernVersion(head)) else { return nil }
        }
        if let length = head.headerFields.value(.contentLength).flatMap(Int.init), length > gateway.maxBodyBytes { return nil }
        // A host the gateway does not answer to: the router refuses it.
        if let settings = gateway.store.policy?.settings, !HostCheck.allows(head.authority, settings) { return nil }
        return route
    }

    /// A request whose `MCP-Protocol-Version` is not of the handshake era: read as 2026-07-28.
    private static func namesModernVersion(_ head: HTTPRequest) -> Bool {
        head.headerFields.value(.mcpProtocolVersion).map { !ModernProtocol.isLegacy($0) } ?? false
    }

    /// `/orgs/ORG/servers/SERVER/mcp` or `/servers/SERVER/mcp`, an aggregated endpoint
    /// (`/orgs/ORG/mcp`, `/mcp`: `server` is nil), or `/api/v1/me` and `/api/v1/servers` (`api`),
    /// read byte by byte.
    struct Route {
        var org: String? = nil
        var server: String? = nil
        var api: CallerBodies.Kind? = nil
        /// An MCP request with an `Mcp-Session-Id` (false on the API routes).
        var hasSession = false
        /// The path without its query, for the audit log.
        let path: String
        /// The route's pattern, for metrics.
        let pattern: String

        init?(_ target: String) {
            var target = target
            guard let read = target.withUTF8(Self.read) else { return nil }
            (org, server, api, pattern) = (read.org, read.server, read.api, read.pattern)
            path = read.pathEnd < target.utf8.count ? String(decoding: target.utf8.prefix(read.pathEnd), as: UTF8.self) : target
        }

        /// The route of a request target's bytes (its path up to `?` split at each `/`, in place), or
        /// nil for another path or one with a `%` anywhere.
        private static func read(_ bytes: UnsafeBufferPointer<UInt8>)
            -> (org: String?, server: String?, api: CallerBodies.Kind?, pattern: String, pathEnd: Int)?
        {
            guard !bytes.contains(UInt8(ascii: "%")) else { return nil }
            let end = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
            // No route has more than six segments: at most seven are read.
            return withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: 7) { segments in
                var (count, start) = (0, 0)
                for offset in 0..<end where bytes[offset] == UInt8(ascii: "/") {
                    guard count < 6 else { return nil }
                    segments[count] = start..<offset
                    (count, start) = (count + 1, offset + 1)
                }
                segments[count] = start..<end
                count += 1
                func text(_ index: Int) -> String { String(decoding: UnsafeBufferPointer(rebasing: bytes[segments[index]]), as: UTF8.self) }
                func equals(_ index: Int, _ word: StaticString) -> Bool {
                    UnsafeBufferPointer(rebasing: bytes[segments[index]])
                        .elementsEqual(UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount))
                }
                guard segments[0].isEmpty else { return nil }
                if count == 6, equals(1, "orgs"), equals(3, "servers"), equals(5, "mcp"), !segments[2].isEmpty, !segments[4].isEmpty {
                    return (text(2), text(4), nil, "/orgs/{org}/servers/{server}/mcp", end)
                } else if count == 4, equals(1, "servers"), equals(3, "mcp"), !segments[2].isEmpty {
                    return (nil, text(2), nil, "/servers/{server}/mcp", end)
                } else if count == 4, equals(1, "orgs"), equals(3, "mcp"), !segments[2].isEmpty {
                    return (text(2), nil, nil, "/orgs/{org}/mcp", end)
                } else if count == 2, equals(1, "mcp") {
                    return (nil, nil, nil, "/mcp", end)
                } else if count == 4, equals(1, "api"), equals(2, "v1"), equals(3, "me") {
                    return (nil, nil, .me, "/api/v1/me", end)
                } else if count == 4, equals(1, "api"), equals(2, "v1"), equals(3, "servers") {
                    return (nil, nil, .servers, "/api/v1/servers", end)
                }
                return nil
            }
        }
    }

    /// Answers the request here if it is an ordinary one; false hands it to the router.
    private func answer(_ head: HTTPRequest, _ target: Route, _ body: ByteBuffer, _ started: ContinuousClock.Instant, _ context: ChannelHandlerContext) -> Bool {
        let route = target.pattern
        // Under perUser.requestsPerMinute every request takes its token in the router's
        // AuthMiddleware, once: none is answered here.
        if gateway.store.policy?.settings.limits.perUser.requestsPerMinute != nil { return false }
        if let kind = target.api { return answerAPI(kind, head, target, started) }
        guard let name = target.server else { return answerAggregated(head, target, body, started, context) }
        if !target.hasSession { return answerModern(head, target, name: name, body, started, context) }
        guard case .success(let caller)? = gateway.authenticator.known(head.headerFields.value(.authorization)),
            let server = resolver.find(caller, org: target.org, name: name),
            let session = try? resolver.session(head.headerFields.value(.mcpSessionID), server, caller),
            head.headerFields.value(.mcpProtocolVersion).map(JSONRPC.supportedVersions.contains) ?? true
        else { return false }
        let bytes = Array(body.readableBytesView)
        guard let value = try? JSONRPC.parse(bytes), let message = JSONRPCMessage(value) else { return false }
        switch message {
        case .notification(let method, let params):
            state = .answering(route: route, method: "POST", started: started)
            let origin = RequestOrigin(remote: remote, method: "POST", path: target.path)
            if guardian.admitNotification(origin, caller: caller, server: server, session: session, method: method) {
                session.forward(notification: bytes, method: method, params: params)
            }
            respond(.accepted, json: nil)
        case .response:
            state = .answering(route: route, method: "POST", started: started)
            session.forward(notification: bytes, method: nil, params: [:])
            respond(.accepted, json: nil)
        case .request(let id, let method, let params):
            let accepts = AcceptedReplies(head.headerFields.value(.accept))
            // A call to approve first is the router's, which asks.
            guard method != "initialize", accepts.json, params["_meta"]?["progressToken"] == nil, !session.requestsClientMidCall,
                ApprovalQuestion(policy: caller.policy, server: server, method: method, params: params, asWritten: true) == nil
            else { return false }
            state = .answering(route: route, method: "POST", started: started)
            let origin = RequestOrigin(remote: remote, method: "POST", path: target.path)
            switch guardian.admit(origin, caller: caller, server: server, session: session, id: id, method: method, params: params, started: started) {
            case .refuse(let reply):
                respond(.ok, json: MCPSession.encode(reply))
            case .forward(let hooks, let rewritten):
                let forwarded = rewritten.map { MCPSession.encode(JSONRPC.request(id: id, method: method, params: $0)) } ?? bytes
                session.forward(request: forwarded, id: id, method: method, params: rewritten ?? params,
                                target: .response(replyQueue(context), interim: false), timeout: resolver.callTimeout(caller, server), hooks: hooks)
            }
        }
        return true
    }

    /// A 2026-07-28 request on a per-server endpoint whose key has a held leg open, answered as
    /// JSON: read and decided by `ModernExchange`, as the router does. A listen, a call that may
    /// send progress, a client that does not take JSON, or a key with no leg open yet (which must be
    /// opened) goes to the router.
    private func answerModern(_ head: HTTPRequest, _ target: Route, name: String, _ body: ByteBuffer, _ started: ContinuousClock.Instant,
                              _ context: ChannelHandlerContext) -> Bool {
        guard case .success(let caller)? = gateway.authenticator.known(head.headerFields.value(.authorization)),
            AcceptedReplies(head.headerFields.value(.accept)).json,
            let server = resolver.find(caller, org: target.org, name: name),
            let leg = gateway.legs.openLeg(ModernExchange.legKey(caller, server))
        else { return false }
        let bytes = Array(body.readableBytesView)
        let read = ModernForwarding.envelopeApart(bytes)
        guard let value = read?.value ?? (try? JSONRPC.parse(bytes)), let message = JSONRPCMessage(value) else { return false }
        // A listen, progress, a retry that answers a server's question, and a client the server may
        // ask something (its leg is another) go to the router.
        // So does a call that waits for a role's approval.
        if case .request(_, let method, let params) = message,
            method == MCPMethod.subscriptionsListen.rawValue || params["_meta"]?["progressToken"] != nil || params["requestState"] != nil
                || !ModernExchange.asks(params).isEmpty
                || ApprovalQuestion(policy: caller.policy, server: server, method: method, params: params, asWritten: true).map({ !$0.roleRules.isEmpty }) == true
        {
            return false
        }
        let exchange = ModernExchange(gateway: gateway)
        let origin = RequestOrigin(remote: remote, method: "POST", path: target.path)
        switch exchange.read(method: .post, headers: head.headerFields, message: message, caller: caller,
                             target: .server(org: target.org, name: name, resolved: server), origin: origin, started: started) {
        case .answered(let answer):
            state = .answering(route: target.pattern, method: "POST", started: started)
            respond(answer.status, json: answer.body.map(MCPSession.encode))
        case .request(let modern):
            switch exchange.decide(modern, request: bytes, read: read, caller: caller, server: server, leg: leg, origin: origin, started: started) {
            case .answer(let answer):
                state = .answering(route: target.pattern, method: "POST", started: started)
                respond(answer.status, json: answer.body.map(MCPSession.encode))
            case .forward(let call):
                state = .answering(route: target.pattern, method: "POST", started: started)
                call.forward(to: replyQueue(context, status: call.errorCode), streamed: false, timeout: resolver.callTimeout(caller, server))
            case .listen, .resume:
                return false  // not reached: a listen and a retry went to the router above
            }
        }
        return true
    }

    /// A call on an aggregated session to a server that has started, by a name or URI the session
    /// knows: renamed back, decided and forwarded as the router does. Anything else (a list, a
    /// server to start, a name to look up, a stream) goes to the router.
    private func answerAggregated(_ head: HTTPRequest, _ target: Route, _ body: ByteBuffer, _ started: ContinuousClock.Instant,
                                  _ context: ChannelHandlerContext) -> Bool {
        let endpoint = AggregateEndpoint(gateway: gateway)
        guard case .success(let caller)? = gateway.authenticator.known(head.headerFields.value(.authorization)),
            let session = try? endpoint.aggregate(head.headerFields.value(.mcpSessionID), caller, view: AggregateView(org: target.org)),
            head.headerFields.value(.mcpProtocolVersion).map(JSONRPC.supportedVersions.contains) ?? true,
            AcceptedReplies(head.headerFields.value(.accept)).json
        else { return false }
        let bytes = Array(body.readableBytesView)
        guard let value = try? JSONRPC.parse(bytes), case .request(let id, let method, let params)? = JSONRPCMessage(value),
            params["_meta"]?["progressToken"] == nil,
            let (server, rewritten) = endpoint.knownRoute(method, params, caller, session),
            let member = session.startedMember(server), !member.requestsClientMidCall,
            gateway.health.waiting(UpstreamHealth.Key(server: server.path, credential: caller.credential)) == nil,
            ApprovalQuestion(policy: caller.policy, server: server, method: method, params: rewritten, asWritten: true) == nil
        else { return false }
        state = .answering(route: target.pattern, method: "POST", started: started)
        let origin = RequestOrigin(remote: remote, method: "POST", path: target.path)
        switch guardian.admit(origin, caller: caller, server: server, session: member, id: id, method: method, params: rewritten, started: started) {
        case .refuse(let reply):
            respond(.ok, json: MCPSession.encode(reply))
        case .forward(let hooks, let decided):
            let params = decided ?? rewritten
            let forwarded = MCPSession.encode(JSONRPC.request(id: id, method: method, params: params))
            session.forward(forwarded, to: member, id: id, method: method, params: params, queue: replyQueue(context),
                            timeout: resolver.callTimeout(caller, server), hooks: hooks)
        }
        return true
    }

    /// `GET /api/v1/me` or `/api/v1/servers` of an authenticated caller: the body the router
    /// serves, kept per key. A refused token goes to the router, which answers and audits it.
    private func answerAPI(_ kind: CallerBodies.Kind, _ head: HTTPRequest, _ target: Route, _ started: ContinuousClock.Instant) -> Bool {
        guard case .success(let caller)? = gateway.authenticator.known(head.headerFields.value(.authorization))
        else { return false }
        state = .answering(route: target.pattern, method: "GET", started: started)
        respond(.ok, body: gateway.callerBody(kind, caller))
        return true
    }

    /// The queue of a fast request's reply, answered on this connection's event loop. It hands
    /// over one event (the reply, or its end without one), so nothing of this request can arrive
    /// once the next request of the connection is waiting for its own answer.
    /// A 2026-07-28 reply's status is the era's for its error code (`status`).
    private func replyQueue(_ context: ChannelHandlerContext, status: ErrorCode? = nil) -> MessageQueue {
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        return MessageQueue(reply: { event in
            if handler.eventLoop.inEventLoop {
                handler.value.replied(event, status: status)
            } else {
                handler.eventLoop.execute { handler.value.replied(event, status: status) }
            }
        })
    }

    private func replied(_ event: MessageQueue.Event, status: ErrorCode?) {
        switch event {
        case .message(let reply): respond(status?.status ?? .ok, json: reply)
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
        respond(status, body: json.map { ByteBuffer(bytes: $0) })
    }

    private func respond(_ status: HTTPResponse.Status, body json: ByteBuffer?) {
        guard case .answering(let route, let method, let started) = state, let context else { return }
        var head = HTTPResponse(status: status)
        head.headerFields[.server] = "orch"
        head.headerFields[.date] = httpDate()
        head.headerFields[.contentLength] = "\(json?.readableBytes ?? 0)"
        if json != nil { head.headerFields[.contentType] = "application/json" }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let json { context.write(wrapOutboundOut(.body(json)), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        gateway.metrics.request(route: route, method: method, status: status.code, duration: ContinuousClock.now - started)
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

extension HTTPFields {
    /// The value of the field `name` as the subscript reads it (repeats joined with commas), without
    /// the subscript's cost for a field that comes once: it builds the joined string even then.
    func value(_ name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            guard found == nil else { return self[name] }
            found = field.value
        }
        return found
    }
}
