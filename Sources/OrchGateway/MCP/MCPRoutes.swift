import Hummingbird

/// The MCP endpoints, long form (`/orgs/{org}/servers/{server}/…`) and short form
/// (`/servers/{server}/…`, when the caller reaches exactly one server of that name).
struct MCPRoutes: Sendable {
    let gateway: Gateway

    func addRoutes(to router: Router<GatewayContext>) {
        let auth = AuthMiddleware(gateway: gateway)
        let streamable = StreamableHTTPEndpoint(gateway: gateway)
        let legacy = LegacySSEEndpoint(gateway: gateway)
        for (group, hasOrg) in [(router.group("orgs/{org}/servers/{server}").add(middleware: auth), true),
                                (router.group("servers/{server}").add(middleware: auth), false)] {
            group.post("mcp") { request, context in
                try await EventLoopExecutor.run(on: context.channel.eventLoop) { try await streamable.post(request, context, hasOrg: hasOrg) }
            }
            group.get("mcp") { request, context in try await streamable.get(request, context, hasOrg: hasOrg) }
            group.delete("mcp") { request, context in try await streamable.delete(request, context, hasOrg: hasOrg) }
            group.get("sse") { request, context in try await legacy.stream(request, context, hasOrg: hasOrg) }
            group.post("messages") { request, context in try await legacy.post(request, context, hasOrg: hasOrg) }
        }
        // One endpoint for every server the key reaches: of one org, or of all.
        let aggregate = AggregateEndpoint(gateway: gateway)
        for (group, hasOrg) in [(router.group("orgs/{org}").add(middleware: auth), true), (router.group("").add(middleware: auth), false)] {
            group.post("mcp") { request, context in
                try await EventLoopExecutor.run(on: context.channel.eventLoop) { try await aggregate.post(request, context, hasOrg: hasOrg) }
            }
            group.get("mcp") { request, context in try await aggregate.get(request, context, hasOrg: hasOrg) }
            group.delete("mcp") { request, context in try await aggregate.delete(request, context, hasOrg: hasOrg) }
            group.get("sse") { request, context in try await aggregate.stream(request, context, hasOrg: hasOrg) }
            group.post("messages") { request, context in try await aggregate.messages(request, context, hasOrg: hasOrg) }
        }
        // A toolset of an org: Streamable HTTP only, in either era.
        let toolsets = router.group("orgs/{org}/toolsets/{toolset}").add(middleware: auth)
        toolsets.post("mcp") { request, context in
            try await EventLoopExecutor.run(on: context.channel.eventLoop) { try await aggregate.post(request, context, hasOrg: true) }
        }
        toolsets.get("mcp") { request, context in try await aggregate.get(request, context, hasOrg: true) }
        toolsets.delete("mcp") { request, context in try await aggregate.delete(request, context, hasOrg: true) }
    }
}
