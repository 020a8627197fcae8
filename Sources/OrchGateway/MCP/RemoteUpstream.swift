import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OrchJSON
import OrchPolicy
import Synchronization

/// A remote MCP server, reached over Streamable HTTP or legacy HTTP+SSE with the gateway's own
/// upstream session and the server's configured headers. The caller's orch token never travels;
/// for an `oauth` server each request carries the caller's own access token (`credential`),
/// asked for again once after a 401. The headers and token go to the server's own origin only:
/// redirects are not followed and a legacy `endpoint` on another origin is refused.
///
/// A request that carries the 2026-07-28 envelope is its own exchange (a POST with its routing
/// headers, no session), whatever was sent before; a session opens only with `initialize`.
final class RemoteUpstream: Upstream {
    private let url: String
    private let kind: ServerSpec.RemoteKind
    private let headers: [NameValue]
    private let logger: Logger
    private let label: String
    private let client: HTTPClient
    private let credential: UpstreamCredential?
    private let sink = EventSink()
    /// Open while the session reads; closed by `setReading(false)`.
    private let reading = Latch(open: true)
    /// Opens once posts may go: after `initialize` (Streamable HTTP: the session id is known), or
    /// once the legacy stream has named its endpoint.
    private let ready = Latch(open: false)

    private struct State {
        var sessionID: String?
        var protocolVersion: String?
        var postURL: String?
        var tasks: [Int: Task<Void, Never>] = [:]
        var nextTask = 0
        /// Tasks that ended before they were recorded.
        var finishedEarly: Set<Int> = []
        var stopped = false
        /// The last request was of 2026-07-28 and no `initialize` followed: the server is spoken to
        /// without a session, and the client's notifications have no place on the wire.
        var modern = false
        /// The task of each 2026-07-28 request in flight, by request id: cancelling the request
        /// closes its exchange, as that era cancels.
        var posts: [String: Int] = [:]
        /// The `Mcp-Param-*` declarations of the server's tools that have some, by tool name, and
        /// every tool name, from the gateway's own last `tools/list` (and when it was asked).
        var toolHeaders: [String: ParamHeaderDeclarations] = [:]
        var listedTools: Set<String> = []
        var listedAt: ContinuousClock.Instant?
        /// The client's `initialize` declared URL-mode elicitation (an account refusal is then -32042).
        var urlElicitation = false
    }
    private let state = Mutex(State())

    init(url: String, kind: ServerSpec.RemoteKind, headers: [NameValue], label: String, logger: Logger, client: HTTPClient,
         credential: UpstreamCredential? = nil) {
        self.url = url
        self.credential = credential
        self.kind = kind
        self.headers = headers
        self.label = label
        self.logger = logger
        self.client = client
    }

    var pid: Int32? { nil }

    func start(_ events: UpstreamEvents) {
        sink.set(events)
        if kind == .sse { startTask { await self.runLegacyStream() } }
    }

    func setReading(_ on: Bool) {
        if on { reading.open() } else { reading.close() }
    }

    /// Runs `body` as one of this upstream's tasks, which `stop()` cancels; a finished task is
    /// forgotten, so a long session keeps no record of its past exchanges. `post`: the key of the
    /// 2026-07-28 request the task carries, which `cancelPost` finds it by.
    private func startTask(post: String? = nil, _ body: @escaping @Sendable () async -> Void) {
        guard let id = state.withLock({ state -> Int? in
            guard !state.stopped else { return nil }
            state.nextTask += 1
            if let post { state.posts[post] = state.nextTask }
            return state.nextTask
        }) else { return }
        let task = Task {
            await body()
            self.state.withLock { state in
                if state.tasks.removeValue(forKey: id) == nil { state.finishedEarly.insert(id) }
                if let post, state.posts[post] == id { state.posts[post] = nil }
            }
        }
        let stopped = state.withLock { state -> Bool in
            if state.finishedEarly.remove(id) == nil, !state.stopped { state.tasks[id] = task }
            return state.stopped
        }
        if stopped { task.cancel() }
    }

