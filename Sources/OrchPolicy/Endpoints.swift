/// The gateway's URL layout, shared by the REST API, the MCP routes and client configs.
public enum Endpoints {
    /// `/orgs/ORG/servers/SERVER`; the transports hang below it (`/mcp`, `/sse`, `/messages`).
    public static func serverPath(org: String, server: String) -> String {
        "/orgs/\(org)/servers/\(server)"
    }

    /// The Streamable HTTP and legacy SSE URLs of a server under `publicURL`.
    public static func urls(publicURL: String, org: String, server: String) -> (streamableHTTP: String, sse: String) {
        let base = publicURL + serverPath(org: org, server: server)
        return (base + "/mcp", base + "/sse")
    }

    /// A toolset's endpoint under `publicURL` (Streamable HTTP only).
    public static func toolsetURL(publicURL: String, org: String, toolset: String) -> String {
        publicURL + "/orgs/\(org)/toolsets/\(toolset)/mcp"
    }

    /// The aggregated endpoints of one org under `publicURL`: every server of the org the caller
    /// reaches, behind one MCP server.
    public static func orgURLs(publicURL: String, org: String) -> (streamableHTTP: String, sse: String) {
        let base = publicURL + "/orgs/\(org)"
        return (base + "/mcp", base + "/sse")
    }
}
