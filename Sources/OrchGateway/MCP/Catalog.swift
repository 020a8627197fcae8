import Foundation
import Hummingbird
import Logging
import NIOCore
import OrchJSON
import OrchPolicy
import Synchronization

/// What one server offers: every page of its tools, prompts, resources and resource templates.
struct ServerListing: Sendable {
    var tools: [JSONValue] = [] {
        didSet {
            headerSchemas = [:]
            for tool in tools {
                guard let name = tool["name"]?.stringValue, let schema = tool["inputSchema"],
                    ParamHeaderDeclarations(inputSchema: schema)?.declarations.isEmpty == false
                else { continue }
                headerSchemas[name] = schema
            }
        }
    }
    /// The input schemas of the tools that declare `Mcp-Param-*` headers, by name: the only ones a
    /// 2026-07-28 call's headers are checked against.
    private(set) var headerSchemas: [String: JSONValue] = [:]
    var prompts: [JSONValue] = []
    var resources: [JSONValue] = []
    var resourceTemplates: [JSONValue] = []

    func items(_ kind: ItemKind) -> [JSONValue] {
        switch kind {
        case .tool: tools
        case .prompt: prompts
        case .resource: resources
        }
    }
}

/// What each server offers, fetched through a short-lived upstream session of the gateway's own
/// (initialize, then every page of each list the server declares) and cached per server: a
/// listing for 30 s, a failure for 5 s. Concurrent requests for the same server share one fetch.
/// What a caller sees is then filtered by the policy.
final class Catalog: Sendable {
    typealias Outcome = Result<ServerListing, UpstreamError>

    private enum Entry {
        case fetched(at: ContinuousClock.Instant, Outcome)
        case inFlight([CheckedContinuation<Outcome, Never>])
    }
    private let cache = Mutex<[String: Entry]>([:])
    private let headerSchemasSeen = Atomic<Bool>(false)
    let ttl: Duration
    let failureTTL: Duration

    init(ttl: Duration = .seconds(30), failureTTL: Duration = .seconds(5)) {
        self.ttl = ttl
        self.failureTTL = failureTTL
    }

    /// Whether any listing fetched so far has a tool declaring `Mcp-Param-*` headers: until one
    /// has, no 2026-07-28 call needs its headers checked, and none looks its server's listing up.
    var hasSeenHeaderSchemas: Bool { headerSchemasSeen.load(ordering: .relaxed) }

    /// What the last fetch for `cacheKey` found, if one finished and is still kept; never fetches.
    func known(cacheKey: String) -> Outcome? {
        cache.withLock { cache in
            guard case .fetched(let at, let outcome)? = cache[cacheKey] else { return nil }
            let fresh = if case .success = outcome { ContinuousClock.now - at < ttl } else { ContinuousClock.now - at < failureTTL }
            return fresh ? outcome : nil
        }
    }