    private func request(
        _ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, accept: String, routing: [(name: String, value: String)] = []
    ) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for header in headers { request.headers.add(name: header.name, value: header.value) }
        for header in routing { request.headers.replaceOrAdd(name: header.name, value: header.value) }
        request.headers.replaceOrAdd(name: "Accept", value: accept)
        let (session, version) = state.withLock { ($0.sessionID, $0.protocolVersion) }
        if kind == .streamableHTTP {
            if let session { request.headers.replaceOrAdd(name: "Mcp-Session-Id", value: session) }
            if let version { request.headers.replaceOrAdd(name: "MCP-Protocol-Version", value: version) }
        }
        if let body {
            request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return request
    }

    /// Sends `request`, with the caller's access token for an `oauth` server; a 401 asks for the
    /// token again (refreshed, unless another call refreshed it meanwhile) and sends once more.
    private func execute(_ request: HTTPClientRequest, timeout: TimeAmount) async throws -> HTTPClientResponse {
        guard let credential else { return try await client.execute(request, timeout: timeout) }
        var request = request
        var rejected: String?
        while true {
            let token: String
            switch await credential.token(rejected) {
            case .success(let value): token = value
            case .failure(let refusal): throw UpstreamError.notConnected(refusal)
            }
            request.headers.replaceOrAdd(name: "Authorization", value: "Bearer " + token)
            let response = try await client.execute(request, timeout: timeout)
            guard response.status == .unauthorized, rejected == nil else { return response }
            _ = try? await response.body.collect(upTo: 64 << 10)
            rejected = token
        }
    }

    /// Each message is its own exchange, run beside the others, as a client may have several
    /// requests in flight; all but `initialize` wait until the upstream session is ready.
    func send(_ message: [UInt8]) {
        let parsed = (try? JSONRPC.parse(message)).flatMap(JSONRPCMessage.init)
        if kind == .streamableHTTP {
            if case .request(let id, let method, let params)? = parsed,
                case .string(let version)? = params["_meta"]?[ModernProtocol.MetaKey.protocolVersion]
            {
                return sendModern(message, id: id, method: method, params: params, version: version)
            }
            switch parsed {
            case .request(_, "initialize", _)?:
                state.withLock { $0.modern = false }
            case .request?:
                break
            default:
                // No notification of the client goes to a 2026-07-28 server over HTTP: a cancelled
                // request's exchange is closed instead.
                guard state.withLock({ $0.modern }) else { break }
                if case .notification("notifications/cancelled", let params)? = parsed, let id = params["requestId"] { cancelPost(id) }
                return
            }
        }
        let requestID: JSONValue? = if case .request(let id, _, _)? = parsed { id } else { nil }
        let requestParams: JSONObject = if case .request(_, _, let params)? = parsed { params } else { [:] }
        if case .request(_, "initialize", let params)? = parsed {
            state.withLock { $0.urlElicitation = AccountRefusal.declaresURLElicitation(params) }
        }
        let isInitialize = if case .request(_, "initialize", _)? = parsed { true } else { false }
        startTask { [self] in
            do {
                if !isInitialize || kind == .sse { await ready.wait() }
                try Task.checkCancellation()
                try await post(message, isInitialize: isInitialize)
            } catch let error as UpstreamError {
                fail(error, requestID: requestID, endsUpstream: isInitialize, params: requestParams)
            } catch is CancellationError {
                return
            } catch {
                fail(.couldNotStart("\(error)"), requestID: requestID, endsUpstream: isInitialize)
            }
        }
    }

