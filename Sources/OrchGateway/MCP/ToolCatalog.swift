import Foundation
import Hummingbird
import NIOCore
import OrchJSON
import OrchPolicy
import Synchronization

/// The tools each server offers, fetched through a short-lived upstream session of the gateway's
/// own (initialize, then every page of `tools/list`) and cached per server: a list for 30 s, a
/// failure for 5 s. Concurrent requests for the same server share one fetch. What a caller sees is
/// then filtered by the policy.
final class ToolCatalog: Sendable {
    typealias Outcome = Result<[JSONValue], UpstreamError>

    private enum Entry {
        case fetched(at: ContinuousClock.Instant, Outcome)
        case inFlight([CheckedContinuation<Outcome, Never>])
    }
    private let cache = Mutex<[String: Entry]>([:])
    let ttl: Duration
    let failureTTL: Duration

    init(ttl: Duration = .seconds(30), failureTTL: Duration = .seconds(5)) {
        self.ttl = ttl
        self.failureTTL = failureTTL
    }

    /// `cacheKey` names the server and the policy it comes from, so a reload that changes the
    /// server's command or URL is never answered from the old one's cache.
    func tools(cacheKey: String, fetch: @escaping @Sendable () async -> Outcome) async -> Outcome {
        enum Step { case done(Outcome), wait, fetch }
        let now = ContinuousClock.now
        let step = cache.withLock { cache -> Step in
            switch cache[cacheKey] {
            case .fetched(let at, let outcome)?:
                let fresh = if case .success = outcome { now - at < ttl } else { now - at < failureTTL }
                if fresh { return .done(outcome) }
            case .inFlight?:
                return .wait
            case nil:
                break
            }
            cache[cacheKey] = .inFlight([])
            return .fetch
        }
        switch step {
        case .done(let outcome):
            return outcome
        case .wait:
            return await withCheckedContinuation { waiter in
                let ready = cache.withLock { cache -> Outcome? in
                    switch cache[cacheKey] {
                    case .inFlight(var waiters)?:
                        waiters.append(waiter)
                        cache[cacheKey] = .inFlight(waiters)
                        return nil
                    case .fetched(_, let outcome)?: return outcome
                    case nil: return .failure(.exited("the fetch was abandoned"))
                    }
                }
                if let ready { waiter.resume(returning: ready) }
            }
        case .fetch:
            let outcome = await fetch()
            let waiters = cache.withLock { cache -> [CheckedContinuation<Outcome, Never>] in
                defer { cache[cacheKey] = .fetched(at: .now, outcome) }
                if case .inFlight(let waiters)? = cache[cacheKey] { return waiters }
                return []
            }
            for waiter in waiters { waiter.resume(returning: outcome) }
            return outcome
        }
    }

    /// Lists every tool of `upstream`: initialize, then every page of `tools/list`, within `timeout`.
    static func fetch(from upstream: any Upstream, timeout: Duration) async -> Outcome {
        let (messages, continuation) = AsyncStream.makeStream(of: Result<[UInt8], UpstreamError>.self, bufferingPolicy: .bufferingOldest(1024))
        upstream.start(UpstreamEvents(
            receive: { continuation.yield(.success($0)) },
            closed: { error in
                continuation.yield(.failure(error))
                continuation.finish()
            }))
        defer { continuation.finish() }
        do {
            return .success(try await withThrowingTaskGroup(of: [JSONValue].self) { group in
                group.addTask { try await list(upstream, messages) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw UpstreamError.timedOut("tools/list did not answer within \(timeout.components.seconds) s")
                }
                defer { group.cancelAll() }
                return try await group.next()!
            })
        } catch let error as UpstreamError {
            return .failure(error)
        } catch {
            return .failure(.exited("\(error)"))
        }
    }

