import Foundation
import Hummingbird
import Logging
import OrchJSON
import OrchPolicy
import Synchronization

/// The tools each server offers, fetched through a short-lived upstream session of the gateway's
/// own (initialize, then every page of `tools/list`) and cached per server for a short time. What
/// a caller sees is then filtered by the policy.
final class ToolCatalog: Sendable {
    private struct Entry {
        let fetched: ContinuousClock.Instant
        let tools: [JSONValue]
    }
    private let cache = Mutex<[String: Entry]>([:])
    let ttl: Duration

    init(ttl: Duration = .seconds(30)) {
        self.ttl = ttl
    }

    /// `cacheKey` names the server and the policy it comes from, so a reload that changes the
    /// server's command or URL is never answered from the old one's cache.
    func tools(cacheKey: String, timeout: Duration, makeUpstream: () throws -> any Upstream) async throws -> [JSONValue] {
        if let entry = cache.withLock({ $0[cacheKey] }), ContinuousClock.now - entry.fetched < ttl {
            return entry.tools
        }
        let upstream = try makeUpstream()
        defer { Task { await upstream.stop() } }
        let tools = try await withThrowingTaskGroup(of: [JSONValue].self) { group in
            group.addTask { try await Self.fetch(from: upstream) }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw GatewayError.timeout("tools/list did not answer within \(timeout.components.seconds) s")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
        cache.withLock { $0[cacheKey] = Entry(fetched: .now, tools: tools) }
        return tools
    }

    private static func fetch(from upstream: any Upstream) async throws -> [JSONValue] {
        var messages = upstream.messages.makeAsyncIterator()
        var nextID: Int64 = 1
        func call(_ method: String, _ params: JSONValue) async throws -> JSONValue {
            let id = nextID
            nextID += 1
            let request: JSONValue = ["jsonrpc": "2.0", "id": .integer(id), "method": .string(method), "params": params]
            await upstream.send(Array(request.compact.utf8))
            while let bytes = await messages.next() {
                guard let reply = try? JSONValue.parse(bytes), reply["id"] == .integer(id) else { continue }
                if let error = reply["error"] {
                    throw GatewayError.upstreamUnavailable("\(method) failed: \(error["message"]?.stringValue ?? "error")")
                }
                return reply["result"] ?? .null
            }
            throw GatewayError.upstreamUnavailable("the server closed before answering \(method)")
        }
        _ = try await call("initialize", [
            "protocolVersion": "2025-06-18", "capabilities": [:],
            "clientInfo": ["name": "orch-gateway", "version": "0.1.0"],
        ])
        let initialized: JSONValue = ["jsonrpc": "2.0", "method": "notifications/initialized"]
        await upstream.send(Array(initialized.compact.utf8))
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
    /// A new upstream for a server: its process, or a connection to the remote server.
    func makeUpstream(_ spec: ServerSpec, label: String) throws -> any Upstream {
        switch spec.transport {
        case .stdio(let command, let args, let env, let cwd):
            do {
                return try StdioUpstream(command: command, args: args, env: env, cwd: cwd, label: label, logger: logger)
            } catch {
                logger.error("cannot start \(label): \(error)")
                metrics.upstreamFailure(server: label)
                throw GatewayError.upstreamUnavailable("the server \(label) could not be started")
            }
        case .remote(let url, let kind, let headers):
            return RemoteUpstream(url: url, kind: kind, headers: headers, label: label, logger: logger)
        }
    }

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
        let results = await withTaskGroup(of: (Int, Result<[JSONValue], any Error>).self) { group in
            for (index, id) in servers.enumerated() {
                group.addTask {
                    let path = policy.serverPath(id)
                    let spec = policy.server(id).spec
                    let timeout = Duration.seconds(spec.timeoutSeconds ?? policy.settings.limits.callTimeoutSeconds)
                    do {
                        let tools = try await self.catalog.tools(cacheKey: "\(policy.digest) \(path)", timeout: timeout) {
                            try self.makeUpstream(spec, label: path)
                        }
                        return (index, .success(tools))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var all: [(Int, Result<[JSONValue], any Error>)] = []
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
                let message = (error as? GatewayError)?.message ?? "the server could not be reached"
                errors.append(["server": .string(path), "message": .string(message)])
            }
        }
        return Response.json(["tools": .array(tools), "errors": .array(errors)])
    }
}