    /// A failed initialize (or `server/discover`) ends the upstream; a failed request gets an error reply.
    private func fail(_ error: UpstreamError, requestID: JSONValue?, endsUpstream: Bool, params: JSONObject = [:]) {
        if let refusal = error.refusal, let requestID, !endsUpstream {
            let urlElicitation = state.withLock { $0.urlElicitation }
            return sink.receive(MCPSession.encode(refusal.reply(id: requestID, params: params, urlElicitation: urlElicitation)))
        }
        logger.warning("\(label): upstream request failed: \(error.detail)")
        if endsUpstream {
            sink.closed(error)
        } else if let requestID {
            sink.receive(Array(JSONRPC.error(id: requestID, code: JSONRPC.internalError, "the upstream server \(label) is unavailable: \(error.message)").compact.utf8))
        }
    }

    private func post(_ message: [UInt8], isInitialize: Bool) async throws {
        let target = kind == .sse ? state.withLock({ $0.postURL }) ?? url : url
        let response = try await execute(request(.POST, target, body: message, accept: "application/json, text/event-stream"), timeout: .hours(1))
        try Self.check(response, label: label)
        if kind == .sse { return }
        if isInitialize, let session = response.headers.first(name: "Mcp-Session-Id") {
            state.withLock { $0.sessionID = session }
        }
        if response.status == .notFound, !isInitialize, state.withLock({ $0.sessionID }) != nil {
            sink.closed(.exited("the upstream session expired"))
            return
        }
        guard (200..<300).contains(response.status.code) else {
            throw UpstreamError.refused("the server answered HTTP \(response.status.code)")
        }
        let type = response.headers.first(name: "Content-Type") ?? ""
        if type.contains("text/event-stream") {
            try await readEvents(response.body) { event in
                if event.name == "message" { self.deliver(event.data, initialize: isInitialize) }
            }
        } else if response.status == .ok {
            let body = try await response.body.collect(upTo: StdioUpstream.maxLineBytes)
            if body.readableBytes > 0 { deliver(Array(buffer: body), initialize: isInitialize) }
        }
        if isInitialize {
            ready.open()
            startTask { await self.runServerStream() }
        }
    }

    // MARK: 2026-07-28

    /// One 2026-07-28 request: posted on its own with its routing headers; the answer (JSON, or an
    /// SSE stream of the request's notifications and its reply) is delivered as it comes.
    private func sendModern(_ message: [UInt8], id: JSONValue, method: String, params: JSONObject, version: String) {
        state.withLock { $0.modern = true }
        let isDiscover = method == MCPMethod.discover.rawValue
        startTask(post: JSONRPC.key(id)) { [self] in
            do {
                let declarations = method == MCPMethod.toolsCall.rawValue ? await toolHeaders(for: params) : nil
                let routing = ModernRequestHeaders.headers(version: version, method: method, params: params, declarations: declarations)
                if method == MCPMethod.subscriptionsListen.rawValue {
                    try await listen(message, id: id, routing: routing)
                } else {
                    try await postModern(message, id: id, method: method, routing: routing)
                }
            } catch let error as UpstreamError {
                fail(error, requestID: id, endsUpstream: isDiscover, params: params)
            } catch is CancellationError {
                return
            } catch {
                // A cancelled request's exchange ends here too, and is answered by the session.
                if Task.isCancelled { return }
                fail(.couldNotStart("\(error)"), requestID: id, endsUpstream: isDiscover)
            }
        }
    }

    private func cancelPost(_ id: JSONValue) {
        state.withLock { state in state.posts[JSONRPC.key(id)].flatMap { state.tasks[$0] } }?.cancel()
    }

    /// Statuses that say nothing of the era a server speaks: the gateway may not ask (401, 403,
    /// 407), should ask later (429), or the server failed (5xx).
    private static func saysNothingOfTheEra(_ status: HTTPResponseStatus) -> Bool {
        [401, 403, 407, 429].contains(status.code) || status.code >= 500
    }