    /// `cacheKey` names the server and the policy it comes from, so a reload that changes the
    /// server's command or URL is never answered from the old one's cache.
    /// `fresh`: a kept outcome is not used (a fetch in flight still is).
    func listing(cacheKey: String, fresh mustFetch: Bool = false, fetch: @escaping @Sendable () async -> Outcome) async -> Outcome {
        enum Step { case done(Outcome), wait, fetch }
        let now = ContinuousClock.now
        let step = cache.withLock { cache -> Step in
            switch cache[cacheKey] {
            case .fetched(let at, let outcome)?:
                let fresh = if case .success = outcome { now - at < ttl } else { now - at < failureTTL }
                if fresh, !mustFetch { return .done(outcome) }
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
            if case .success(let listing) = outcome, !listing.headerSchemas.isEmpty { headerSchemasSeen.store(true, ordering: .relaxed) }
            let waiters = cache.withLock { cache -> [CheckedContinuation<Outcome, Never>] in
                defer { cache[cacheKey] = .fetched(at: .now, outcome) }
                if case .inFlight(let waiters)? = cache[cacheKey] { return waiters }
                return []
            }
            for waiter in waiters { waiter.resume(returning: outcome) }
            return outcome
        }
    }

    /// Lists what `upstream` offers: initialize (or, for a server of the 2026-07-28 era, discover),
    /// then every page of `tools/list` and, where the server declares them, of `prompts/list`,
    /// `resources/list` and `resources/templates/list`, all within `timeout`. `era` is the server's
    /// when known; otherwise (nil) it is asked and told to `learned`.
    static func fetch(from upstream: any Upstream, timeout: Duration, era: UpstreamEras.Era? = .legacy,
                      learned: @escaping @Sendable (JSONValue?) -> UpstreamEras.Era = { _ in .legacy }) async -> Outcome {
        let (messages, continuation) = AsyncStream.makeStream(of: Result<[UInt8], UpstreamError>.self, bufferingPolicy: .bufferingOldest(1024))
        upstream.start(UpstreamEvents(
            receive: { continuation.yield(.success($0)) },
            closed: { error in
                continuation.yield(.failure(error))
                continuation.finish()
            }))
        defer { continuation.finish() }
        do {
            return .success(try await withThrowingTaskGroup(of: ServerListing.self) { group in
                group.addTask { try await list(upstream, messages, era: era, learned: learned) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw UpstreamError.timedOut("the server's lists did not answer within \(timeout.components.seconds) s")
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

    private static func list(
        _ upstream: any Upstream, _ messages: AsyncStream<Result<[UInt8], UpstreamError>>, era: UpstreamEras.Era?,
        learned: (JSONValue?) -> UpstreamEras.Era
    ) async throws -> ServerListing {
        var conversation = ListingConversation(upstream: upstream, iterator: messages.makeAsyncIterator())
        let clientInfo: JSONValue = ["name": "orch-gateway", "version": .string(Gateway.version)]
        let modern = ModernUpstream.envelope(initialize: ["capabilities": [:], "clientInfo": clientInfo])
        var known = era
        if known == nil {
            known = learned(try await conversation.ask(MCPMethod.discover.rawValue, ["_meta": .object(modern)]))
        }
        let capabilities: JSONValue?
        if case .modern(let discover)? = known {
            conversation.envelope = modern
            capabilities = discover["capabilities"]
        } else {
            let initialized = try await conversation.call("initialize", [
                "protocolVersion": .string(JSONRPC.latestVersion), "capabilities": [:], "clientInfo": clientInfo,
            ])
            capabilities = initialized?["capabilities"]
            let notification: JSONValue = ["jsonrpc": "2.0", "method": "notifications/initialized"]
            upstream.send(Array(notification.compact.utf8))
        }
        var listing = ServerListing()
        listing.tools = try await conversation.pages("tools/list", "tools")
        if capabilities?["prompts"] != nil { listing.prompts = try await conversation.pages("prompts/list", "prompts") }
        if capabilities?["resources"] != nil {
            listing.resources = try await conversation.pages("resources/list", "resources")
            listing.resourceTemplates = try await conversation.pages("resources/templates/list", "resourceTemplates")
        }
        return listing
    }
}

/// The catalog's requests to one server and their replies, in turn.
private struct ListingConversation {
    let upstream: any Upstream
    var iterator: AsyncStream<Result<[UInt8], UpstreamError>>.AsyncIterator
    var nextID: Int64 = 1
    /// Set for a server of the 2026-07-28 era: every request carries it.
    var envelope: JSONObject? = nil

    init(upstream: any Upstream, iterator: AsyncStream<Result<[UInt8], UpstreamError>>.AsyncIterator) {
        self.upstream = upstream
        self.iterator = iterator
    }

    /// The reply to `method`.
    mutating func ask(_ method: String, _ params: JSONObject) async throws -> JSONValue {
        let id = nextID
        nextID += 1
        var params = params
        if let envelope { params = ModernUpstream.enveloped(params, envelope) ?? params }
        upstream.send(MCPSession.encode(JSONRPC.request(id: .integer(id), method: method, params: params)))
        while let next = await iterator.next() {
            let bytes = try next.get()
            guard let reply = try? JSONRPC.parse(bytes), reply["id"] == .integer(id) else { continue }
            return reply
        }
        throw UpstreamError.exited("the server closed before answering \(method)")
    }

    /// The result, or nil when the server does not know the method.
    mutating func call(_ method: String, _ params: JSONObject) async throws -> JSONValue? {
        let reply = try await ask(method, params)
        if let error = reply["error"] {
            if error["code"] == .integer(JSONRPC.methodNotFound) && method != "initialize" { return nil }
            throw UpstreamError.refused("\(method) failed: \(error["message"]?.stringValue ?? "error")")
        }
        return reply["result"] ?? .null
    }

    /// Every page of a list.
    mutating func pages(_ method: String, _ field: String) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var cursor: String? = nil
        repeat {
            guard let page = try await call(method, cursor.map { ["cursor": .string($0)] } ?? [:]) else { return items }
            items += page[field]?.arrayValue ?? []
            cursor = page["nextCursor"]?.stringValue
        } while cursor != nil && items.count < 10_000
        return items
    }
}

extension Gateway {
    /// `GET /api/v1/tools`, `/prompts` and `/resources` (`?server=ORG/SERVER` for one): what every
    /// reachable server offers that this key may use; a server that fails is listed in `errors`,
    /// not fatal. Resources come with the resource templates of the servers where the key may read
    /// some resource.
    func catalogResponse(_ kind: ItemKind, _ request: Request, _ context: GatewayContext) async throws -> Response {
        let caller = try context.requireCaller()
        let policy = caller.policy
        var servers = reachableServers(caller)
        if let only = request.uri.queryParameters.get("server") {
            servers = servers.filter { policy.serverPath($0) == only }
            if servers.isEmpty {
                auditor.record(context, request: request, caller: caller, decision: .deny, reason: "no reachable server \(only)", status: 404, started: .now, server: only)
                throw GatewayError.notFound("no server \(only)")
            }
        }
        let results = await withTaskGroup(of: (Int, Catalog.Outcome).self) { group in
            for (index, id) in servers.enumerated() {
                group.addTask { (index, await self.catalogListing(policy, id, user: caller.userName)) }
            }
            var all: [(Int, Catalog.Outcome)] = []
            for await result in group { all.append(result) }
            return all.sorted { $0.0 < $1.0 }
        }
        var items: [JSONValue] = []
        var templates: [JSONValue] = []
        var errors: [JSONValue] = []
        let now = clock.now()
        for (index, result) in results {
            let id = servers[index]
            let path = policy.serverPath(id)
            switch result {
            case .success(let listing):
                let overrides = kind == .tool ? policy.toolOverrides(of: id) : ToolOverrides()
                for entry in listing.items(kind) {
                    guard let name = entry[kind == .resource ? "uri" : "name"]?.stringValue, let item = Item.named(kind, name),
                        policy.decide(user: caller.user, server: id, item: item, key: caller.key, at: now).allowed,
                        let exposed = overrides.apply(entry)
                    else { continue }
                    var shown = Self.catalogEntry(kind, exposed, server: path)
                    if kind == .tool, case .object(var object) = shown {
                        object["upstreamName"] = .string(name)
                        shown = .object(object)
                    }
                    if kind != .resource, pinCheck.mode != .off, case .object(var object) = shown {
                        object["pin"] = .string(pins.status(server: path, kind, entry).rawValue)
                        shown = .object(object)
                    }
                    items.append(shown)
                }
                if kind == .resource, policy.grantsSome(.resource, user: caller.user, server: id, key: caller.key, at: now) {
                    templates += listing.resourceTemplates.map { template in
                        [
                            "server": .string(path), "uriTemplate": template["uriTemplate"] ?? .null, "name": template["name"] ?? .null,
                            "title": template["title"] ?? .null, "description": template["description"] ?? .null,
                            "mimeType": template["mimeType"] ?? .null,
                        ]
                    }
                }
            case .failure(let error):
                let limit = policy.settings.limits.maxUpstreamProcesses
                errors.append(["server": .string(path), "message": .string(Self.catalogFailure(error, processLimit: limit))])
                continue
            }
            // Listed here, yet failing for the caller on the aggregated endpoints (left out there until it answers).
            if let failing = health.waiting(UpstreamHealth.Key(server: path, credential: caller.credential)) {
                errors.append(["server": .string(path), "message": .string("left out of the aggregated and toolset endpoints: " + AggregateEndpoint.failingMessage(failing, withReason: false))])
            }
        }
        // An empty view of tools says why, from the policy.
        if kind == .tool, items.isEmpty, let reason = emptyView(caller, servers: servers) {
            errors.insert(["server": servers.count == 1 ? .string(policy.serverPath(servers[0])) : nil, "message": .string(reason)], at: 0)
        }
        var body: JSONObject = [kind.plural: .array(items)]
        if kind == .resource { body["resourceTemplates"] = .array(templates) }
        body["errors"] = .array(errors)
        return Response.json(.object(body))
    }

    /// One item as the REST API shows it, with the server it comes from.
    private static func catalogEntry(_ kind: ItemKind, _ entry: JSONValue, server: String) -> JSONValue {
        switch kind {
        case .tool:
            ["server": .string(server), "name": entry["name"] ?? .null, "description": entry["description"] ?? .null,
             "inputSchema": entry["inputSchema"] ?? .null]
        case .prompt:
            ["server": .string(server), "name": entry["name"] ?? .null, "title": entry["title"] ?? .null,
             "description": entry["description"] ?? .null, "arguments": entry["arguments"] ?? .array([])]
        case .resource:
            ["server": .string(server), "uri": entry["uri"] ?? .null, "name": entry["name"] ?? .null, "title": entry["title"] ?? .null,
             "description": entry["description"] ?? .null, "mimeType": entry["mimeType"] ?? .null]
        }
    }

    /// What the API says of a server whose lists could not be fetched: the kind of failure, not the
    /// upstream's own message, which may name its command, cwd, host or URL (never shown by the
    /// API); the gateway's log has that.
    static func catalogFailure(_ error: UpstreamError, processLimit: Int) -> String {
        switch error.kind {
        case .couldNotStart: "the server could not be started or reached"
        case .exited: "the server exited or ended its session before listing"
        case .timedOut: "the server did not list in time"
        case .flooded: "the server broke a bound of the gateway"
        case .refused where error == .refused(processLimitMessage(processLimit)): error.message
        case .refused: "the server refused the gateway's requests"
        case .stopped: "the listing was stopped"
        case .missingSecret, .notConnected: error.message
        case .unforwardable: "the server sent a message the gateway cannot read"
        }
    }

    /// The server as `user` runs it and the catalog's key for its listing: the policy and server,
    /// and for a per-user server the user and a digest of their secrets' values.
    func catalogSource(_ policy: Policy, _ id: ServerID, user: String?) -> Result<(ServerSpec, String), UpstreamError> {
        let key = "\(policy.digest) \(policy.serverPath(id))"
        if policy.server(id).spec.oauth != nil {
            // Listed with the caller's own token, kept for their account as connected then.
            guard let user else { return .failure(.refused("a server of connected accounts is listed only with a user's own account")) }
            guard let account = account(policy, id, user: user) else { return .failure(.refused("connected accounts are off")) }
            return accounts.stored(account).map { stored in (policy.server(id).spec, key + " account \(user) \(stored.connectedAt)") }
                .mapError { .notConnected($0) }
        }
        guard !policy.server(id).spec.userSecrets.isEmpty else { return .success((policy.server(id).spec, key)) }
        guard let user else { return .failure(.refused("a per-user server is listed only with a user's own secrets")) }
        return serverSpec(policy, id, user: user).map { spec, use in (spec, key + " user \(user) \(use?.digest ?? "")") }
            .mapError { .missingSecret($0) }
    }

    /// Whether the gateway reaches a server, as its last listing found (text and a CSS class); a
    /// server not listed lately is listed in the background, so the next look knows.
    func reachability(_ policy: Policy, _ id: ServerID, user: String) -> (String, String) {
        let key: String
        switch catalogSource(policy, id, user: user) {
        case .success(let (_, found)): key = found
        case .failure(let error): return ("unreachable for you: " + error.message, "bad")
        }
        switch catalog.known(cacheKey: key) {
        case .success(let listing)?:
            return ("reachable: \(listing.tools.count) tool\(listing.tools.count == 1 ? "" : "s")", "ok")
        case .failure(let error)?:
            return ("unreachable: " + Self.catalogFailure(error, processLimit: policy.settings.limits.maxUpstreamProcesses), "bad")
        case nil:
            Task { _ = await self.catalogListing(policy, id, user: user) }
            return ("checking…", "unknown")
        }
    }

    static func processLimitMessage(_ limit: Int) -> String {
        "the gateway runs its maximum of \(limit) upstream processes; retry later"
    }

    /// One server's listing from the catalog; a fetch takes one of the gateway's process slots.
    /// A per-user server is listed with `user`'s own secrets, and kept for that user and those
    /// values only; without a user it is not listed.
    func catalogListing(_ policy: Policy, _ id: ServerID, user: String? = nil, fresh: Bool = false) async -> Catalog.Outcome {
        let path = policy.serverPath(id)
        let spec: ServerSpec, cacheKey: String
        switch catalogSource(policy, id, user: user) {
        case .success(let source): (spec, cacheKey) = source
        case .failure(let error): return .failure(error)
        }
        let timeout = Duration.seconds(spec.timeoutSeconds ?? policy.settings.limits.callTimeoutSeconds)
        let processLimit = policy.settings.limits.maxUpstreamProcesses
        let usesProcess = if case .stdio = spec.transport { true } else { false }
        return await catalog.listing(cacheKey: cacheKey, fresh: fresh) {
            if usesProcess {
                guard self.sessions.reserveProcess(limit: processLimit) else {
                    return .failure(.refused(Self.processLimitMessage(processLimit)))
                }
            }
            defer { if usesProcess { self.sessions.releaseProcess() } }
            let outcome: Catalog.Outcome
            do {
                let account = user.flatMap { self.upstreamAccount(policy, id, user: $0) }
                let upstream = try await self.upstreams.make(spec, label: path, account: account, waits: false)
                let definition = policy.server(id).spec
                outcome = await Catalog.fetch(from: upstream, timeout: timeout, era: self.eras.era(of: definition)) { reply in
                    let era = self.eras.read(discoverReply: reply, path: path, logger: self.logger)
                    if definition.upstreamProtocol == .auto || era != .legacy { self.eras.remember(era, for: definition) }
                    return era
                }
                await upstream.stop()
            } catch let error as UpstreamError {
                outcome = .failure(error)
            } catch {
                outcome = .failure(.couldNotStart("\(error)"))
            }
            switch outcome {
            case .failure(let error):
                self.logger.warning("cannot list \(path): \(error.detail)")
            case .success(let listing):
                // An override of a tool the server does not have changes nothing: said, never fatal.
                let missing = spec.overrides.missing(from: Set(listing.tools.compactMap { $0["name"]?.stringValue }))
                if !missing.isEmpty {
                    self.logger.warning("\(path) lists no tool \(missing.joined(separator: ", ")) that its overrides name: check overrides.tools")
                }
            }
            return outcome
        }
    }
}
