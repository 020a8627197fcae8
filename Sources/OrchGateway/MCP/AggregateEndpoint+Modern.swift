import Foundation
import Hummingbird
import NIOCore
import OrchJSON
import OrchPolicy
import Synchronization

/// 2026-07-28 requests on the aggregated endpoints (`/orgs/{org}/mcp`, `/mcp`): read like any modern
/// request (`ModernReading`), then answered as the handshake era's aggregated session answers them,
/// with the key's held legs as the members: `server/discover` by the gateway (the union of what the
/// servers may offer), lists merged from every server under exposed names, an item's method routed
/// to its server's leg and decided there exactly as on that server's own endpoint. No
/// `Mcp-Session-Id` is issued.
extension AggregateEndpoint {
    func modern(
        _ request: Request, _ context: GatewayContext, _ caller: Caller, hasOrg: Bool, incoming: IncomingMessage?,
        started: ContinuousClock.Instant
    ) async throws -> Response {
        let view = try scope(request, context, caller, hasOrg: hasOrg, method: incoming?.message.method ?? "message")
        let org = view.org
        var members = HeldLegMembers(endpointView: gateway.heldAggregates.view(caller.credential, view), caller: caller, gateway: gateway)
        let exchange = ModernExchange(gateway: gateway)
        let origin = RequestOrigin(context, request)
        let modern: ModernRequest
        switch exchange.read(method: request.method, headers: request.headers, message: incoming?.message, caller: caller,
                             target: .aggregate(members), origin: origin, started: started) {
        case .answered(let answer): return ModernExchange.response(answer)
        case .request(let request): modern = request
        }
        // A client that can be asked things is served by legs of its own kind, lists as calls.
        members.asks = ModernExchange.asks(modern.params)
        let stamp = ModernResultStamp(ttlBound: CacheTTL(gateway.catalog.ttl), serverInfo: nil)
        func answer(_ reply: JSONValue) -> Response {
            let stamped = ModernForwarding.reply(reply, id: modern.id, method: modern.method, stamp: stamp)
            return Response.json(stamped, status: ModernErrorStatus.status(forCode: stamped["error"]?["code"]?.integerValue ?? 0))
        }
        var params = modern.params
        if Self.searchMode(request), modern.method == "tools/list" { return answer(searchList(id: modern.id)) }
        if Self.searchMode(request), modern.method == "tools/call" {
            switch params["name"]?.stringValue {
            case Self.findTools?:
                return answer(await findTools(request, context, caller, members, id: modern.id, params: params))
            case Self.callTool?:
                guard let direct = Self.directCall(params) else {
                    return answer(JSONRPC.error(id: modern.id, code: JSONRPC.invalidParams, "call_tool needs a string arguments.name"))
                }
                params = direct
            default:
                break
            }
        }
        if let list = List(modern.method) {
            return answer(await merged(list, request, context, caller, members, id: modern.id, params: params))
        }
        switch modern.known {
        case .discover?:
            let count = members.scoped(caller).count
            gateway.auditor.record(origin, caller: caller, decision: .allow, reason: "\(count) server\(count == 1 ? "" : "s") behind \(members.endpoint)",
                          status: 200, started: started, org: org, mcpMethod: modern.method)
            let result = DiscoverResult(capabilities: view.toolsOnly ? ["tools": ["listChanged": true]] : Self.modernCapabilities, instructions: instructions(members, caller),
                                        serverInfo: Self.serverInfo, ttl: CacheTTL(gateway.catalog.ttl))
            return Response.json(["jsonrpc": "2.0", "id": modern.id, "result": .object(result.json)])
        case .subscriptionsListen?:
            return await listen(request, context, caller, members, modern, started: started)
        case .toolsCall?, .promptsGet?, .resourcesRead?, .complete?:
            let (server, rewritten): (ResolvedServer, JSONObject)
            switch await route(request, context, caller, members, id: modern.id, method: modern.method, params: params, started: started) {
            case .success(let found): (server, rewritten) = found
            case .failure(let refusal): return answer(refusal.reply)
            }
            let leg: HeldLeg
            if let refusal = failing(server, caller, id: modern.id, method: modern.method, request, context, members) { return answer(refusal) }
            do {
                leg = try await members.leg(server, request, context)
            } catch {
                return answer(unavailable(server, caller, error, id: modern.id))
            }
            let routed = ModernRequest(version: modern.version, clientCapabilities: modern.clientCapabilities, clientInfo: modern.clientInfo,
                                       method: modern.method, id: modern.id, params: rewritten, known: modern.known)
            // The body is renamed, so it is encoded again rather than forwarded as it came.
            switch exchange.decide(routed, request: [], caller: caller, server: server, leg: leg, origin: origin, started: started) {
            case .answer(let answer): return ModernExchange.response(answer)
            case .forward(let call): return await ModernExchange.respond(call, request, timeout: resolver.callTimeout(caller, server))
            case .resume(let held, let leg): return await ModernExchange.respond(held, on: leg)
            case .listen: return answer(JSONRPC.error(id: modern.id, code: JSONRPC.internalError, "unexpected listen"))
            }
        default:
            gateway.auditor.record(origin, caller: caller, decision: .deny, reason: "the aggregated endpoint does not serve \(modern.method)",
                          status: 404, started: started, org: org, mcpMethod: modern.method)
            return answer(JSONRPC.error(id: modern.id, code: JSONRPC.methodNotFound, "Method not found: \(modern.method)"))
        }
    }

