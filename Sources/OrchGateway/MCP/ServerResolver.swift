import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OrchPolicy

extension HTTPField.Name {
    static let mcpSessionID = HTTPField.Name("Mcp-Session-Id")!
    static let mcpProtocolVersion = HTTPField.Name("MCP-Protocol-Version")!
}

/// The server a request's path names, resolved for its caller.
struct ResolvedServer: Sendable {
    let id: ServerID
    let org: String
    let name: String
    let decision: Decision
    /// `/orgs/ORG/servers/NAME` or, for the short form, `/servers/NAME`.
    let base: String

    var path: String { "\(org)/\(name)" }
}

/// Finds the server and the session a request names, for its caller, and refuses what the caller
/// may not reach with a 404 exactly like a missing one's (the audit log records the real reason).
struct ServerResolver: Sendable {
    /// The time server decisions are made at.
    let clock: WallClock
    /// Where a refused server is audited, with its real reason.
    let auditor: Auditor
    let sessions: SessionTable

    /// The server `org`/`name` (or, without an org, the one server of that name the caller
    /// reaches) if the caller's key may connect to it; nil otherwise. No audit: the fast path
    /// hands anything else to `resolve`.
    func find(_ caller: Caller, org: String?, name: String) -> ResolvedServer? {
        let policy = caller.policy
        let id: ServerID
        if let org {
            guard let found = policy.server(org: org, name: name) else { return nil }
            id = found
        } else {
            let candidates = caller.reachableServers(at: clock.now()).filter { policy.server($0).name == name }
            guard candidates.count == 1 else { return nil }
            id = candidates[0]
        }
        let decision = policy.decide(user: caller.user, server: id, tool: nil, key: caller.key, at: clock.now())
        guard decision.allowed else { return nil }
        let orgName = policy.org(policy.server(id).org).name
        let base = org != nil ? Endpoints.serverPath(org: orgName, server: name) : "/servers/\(name)"
        return ResolvedServer(id: id, org: orgName, name: name, decision: decision, base: base)
    }

    func resolve(_ request: Request, _ context: GatewayContext, hasOrg: Bool, method: String) throws -> ResolvedServer {
        let caller = try context.requireCaller()
        let policy = caller.policy
        let name = context.parameters.get("server") ?? ""
        let now = clock.now()
        var candidates: [ServerID] = []
        if hasOrg {
            let org = context.parameters.get("org") ?? ""
            if let id = policy.server(org: org, name: name) { candidates = [id] }
        } else {
            candidates = caller.reachableServers(at: now).filter { policy.server($0).name == name }
        }
        let shown = hasOrg ? "\(context.parameters.get("org") ?? "")/\(name)" : name
        guard candidates.count == 1, let id = candidates.first else {
            let reason = candidates.isEmpty ? "no server \(shown) for \(caller.userName)" : "\(name) is ambiguous: \(caller.userName) reaches \(candidates.count) servers of that name"
            auditor.record(context, request: request, caller: caller, decision: .deny, reason: reason, status: 404, started: .now, server: name, mcpMethod: method)
            guard candidates.count > 1 else { throw GatewayError.notFound("no server \(shown)") }
            // Every candidate is one the caller reaches, so naming their orgs reveals nothing.
            let endpoint = request.uri.path.hasSuffix("/mcp") ? "mcp" : "sse"
            let urls = candidates.map { Endpoints.serverPath(org: policy.org(policy.server($0).org).name, server: name) + "/" + endpoint }
            throw GatewayError.notFound("server name \(name) is ambiguous: you reach servers of that name in \(candidates.count) orgs; use \(urls.joined(separator: " or "))")
        }
        let decision = policy.decide(user: caller.user, server: id, tool: nil, key: caller.key, at: now)
        let org = policy.org(policy.server(id).org).name
        guard decision.allowed else {
            auditor.record(context, request: request, caller: caller, decision: .deny, reason: policy.describe(decision.reason), status: 404, started: .now, org: org, server: name, mcpMethod: method)
            throw GatewayError.notFound("no server \(shown)")
        }
        let base = hasOrg ? Endpoints.serverPath(org: org, server: name) : "/servers/\(name)"
        return ResolvedServer(id: id, org: org, name: name, decision: decision, base: base)
    }