    private func postModern(_ message: [UInt8], id: JSONValue, method: String, routing: [(name: String, value: String)]) async throws {
        let response = try await execute(request(.POST, url, body: message, accept: "application/json, text/event-stream", routing: routing), timeout: .hours(1))
        try Self.check(response, label: label)
        let type = response.headers.first(name: "Content-Type") ?? ""
        if (200..<300).contains(response.status.code), type.contains("text/event-stream") {
            var answered = false
            try await readEvents(response.body) { event in
                guard event.name == "message" else { return }
                if !answered, let reply = try? JSONRPC.parse(event.data), reply["method"] == nil, reply["id"] == id { answered = true }
                self.sink.receive(event.data)
            }
            if !answered { throw UpstreamError.exited("the server closed the request's stream before answering") }
            return
        }
        if let reply = try await Self.reply(response, to: id) { return sink.receive(reply) }
        // A handshake-era server that does not know the request without a session: its answer to
        // the gateway's `server/discover` is that it does not speak 2026-07-28.
        if method == MCPMethod.discover.rawValue, !Self.saysNothingOfTheEra(response.status) {
            return sink.receive(MCPSession.encode(JSONRPC.error(id: id, code: JSONRPC.methodNotFound, "the server answered server/discover with HTTP \(response.status.code)")))
        }
        throw UpstreamError.refused("the server answered HTTP \(response.status.code)")
    }

    /// The JSON-RPC answer in a response's JSON body, at any status (the era answers an error with
    /// a 4xx), with the request's id; nil when the body holds none.
    private static func reply(_ response: HTTPClientResponse, to id: JSONValue) async throws -> [UInt8]? {
        guard (response.headers.first(name: "Content-Type") ?? "").contains("application/json") else { return nil }
        let body = Array(buffer: try await response.body.collect(upTo: StdioUpstream.maxLineBytes))
        guard case .object(var reply)? = try? JSONRPC.parse(body), reply["method"] == nil else { return nil }
        if (200..<300).contains(response.status.code), reply["id"] == id, reply["result"] != nil || reply["error"] != nil { return body }
        // An error the server made before it read the id (`id: null`) is still this request's.
        guard reply["error"]?.objectValue != nil else { return nil }
        reply["id"] = id
        return MCPSession.encode(.object(reply))
    }

    /// `subscriptions/listen`: the stream of the server's notifications, reopened with backoff
    /// (0.5 s doubling to 30 s) whenever it drops; an answer instead of a stream (the server will
    /// not listen) is delivered and not asked again.
    private func listen(_ message: [UInt8], id: JSONValue, routing: [(name: String, value: String)]) async throws {
        var backoff = Duration.milliseconds(500)
        while !Task.isCancelled, !state.withLock({ $0.stopped }) {
            do {
                let response = try await execute(request(.POST, url, body: message, accept: "text/event-stream, application/json", routing: routing), timeout: .hours(24))
                try Self.check(response, label: label)
                guard (200..<300).contains(response.status.code), (response.headers.first(name: "Content-Type") ?? "").contains("text/event-stream") else {
                    if let reply = try await Self.reply(response, to: id) { return sink.receive(reply) }
                    throw UpstreamError.refused("the server answered subscriptions/listen with HTTP \(response.status.code)")
                }
                backoff = .milliseconds(500)
                try await readEvents(response.body) { event in
                    if event.name == "message" { self.sink.receive(event.data) }
                }
            } catch let error as UpstreamError where error.kind == .flooded || error.kind == .refused {
                throw error
            } catch {
                logger.debug("\(label): listen stream ended: \(error)")
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(30))
        }
    }

