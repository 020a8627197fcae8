import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OrchJSON
import OrchPolicy
import Synchronization

/// A remote MCP server, reached over Streamable HTTP or legacy HTTP+SSE with the gateway's own
/// upstream session and the server's configured headers. The caller's token never travels, and
/// the configured headers go to the server's own origin only: redirects are not followed and a
/// legacy `endpoint` on another origin is refused.
final class RemoteUpstream: Upstream {
    private let url: String
    private let kind: ServerSpec.RemoteKind
    private let headers: [NameValue]
    private let logger: Logger
    private let label: String
    private let client: HTTPClient
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
    }
    private let state = Mutex(State())

    init(url: String, kind: ServerSpec.RemoteKind, headers: [NameValue], label: String, logger: Logger, client: HTTPClient) {
        self.url = url
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
    /// forgotten, so a long session keeps no record of its past exchanges.
    private func startTask(_ body: @escaping @Sendable () async -> Void) {
        guard let id = state.withLock({ state -> Int? in
            guard !state.stopped else { return nil }
            state.nextTask += 1
            return state.nextTask
        }) else { return }
        let task = Task {
            await body()
            self.state.withLock { state in
                if state.tasks.removeValue(forKey: id) == nil { state.finishedEarly.insert(id) }
            }
        }
        let stopped = state.withLock { state -> Bool in
            if state.finishedEarly.remove(id) == nil, !state.stopped { state.tasks[id] = task }
            return state.stopped
        }
        if stopped { task.cancel() }
    }

    private func request(_ method: HTTPMethod, _ url: String, body: [UInt8]? = nil, accept: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for header in headers { request.headers.add(name: header.name, value: header.value) }
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

    /// Each message is its own exchange, run beside the others, as a client may have several
    /// requests in flight; all but `initialize` wait until the upstream session is ready.
    func send(_ message: [UInt8]) {
        let parsed = (try? JSONRPC.parse(message)).flatMap(JSONRPCMessage.init)
        let requestID: JSONValue? = if case .request(let id, _, _)? = parsed { id } else { nil }
        let isInitialize = if case .request(_, "initialize", _)? = parsed { true } else { false }
        startTask { [self] in
            do {
                if !isInitialize || kind == .sse { await ready.wait() }
                try Task.checkCancellation()
                try await post(message, isInitialize: isInitialize)
            } catch let error as UpstreamError {
                fail(error, requestID: requestID, isInitialize: isInitialize)
            } catch is CancellationError {
                return
            } catch {
                fail(.couldNotStart("\(error)"), requestID: requestID, isInitialize: isInitialize)
            }
        }
    }

    /// A failed initialize ends the upstream; a failed request gets an error reply.
    private func fail(_ error: UpstreamError, requestID: JSONValue?, isInitialize: Bool) {
        logger.warning("\(label): upstream request failed: \(error.detail)")
        if isInitialize {
            sink.closed(error)
        } else if let requestID {
            sink.receive(Array(JSONRPC.error(id: requestID, code: JSONRPC.internalError, "the upstream server \(label) is unavailable: \(error.message)").compact.utf8))
        }
    }

    private func post(_ message: [UInt8], isInitialize: Bool) async throws {
        let target = kind == .sse ? state.withLock({ $0.postURL }) ?? url : url
        let response = try await client.execute(request(.POST, target, body: message, accept: "application/json, text/event-stream"), timeout: .hours(1))
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
                let response = try await client.execute(request(.GET, url, accept: "text/event-stream"), timeout: .hours(24))
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
            let response = try await client.execute(request(.GET, url, accept: "text/event-stream"), timeout: .hours(24))
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
            _ = try? await client.execute(request(.DELETE, url, accept: "application/json"), timeout: .seconds(2))
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
