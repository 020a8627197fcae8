import HTTPTypes
import Testing

@testable import OrchGateway

/// The fast path's reading of a request target: the MCP endpoints and the two API routes it answers,
/// each with its org, server and pattern, the path without its query; anything else is the router's.
@Test func theFastPathReadsItsRoutesAndNothingElse() throws {
    let routes: [(String, String?, String?, String, String)] = [
        ("/orgs/acme/servers/echo/mcp", "acme", "echo", "/orgs/{org}/servers/{server}/mcp", "/orgs/acme/servers/echo/mcp"),
        ("/orgs/acme/servers/echo/mcp?x=1", "acme", "echo", "/orgs/{org}/servers/{server}/mcp", "/orgs/acme/servers/echo/mcp"),
        ("/servers/echo/mcp", nil, "echo", "/servers/{server}/mcp", "/servers/echo/mcp"),
        ("/orgs/acme/mcp", "acme", nil, "/orgs/{org}/mcp", "/orgs/acme/mcp"),
        ("/mcp", nil, nil, "/mcp", "/mcp"),
        ("/mcp?session=1", nil, nil, "/mcp", "/mcp"),
        ("/orgs/é/servers/ü/mcp", "é", "ü", "/orgs/{org}/servers/{server}/mcp", "/orgs/é/servers/ü/mcp"),
    ]
    for (target, org, server, pattern, path) in routes {
        let route = try #require(FastPath.Route(target), "\(target)")
        #expect(route.org == org && route.server == server && route.api == nil, "\(target)")
        #expect(route.pattern == pattern && route.path == path, "\(target)")
    }
    #expect(FastPath.Route("/api/v1/me")?.api == .me)
    #expect(FastPath.Route("/api/v1/servers?x")?.api == .servers)
    #expect(FastPath.Route("/api/v1/servers")?.path == "/api/v1/servers")
    let others = [
        "", "/", "mcp", "/mcp/", "//mcp", "/orgs//servers/echo/mcp", "/orgs/acme/servers//mcp", "/orgs/acme/servers/echo/mcp/",
        "/orgs/acme/servers/echo/mcp/x", "/orgs/acme/servers/echo/mcp/x/y/z", "/servers//mcp", "/orgs//mcp", "/orgs/a%2Fb/mcp",
        "/servers/echo/mcp%3F", "/api/v1/me/x", "/api/v2/me", "/api/v1/keys", "/healthz", "/orgs/acme/server/echo/mcp", "/ORGS/acme/mcp",
        "?/mcp", "/a/b/c/d/e/f/g/h/i",
    ]
    for target in others { #expect(FastPath.Route(target) == nil, "\(target)") }
}