    /// The `Mcp-Param-*` declarations of the tool a `tools/call` names, for a call with arguments:
    /// from the gateway's own `tools/list` of the server, asked with the call's envelope when the
    /// tool is not among those listed (at most every 10 s).
    private func toolHeaders(for params: JSONObject) async -> ParamHeaderDeclarations? {
        guard case .string(let tool)? = params["name"], case .object(let arguments)? = params["arguments"], !arguments.isEmpty else { return nil }
        let (found, ask) = state.withLock { state in
            (state.toolHeaders[tool], !state.listedTools.contains(tool) && state.listedAt.map { ContinuousClock.now - $0 > .seconds(10) } ?? true)
        }
        guard found == nil, ask else { return found }
        state.withLock { $0.listedAt = .now }
        var declared: [String: ParamHeaderDeclarations] = [:]
        var names: Set<String> = []
        var cursor: JSONValue? = nil
        var page = 0
        let version = params["_meta"]?[ModernProtocol.MetaKey.protocolVersion]?.stringValue ?? ModernProtocol.version
        repeat {
            page += 1
            var listParams: JSONObject = ["_meta": params["_meta"] ?? [:]]
            if let cursor { listParams["cursor"] = cursor }
            let listID: JSONValue = .string("orch-tools-\(page)")
            let list = MCPSession.encode(JSONRPC.request(id: listID, method: MCPMethod.toolsList.rawValue, params: listParams))
            let routing = ModernRequestHeaders.headers(version: version, method: MCPMethod.toolsList.rawValue, params: listParams, declarations: nil)
            guard let response = try? await execute(request(.POST, url, body: list, accept: "application/json, text/event-stream", routing: routing), timeout: .seconds(30)),
                let result = await Self.result(response, id: listID)
            else { break }
            for tool in result["tools"]?.arrayValue ?? [] {
                guard case .string(let name)? = tool["name"] else { continue }
                names.insert(name)
                if let schema = tool["inputSchema"], let declarations = ParamHeaderDeclarations(inputSchema: schema), !declarations.declarations.isEmpty {
                    declared[name] = declarations
                }
            }
            cursor = result["nextCursor"].flatMap { $0.stringValue != nil ? $0 : nil }
        } while cursor != nil && page < 100
        if !names.isEmpty {
            state.withLock { state in
                state.toolHeaders = declared
                state.listedTools = names
            }
        }
        return declared[tool]
    }

    /// The result of a request the gateway asked for itself, from a JSON body or the reply on an
    /// SSE stream; nil for anything else.
    private static func result(_ response: HTTPClientResponse, id: JSONValue) async -> JSONValue? {
        guard (200..<300).contains(response.status.code) else { return nil }
        let type = response.headers.first(name: "Content-Type") ?? ""
        var reply: JSONValue?
        if type.contains("text/event-stream") {
            var parser = SSEParser(maxEventBytes: StdioUpstream.maxLineBytes)
            do {
                events: for try await chunk in response.body {
                    for event in try parser.feed(chunk.readableBytesView) where event.name == "message" {
                        if let message = try? JSONRPC.parse(event.data), message["id"] == id, message["method"] == nil {
                            reply = message
                            break events
                        }
                    }
                }
            } catch { return nil }
        } else if type.contains("application/json") {
            reply = (try? await response.body.collect(upTo: StdioUpstream.maxLineBytes)).flatMap { try? JSONRPC.parse(Array(buffer: $0)) }
        }
        guard let reply, reply["id"] == id, case .object(let result)? = reply["result"] else { return nil }
        return .object(result)
    }

    /// Redirects are answered, never followed: the secret headers stay with the server's origin.
    private static func check(_ response: HTTPClientResponse, label: String) throws(UpstreamError) {
        if (300..<400).contains(response.status.code) {
            let location = response.headers.first(name: "Location").map { " to \($0)" } ?? ""
            throw .refused("the server answered with a redirect (HTTP \(response.status.code)); redirects are not followed",
                           detail: "the server answered with a redirect (HTTP \(response.status.code)\(location)); redirects are not followed")
        }
    }

    /// Reads an SSE body, bounded, pausing while the session does not read.
    private func readEvents(_ body: HTTPClientResponse.Body, _ handle: (SSEParser.Event) -> Void) async throws {
        var parser = SSEParser(maxEventBytes: StdioUpstream.maxLineBytes)
        for try await chunk in body {
            await reading.wait()
            for event in try parser.feed(chunk.readableBytesView) { handle(event) }
        }
    }