    /// What the aggregated endpoint may offer a 2026-07-28 client: every kind of item a server behind
    /// it may have, with list changes (announced on `subscriptions/listen`) and resource updates.
    static let modernCapabilities: JSONObject = [
        "tools": ["listChanged": true], "prompts": ["listChanged": true],
        "resources": ["listChanged": true, "subscribe": true], "completions": [:],
    ]

    static var serverInfo: JSONObject { ["name": .string(serverName), "version": .string(Gateway.version)] }

    // MARK: subscriptions/listen

    /// A `subscriptions/listen` on the endpoint: one stream, acknowledged once, fed by a listen on the
    /// key's held leg of every server in scope (each opened now if it is not), with resource URIs
    /// and subscriptions under their exposed names. A server that cannot be opened is left out
    /// (audited); when a leg ends, or a reload changes which servers the caller reaches here, the
    /// stream tells the list changes it asked for and ends with its closing frame, so the client
    /// listens again and refetches.
    private func listen(
        _ request: Request, _ context: GatewayContext, _ caller: Caller, _ members: HeldLegMembers, _ modern: ModernRequest,
        started: ContinuousClock.Instant
    ) async -> Response {
        let origin = RequestOrigin(context, request)
        let filter: ListenFilter
        switch ListenFilter.read(modern.params) {
        case .success(let read): filter = read
        case .failure(let error):
            gateway.auditor.record(origin, caller: caller, decision: .deny, reason: error.message, status: 400, started: started, org: members.org,
                          mcpMethod: modern.method)
            return Response.json(JSONRPC.error(id: modern.id, code: JSONRPC.invalidParams, error.message), status: .badRequest)
        }
        guard AcceptedReplies(request.headers[.accept]).sse else {
            return Response.json(JSONRPC.error(id: modern.id, code: JSONRPC.invalidRequest, "subscriptions/listen answers with a stream: send Accept: text/event-stream"),
                                 status: .notAcceptable)
        }
        let scoped = members.scoped(caller)
        let legs = await withTaskGroup(of: (Int, HeldLeg?).self) { group in
            for (index, entry) in scoped.enumerated() {
                group.addTask {
                    do {
                        return (index, try await members.leg(entry.server, request, context))
                    } catch {
                        let message = (error as? UpstreamError)?.message ?? (error as? GatewayError)?.message ?? "\(error)"
                        gateway.auditor.record(origin, caller: caller, decision: .error, reason: "\(entry.server.path) is left out of subscriptions/listen: \(message)",
                                      status: 200, started: started, org: entry.server.org, server: entry.server.name, mcpMethod: modern.method)
                        return (index, nil)
                    }
                }
            }
            var legs = [HeldLeg?](repeating: nil, count: scoped.count)
            for await (index, leg) in group { legs[index] = leg }
            return legs
        }
        let queue = MessageQueue()
        let relay = AggregateListen(queue: queue, id: modern.id, filter: filter, org: members.org, user: caller.userName,
                                    credential: caller.credential,
                                    reaches: AggregateScope.reach(caller.policy, user: caller.user, key: caller.key, org: members.org, at: gateway.clock.now()))
        _ = queue.push(filter.acknowledgement(id: modern.id))
        var tokens: [(leg: HeldLeg, token: Int, timeout: TimeAmount)] = []
        for (entry, leg) in zip(scoped, legs) {
            guard let leg else { continue }
            let server = entry.server
            let readable = { (uri: String) in
                caller.policy.decide(user: caller.user, server: server.id, item: Item(.resource, uri), key: caller.key, at: gateway.clock.now()).allowed
            }
            let sink = AggregateListen.Relay(listen: relay, org: entry.org, prefix: entry.prefix)
            let timeout = resolver.callTimeout(caller, server)
            if let token = leg.listen(sink, id: modern.id, filter: relay.filter(filter, for: entry, withOrg: members.org == nil),
                                      readable: readable, timeout: timeout) {
                tokens.append((leg, token, timeout))
            }
        }
        members.endpointView.listening(relay)
        gateway.auditor.record(origin, caller: caller, decision: .allow, reason: "\(tokens.count) server\(tokens.count == 1 ? "" : "s") behind \(members.endpoint)",
                      status: 200, started: started, org: members.org, mcpMethod: modern.method)
        context.channel.closeFuture.whenComplete { _ in queue.hangUp() }
        return SSEEncoder.response(queue: queue) { [view = members.endpointView, tokens] in
            view.stoppedListening(relay)
            for (leg, token, timeout) in tokens { leg.stopListening(token, timeout: timeout) }
        }
    }