    private static func list(_ upstream: any Upstream, _ messages: AsyncStream<Result<[UInt8], UpstreamError>>) async throws -> [JSONValue] {
        var iterator = messages.makeAsyncIterator()
        var nextID: Int64 = 1
        func call(_ method: String, _ params: JSONValue) async throws -> JSONValue {
            let id = nextID
            nextID += 1
            let request: JSONValue = ["jsonrpc": "2.0", "id": .integer(id), "method": .string(method), "params": params]
            upstream.send(Array(request.compact.utf8))
            while let next = await iterator.next() {
                let bytes = try next.get()
                guard let reply = try? JSONValue.parse(bytes), reply["id"] == .integer(id) else { continue }
                if let error = reply["error"] {
                    throw UpstreamError.refused("\(method) failed: \(error["message"]?.stringValue ?? "error")")
                }
                return reply["result"] ?? .null
            }
            throw UpstreamError.exited("the server closed before answering \(method)")
        }
        _ = try await call("initialize", [
            "protocolVersion": "2025-06-18", "capabilities": [:],
            "clientInfo": ["name": "orch-gateway", "version": "0.1.0"],
        ])
        let initialized: JSONValue = ["jsonrpc": "2.0", "method": "notifications/initialized"]
        upstream.send(Array(initialized.compact.utf8))
        var tools: [JSONValue] = []
        var cursor: String? = nil
        repeat {
            let page = try await call("tools/list", cursor.map { ["cursor": .string($0)] } ?? [:])
            tools += page["tools"]?.arrayValue ?? []
            cursor = page["nextCursor"]?.stringValue
        } while cursor != nil && tools.count < 10_000
        return tools
    }
}

extension Gateway {
    /// `GET /api/v1/tools[?server=ORG/SERVER]`: every reachable server's tools that this key may
    /// call; a server that fails is listed in `errors`, not fatal.
    func toolsResponse(_ request: Request, _ context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let policy = caller.policy
        var servers = reachableServers(caller)
        if let only = request.uri.queryParameters.get("server") {
            servers = servers.filter { policy.serverPath($0) == only }
            if servers.isEmpty {
                audit(context, request: request, caller: caller, decision: "deny", reason: "no reachable server \(only)", status: 404, started: .now, server: only)
                throw GatewayError.notFound("no server \(only)")
            }
        }
        let results = await withTaskGroup(of: (Int, ToolCatalog.Outcome).self) { group in
            for (index, id) in servers.enumerated() {
                group.addTask { (index, await self.catalogTools(policy, id)) }
            }
            var all: [(Int, ToolCatalog.Outcome)] = []
            for await result in group { all.append(result) }
            return all.sorted { $0.0 < $1.0 }
        }
        var tools: [JSONValue] = []
        var errors: [JSONValue] = []
        let now = Date()
        for (index, result) in results {
            let id = servers[index]
            let path = policy.serverPath(id)
            switch result {
            case .success(let list):
                for tool in list {
                    guard let name = tool["name"]?.stringValue,
                        policy.decide(user: caller.user, server: id, tool: name, key: caller.key, at: now).allowed
                    else { continue }
                    tools.append([
                        "server": .string(path), "name": .string(name), "description": tool["description"] ?? .null,
                        "inputSchema": tool["inputSchema"] ?? .null,
                    ])
                }
            case .failure(let error):
                errors.append(["server": .string(path), "message": .string(error.message)])
            }
        }
        return Response.json(["tools": .array(tools), "errors": .array(errors)])
    }

    /// One server's tool list from the catalog; a fetch takes one of the gateway's process slots.
    private func catalogTools(_ policy: Policy, _ id: ServerID) async -> ToolCatalog.Outcome {
        let path = policy.serverPath(id)
        let spec = policy.server(id).spec
        let timeout = Duration.seconds(spec.timeoutSeconds ?? policy.settings.limits.callTimeoutSeconds)
        let processLimit = policy.settings.limits.maxUpstreamProcesses
        let usesProcess = if case .stdio = spec.transport { true } else { false }
        return await catalog.tools(cacheKey: "\(policy.digest) \(path)") {
            if usesProcess {
                guard self.sessions.reserveProcess(limit: processLimit) else {
                    return .failure(.refused("the gateway runs its maximum of \(processLimit) upstream processes; retry later"))
                }
            }
            defer { if usesProcess { self.sessions.releaseProcess() } }
            let upstream: any Upstream
            do {
                upstream = try await self.upstreams.make(spec, label: path)
            } catch let error as UpstreamError {
                return .failure(error)
            } catch {
                return .failure(.couldNotStart("\(error)"))
            }
            let outcome = await ToolCatalog.fetch(from: upstream, timeout: timeout)
            await upstream.stop()
            return outcome
        }
    }
}
