import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OrchJSON
import OrchPolicy
import Synchronization

/// A remote MCP server, reached over Streamable HTTP or legacy HTTP+SSE with the gateway's own
/// upstream session and the server's configured headers. The caller's token never travels.
final class RemoteUpstream: Upstream {
    let messages: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let url: String
    private let kind: ServerSpec.RemoteKind
    private let headers: [NameValue]
    private let logger: Logger
    private let label: String
    private let client = HTTPClient.shared

    private struct State {
        var sessionID: String?
        var protocolVersion: String?
        var postURL: String?  // legacy: from the endpoint event
        var tasks: [Task<Void, Never>] = []
        var stopped = false
    }
    private let state = Mutex(State())
    /// Legacy SSE: posts wait until the endpoint event has arrived.
    private let endpointReady: AsyncStream<String>
    private let endpointContinuation: AsyncStream<String>.Continuation

    init(url: String, kind: ServerSpec.RemoteKind, headers: [NameValue], label: String, logger: Logger) {
        self.url = url
        self.kind = kind
        self.headers = headers
        self.label = label
        self.logger = logger
        (messages, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        (endpointReady, endpointContinuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        if kind == .sse { startTask { await self.runLegacyStream() } }
    }

    var pid: Int32? { nil }
    var isRunning: Bool { !state.withLock { $0.stopped } }

    private func startTask(_ body: @escaping @Sendable () async -> Void) {
        let task = Task { await body() }
        state.withLock { $0.tasks.append(task) }
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

    func send(_ message: [UInt8]) async {
        let parsed = (try? JSONValue.parse(message)).flatMap(JSONRPCMessage.init)
        let requestID: JSONValue? = if case .request(let id, _, _)? = parsed { id } else { nil }
        let isInitialize: Bool = { if case .request(_, "initialize", _)? = parsed { true } else { false } }()
        // Exchanges run beside each other, as a client may have several requests in flight; the
        // initialize exchange runs inline so that the upstream session id is known before more.
        let exchange: @Sendable () async -> Void = { [self] in
            do {
                try await self.post(message, isInitialize: isInitialize)
            } catch {
                self.logger.warning("\(self.label): upstream request failed: \(error)")
                if let requestID {
                    self.continuation.yield(Array(JSONRPC.error(id: requestID, code: JSONRPC.internalError, "the upstream server \(self.label) is unavailable").compact.utf8))
                }
                if isInitialize { await self.stop() }
            }
        }
        if isInitialize { await exchange() } else { startTask(exchange) }
    }

    private func post(_ message: [UInt8], isInitialize: Bool) async throws {
        var target = url
        if kind == .sse {
            var iterator = endpointReady.makeAsyncIterator()
            if let known = state.withLock({ $0.postURL }) { target = known } else if let endpoint = await iterator.next() { target = endpoint } else { return }
        }
        let response = try await client.execute(request(.POST, target, body: message, accept: "application/json, text/event-stream"), timeout: .seconds(3600))
        if kind == .sse { return }
        if isInitialize, let session = response.headers.first(name: "Mcp-Session-Id") {
            state.withLock { $0.sessionID = session }
        }
        if response.status == .notFound, state.withLock({ $0.sessionID }) != nil, !isInitialize {
            logger.warning("\(label): the upstream session expired")
            continuation.finish()
            return
        }
        guard (200..<300).contains(response.status.code) else {
            throw GatewayError.upstreamUnavailable("HTTP \(response.status.code)")
        }
        let type = response.headers.first(name: "Content-Type") ?? ""
        if type.contains("text/event-stream") {
            var parser = SSEParser()
            for try await chunk in response.body {
                for event in parser.feed(chunk.readableBytesView) where event.name == "message" { deliver(event.data, initialize: isInitialize) }
            }
        } else if response.status == .ok {
            let body = try await response.body.collect(upTo: StdioUpstream.maxLineBytes)
            if body.readableBytes > 0 { deliver(Array(buffer: body), initialize: isInitialize) }
        }
        if isInitialize { startTask { await self.runServerStream() } }
    }

    private func deliver(_ message: [UInt8], initialize: Bool) {
        if initialize, let version = (try? JSONValue.parse(message))?["result"]?["protocolVersion"]?.stringValue {
            state.withLock { $0.protocolVersion = version }
        }
        continuation.yield(message)
    }

    /// Streamable HTTP: the GET stream of server-initiated messages, when the server offers one.
    private func runServerStream() async {
        guard state.withLock({ $0.sessionID }) != nil else { return }
        do {
            let response = try await client.execute(request(.GET, url, accept: "text/event-stream"), timeout: .hours(24))
            guard response.status == .ok else { return }
            var parser = SSEParser()
            for try await chunk in response.body {
                for event in parser.feed(chunk.readableBytesView) where event.name == "message" { continuation.yield(event.data) }
            }
        } catch {
            logger.debug("\(label): server stream ended: \(error)")
        }
    }

    /// Legacy SSE: the stream carries the POST endpoint first, then every server message.
    private func runLegacyStream() async {
        do {
            let response = try await client.execute(request(.GET, url, accept: "text/event-stream"), timeout: .hours(24))
            guard response.status == .ok else { throw GatewayError.upstreamUnavailable("HTTP \(response.status.code)") }
            var parser = SSEParser()
            for try await chunk in response.body {
                for event in parser.feed(chunk.readableBytesView) {
                    if event.name == "endpoint" {
                        let endpoint = String(decoding: event.data, as: UTF8.self)
                        let absolute = URL(string: endpoint, relativeTo: URL(string: url))?.absoluteURL.absoluteString ?? endpoint
                        state.withLock { $0.postURL = absolute }
                        endpointContinuation.yield(absolute)
                    } else if event.name == "message" {
                        continuation.yield(event.data)
                    }
                }
            }
        } catch {
            logger.warning("\(label): upstream SSE stream failed: \(error)")
        }
        endpointContinuation.finish()
        continuation.finish()
    }

    func stop() async {
        let (tasks, session, alreadyStopped) = state.withLock { state -> ([Task<Void, Never>], String?, Bool) in
            let was = state.stopped
            state.stopped = true
            return (state.tasks, state.sessionID, was)
        }
        guard !alreadyStopped else { return }
        if kind == .streamableHTTP, session != nil {
            _ = try? await client.execute(request(.DELETE, url, accept: "application/json"), timeout: .seconds(5))
        }
        for task in tasks { task.cancel() }
        endpointContinuation.finish()
        continuation.finish()
    }
}