    /// The open session `id`, if it belongs to this key (or sign-in) and server. A missing id is 400; an
    /// unknown or ended one 404, which tells a client to initialize again.
    func session(_ id: String?, _ server: ResolvedServer, _ caller: Caller) throws -> MCPSession {
        guard let id else { throw GatewayError.badRequest("missing Mcp-Session-Id header: send initialize first") }
        guard let session = sessions.session(id), session.transport != .heldLeg, session.org == server.org,
            session.server == server.name, session.access.binding.admits(caller)
        else { throw GatewayError.unknownSession() }
        return session
    }

    func checkProtocolVersion(_ request: Request) throws {
        if let version = request.headers[.mcpProtocolVersion], !JSONRPC.supportedVersions.contains(version) {
            throw GatewayError.badRequest("unsupported MCP-Protocol-Version \(version)")
        }
    }

    /// The timeout for one request to this server.
    func callTimeout(_ caller: Caller, _ server: ResolvedServer) -> TimeAmount {
        .seconds(Int64(caller.policy.timeoutSeconds(of: server.id) ?? caller.policy.settings.limits.callTimeoutSeconds))
    }
}

/// How a Streamable HTTP POST starts, on every endpoint.
enum PostStart {
    /// Answered already: a body that is no JSON-RPC message, or a discover probe.
    case answered(Response)
    /// The message, and the request's `Mcp-Session-Id`.
    case message(IncomingMessage, session: String?)
    /// A 2026-07-28 request (`RequestEra`), for an endpoint that serves that era.
    case modern(IncomingMessage)
}

/// Something that answers MCP requests: the parts it works with are views of the gateway, made
/// where they are used.
protocol MCPEndpoint: Sendable {
    var gateway: Gateway { get }
}

extension MCPEndpoint {
    var resolver: ServerResolver { gateway.resolver }
    var opener: SessionOpener { SessionOpener(gateway: gateway) }
    var recreation: SessionRecreation { SessionRecreation(gateway: gateway) }
    var guardian: CallGuard { gateway.callGuard }

    /// Reads and parses a POST's body (within `maxBodyBytes`), hands a 2026-07-28 request to an
    /// endpoint that serves that era, answers its probe elsewhere (`server/discover` without a
    /// session: "method not found", before any version check, makes such clients fall back to
    /// initialize), and checks `MCP-Protocol-Version`.
    func start(_ request: Request, _ context: GatewayContext, servesModern: Bool = false) async throws -> PostStart {
        let incoming: IncomingMessage
        switch try await IncomingMessage.read(request, limit: gateway.maxBodyBytes) {
        case .success(let message): incoming = message
        case .failure(let error): return .answered(Response.json(error.value, status: .badRequest))
        }
        if let refusal = context.limited {
            gateway.auditor.record(context, request: request, caller: context.caller, decision: .deny, reason: refusal.message,
                                   status: 200, started: .now, mcpMethod: incoming.message.method ?? "message")
            // A notification or a response has no id to answer: the POST itself is refused.
            guard case .request(let id, _, _) = incoming.message else { throw GatewayError.limited(refusal) }
            return .answered(Response.json(CallGuard.limitReply(id: id, refusal)))
        }
        if servesModern, RequestEra(headers: request.headers, message: incoming.message) == .modern { return .modern(incoming) }
        let sessionID = request.headers[.mcpSessionID]
        if case .request(let id, "server/discover", _) = incoming.message, sessionID == nil {
            return .answered(Response.json(JSONRPC.discoverRefusal(id)))
        }
        try resolver.checkProtocolVersion(request)
        return .message(incoming, session: sessionID)
    }
}