    /// The instructions of an aggregated endpoint: what orch.json says of each server, under its
    /// prefix (the servers start when first needed, so their own instructions are not known yet),
    /// and for an `oauth` server the caller has no working account at, where to connect it.
    func instructions(_ members: any AggregateMembers, _ caller: Caller) -> String? {
        let policy = caller.policy
        let lines = members.scoped(caller).compactMap { scoped -> String? in
            let spec = policy.server(scoped.server.id).spec
            var parts = spec.description.map { [$0] } ?? []
            if spec.oauth != nil, let account = gateway.account(policy, scoped.server.id, user: caller.userName),
                case .failure(let refusal) = gateway.accounts.usable(account)
            {
                parts.append(refusal.message)
            }
            guard !parts.isEmpty else { return nil }
            return (scoped.org.map { $0 + ExposedName.separator } ?? "") + scoped.prefix + ": " + parts.joined(separator: " ")
        }
        // A view without tools says why first.
        let empty = gateway.emptyView(caller, servers: members.scoped(caller).map(\.server.id), toolset: members.view.toolset)
        let text = Instructions.joined(empty, lines.joined(separator: "\n"))
        return text.isEmpty ? nil : text
    }
}

/// One `subscriptions/listen` stream of an aggregated endpoint: the servers' legs push their frames
/// through a `Relay` each, which drops their own acknowledgements (the stream has one), names
/// resource URIs for the endpoint, and ends the whole stream when a leg ends.
final class AggregateListen: Sendable {
    let queue: MessageQueue
    let id: JSONValue
    let filter: ListenFilter
    /// The endpoint's org (nil on `/mcp`).
    let org: String?
    let user: String
    let credential: Credential
    /// The servers (`ORG/SERVER`) the caller reached on the endpoint when the stream opened.
    let reaches: Set<String>
    private let ended = Atomic<Bool>(false)

    init(queue: MessageQueue, id: JSONValue, filter: ListenFilter, org: String?, user: String, credential: Credential, reaches: Set<String>) {
        self.queue = queue
        self.id = id
        self.filter = filter
        self.org = org
        self.user = user
        self.credential = credential
        self.reaches = reaches
    }

    /// After a reload: when the caller reaches other servers here than when the stream opened (or no
    /// longer signs in so), the merged lists it asked to hear of changed and its legs are not the
    /// right ones: the stream says so and ends, for the client to listen again.
    func apply(_ change: PolicyChange) {
        let now = change.new.reach(credential, user: user, org: org, at: change.at)
        if now != reaches { endListsChanged() }
    }

    /// Ends the stream after the list changes it asked for: what a server offered is gone, or the
    /// servers are other ones.
    func endListsChanged() {
        var changes: [JSONValue] = []
        if filter.toolsListChanged { changes.append(["jsonrpc": "2.0", "method": "notifications/tools/list_changed"]) }
        if filter.promptsListChanged { changes.append(["jsonrpc": "2.0", "method": "notifications/prompts/list_changed"]) }
        if filter.resourcesListChanged { changes.append(["jsonrpc": "2.0", "method": "notifications/resources/list_changed"]) }
        end(after: changes.map { ListenFilter.frame($0, id: id) })
    }

    /// The part of the client's `filter` one server's leg takes: every list change asked for, and the
    /// subscriptions whose exposed URI names this server, under the server's own URI.
    func filter(_ filter: ListenFilter, for server: AggregateScope.Server, withOrg: Bool) -> ListenFilter {
        var part = filter
        part.resourceSubscriptions = filter.resourceSubscriptions.compactMap { exposed in
            guard let parsed = ExposedURI.parse(exposed, withOrg: withOrg), parsed.org == server.org, parsed.prefix == server.prefix,
                case .success(let normal) = ResourceURI.normalize(parsed.uri)
            else { return nil }
            return normal
        }
        return part
    }

    /// Ends the stream on purpose, once: its closing frame, after `before` (a reload's list changes).
    func end(after before: [JSONValue] = []) {
        guard !ended.exchange(true, ordering: .relaxed) else { return }
        for frame in before { _ = queue.push(frame) }
        _ = queue.push(ListenFilter.closing(id: id))
        queue.finish()
    }

    /// What one server's leg pushes into the stream.
    struct Relay: ListenSink {
        let listen: AggregateListen
        let org: String?
        let prefix: String

        func push(_ frame: JSONValue) -> MessageQueue.PushResult {
            switch frame["method"]?.stringValue {
            case "notifications/subscriptions/acknowledged"?:
                return .accepted
            case "notifications/resources/updated"?:
                guard case .object(var object) = frame, case .object(var params)? = object["params"],
                    let uri = params["uri"]?.stringValue
                else { return .accepted }
                params["uri"] = .string(ExposedURI.make(org: org, prefix: prefix, uri: uri))
                object["params"] = .object(params)
                return listen.queue.push(.object(object))
            default:
                return listen.queue.push(frame)
            }
        }

        func keepAlive() { listen.queue.keepAlive() }
        func finish() { listen.queue.finish() }
        /// The server's leg ended: its items are gone from the merged lists until it starts again.
        func ended(closing: JSONValue) { listen.endListsChanged() }
    }
}