    private func deliver(_ message: [UInt8], initialize: Bool) {
        if initialize, let version = (try? JSONRPC.parse(message))?["result"]?["protocolVersion"]?.stringValue {
            state.withLock { $0.protocolVersion = version }
        }
        sink.receive(message)
    }

    /// Streamable HTTP: the GET stream of server-initiated messages, when the server offers one,
    /// reopened with backoff (0.5 s doubling to 30 s) whenever it drops.
    private func runServerStream() async {
        var backoff = Duration.milliseconds(500)
        while !Task.isCancelled, state.withLock({ $0.sessionID != nil && !$0.stopped }) {
            do {
                let response = try await execute(request(.GET, url, accept: "text/event-stream"), timeout: .hours(24))
                try Self.check(response, label: label)
                switch response.status.code {
                case 200:
                    backoff = .milliseconds(500)
                    try await readEvents(response.body) { event in
                        if event.name == "message" { self.sink.receive(event.data) }
                    }
                case 404:
                    sink.closed(.exited("the upstream session expired"))
                    return
                default:
                    return  // 405: the server offers no GET stream
                }
            } catch let error as UpstreamError where error.kind == .flooded {
                sink.closed(error)
                return
            } catch {
                logger.debug("\(label): server stream ended: \(error)")
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(30))
        }
    }

    /// Legacy SSE: the stream carries the POST endpoint first, then every server message.
    private func runLegacyStream() async {
        let error: UpstreamError
        do {
            let response = try await execute(request(.GET, url, accept: "text/event-stream"), timeout: .hours(24))
            try Self.check(response, label: label)
            guard response.status == .ok else { throw UpstreamError.refused("the server answered HTTP \(response.status.code)") }
            try await readEvents(response.body) { event in
                if event.name == "endpoint" {
                    endpoint(String(decoding: event.data, as: UTF8.self))
                } else if event.name == "message" {
                    sink.receive(event.data)
                }
            }
            error = .exited("the server closed its SSE stream")
        } catch let failure as UpstreamError {
            error = failure
        } catch {
            self.logger.warning("\(label): upstream SSE stream failed: \(error)")
            return sink.closed(.couldNotStart("\(error)"))
        }
        sink.closed(error)
    }

    /// The legacy `endpoint` event: posts go there, if it is on the server's own origin.
    private func endpoint(_ value: String) {
        guard let base = URL(string: url), let resolved = URL(string: value, relativeTo: base)?.absoluteURL,
            resolved.scheme == base.scheme, resolved.host == base.host, resolved.port == base.port
        else {
            sink.closed(.refused("the server named an endpoint on another origin; its headers are only sent to its own",
                                 detail: "the server named an endpoint on another origin (\(value)); its headers are only sent to \(URL(string: url)?.host ?? "its own origin")"))
            return
        }
        state.withLock { $0.postURL = resolved.absoluteString }
        ready.open()
    }

    func stop() async {
        let (tasks, session, alreadyStopped) = state.withLock { state -> ([Task<Void, Never>], String?, Bool) in
            let was = state.stopped
            state.stopped = true
            return (Array(state.tasks.values), state.sessionID, was)
        }
        guard !alreadyStopped else { return }
        sink.silence()
        for task in tasks { task.cancel() }
        ready.open()
        reading.open()
        if kind == .streamableHTTP, session != nil {
            _ = try? await execute(request(.DELETE, url, accept: "application/json"), timeout: .seconds(2))
        }
    }
}

/// A gate tasks wait at while it is closed.
final class Latch: Sendable {
    private struct State {
        var isOpen: Bool
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    init(open: Bool) { state = Mutex(State(isOpen: open)) }

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.isOpen = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func close() { state.withLock { $0.isOpen = false } }

    func wait() async {
        if state.withLock({ $0.isOpen }) { return }
        await withCheckedContinuation { waiter in
            let open = state.withLock { state -> Bool in
                if state.isOpen { return true }
                state.waiters.append(waiter)
                return false
            }
            if open { waiter.resume() }
        }
    }
}
