import Foundation
import Hummingbird
import HummingbirdTesting
import OrchGateway
import OrchJSON
import Testing

/// The OpenAPI document against the router: the test fails when a route is added, removed or
/// given another method without the document following, and when `docs/openapi.json` is stale.
@Suite struct OpenAPIDocumentTests {
    /// The MCP transport endpoints (JSON-RPC over Streamable HTTP and SSE), which the document
    /// deliberately leaves out. Listed exactly, so a new MCP route must be added here on purpose.
    static let mcpRoutes: Set<String> = Set(["/orgs/{org}/servers/{server}", "/servers/{server}"].flatMap { base in
        ["POST \(base)/mcp", "GET \(base)/mcp", "DELETE \(base)/mcp", "GET \(base)/sse", "POST \(base)/messages"]
    } + ["/orgs/{org}", ""].flatMap { base in ["POST \(base)/mcp", "GET \(base)/mcp", "DELETE \(base)/mcp", "GET \(base)/sse", "POST \(base)/messages"] }
        // A toolset's endpoint: Streamable HTTP only.
        + ["POST", "GET", "DELETE"].map { "\($0) /orgs/{org}/toolsets/{toolset}/mcp" }
        // The metadata of each MCP endpoint (RFC 9728's path-suffixed form): MCP discovery, not REST.
        + ["GET /.well-known/oauth-protected-resource/**"])

    static let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    /// `METHOD /path` for every route the gateway's router serves, from Hummingbird's own list.
    static func served() throws -> Set<String> {
        Set(try TestGateway().gateway.router().routes.map { "\($0.method.rawValue) \($0.path)" })
    }

    /// `METHOD /path` for every operation in the document.
    static func documented() -> Set<String> {
        var routes = Set<String>()
        for (path, item) in OpenAPIDocument.json["paths"]?.objectValue ?? [:] {
            for method in methods where item[method] != nil { routes.insert("\(method.uppercased()) \(path)") }
        }
        return routes
    }

    @Test func everyServedRouteIsDocumentedAndEveryDocumentedRouteIsServed() throws {
        let served = try Self.served()
        #expect(Self.mcpRoutes.isSubset(of: served), "MCP routes no longer served: \(Self.mcpRoutes.subtracting(served).sorted())")
        // The dashboard's HTML pages (`/` and `/ui/…`) are for browsers, not an API.
        let pages = served.filter { $0 == "GET /" || $0.hasPrefix("GET /ui") || $0.hasPrefix("POST /ui") }
        #expect(pages.contains("GET /ui") && pages.contains("POST /ui/signin"))
        let api = served.subtracting(Self.mcpRoutes).subtracting(pages)
        let documented = Self.documented()
        #expect(api.subtracting(documented).isEmpty,
                "served but not in OpenAPIDocument (Sources/OrchGateway/OpenAPIDocument.swift): \(api.subtracting(documented).sorted())")
        #expect(documented.subtracting(api).isEmpty, "in OpenAPIDocument but not served: \(documented.subtracting(api).sorted())")
        #expect(documented.count >= 12)
    }

    @Test func docsCopyEqualsTheDocument() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let committed = String(decoding: try Data(contentsOf: root.appendingPathComponent("docs/openapi.json")), as: UTF8.self)
        #expect(committed == OpenAPIDocument.json.pretty + "\n",
                "docs/openapi.json differs from OpenAPIDocument.json: regenerate it with `swift run orch openapi > docs/openapi.json`")
        #expect(try JSONValue.parse(committed) == OpenAPIDocument.json)
    }

    @Test(arguments: [true, false])
    func theDocumentIsServedWithoutAToken(policyLoaded: Bool) async throws {
        try await TestGateway(loaded: policyLoaded).test { client in
            try await client.execute(uri: OpenAPIDocument.path, method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(response.json == OpenAPIDocument.json)
            }
        }
    }

    /// Only the health routes and the document itself go without a token, and `/metrics` with or
    /// without one; every other operation inherits the bearer requirement and documents its 401
    /// with `WWW-Authenticate` and its 503.
    @Test func securityMatchesTheRoutesAuthentication() {
        #expect(OpenAPIDocument.json["security"] == [["bearerAuth": []]])
        #expect(OpenAPIDocument.json["components"]?["securitySchemes"]?["bearerAuth"]?["scheme"] == "bearer")
        let open: Set<String> = ["/healthz", "/readyz", OpenAPIDocument.path, "/.well-known/oauth-protected-resource"]
        for (path, item) in OpenAPIDocument.json["paths"]?.objectValue ?? [:] {
            let operation = item["get"]
            if path == "/metrics" {
                #expect(operation?["security"] == [[:], ["bearerAuth": []]], "a token only off loopback")
                #expect(operation?["responses"]?["401"] == ["$ref": "#/components/responses/Unauthorized"])
            } else if open.contains(path) {
                #expect(operation?["security"] == [], "\(path) needs no token")
                #expect(operation?["responses"]?["401"] == nil, "\(path)")
            } else {
                #expect(operation?["security"] == nil, "\(path) inherits bearerAuth")
                #expect(operation?["responses"]?["401"] == ["$ref": "#/components/responses/Unauthorized"], "\(path)")
                #expect(operation?["responses"]?["503"] == ["$ref": "#/components/responses/NotReady"], "\(path)")
            }
        }
        #expect(OpenAPIDocument.json["components"]?["responses"]?["Unauthorized"]?["headers"]?["WWW-Authenticate"]?["required"] == true)
    }

    /// A method the router does not serve on a path it serves is 405 with `Allow` (schemathesis's
    /// `unsupported_method` check); a path it does not serve stays 404.
    @Test func anUnservedMethodOnAServedPathIs405WithAllow() async throws {
        try await TestGateway().test { client in
            let cases: [(String, HTTPRequest.Method, String?)] = [
                ("/api/v1/me", .post, "GET"), ("/api/v1/me", .trace, "GET"), ("/healthz", .put, "GET"),
                (OpenAPIDocument.path, .delete, "GET"), ("/api/v1/orgs/nosuch/servers", .patch, "GET"),
                ("/orgs/acme/servers/notes/sse", .delete, "GET"), ("/servers/notes/mcp", .put, "DELETE, GET, POST"),
                ("/api/v1/nope", .post, nil), ("/api/v1/orgs/acme", .get, nil),
            ]
            for (path, method, allow) in cases {
                try await client.execute(uri: path, method: method, headers: bearer(Tokens.bob)) { response in
                    #expect(response.status == (allow == nil ? .notFound : .methodNotAllowed), "\(method) \(path)")
                    #expect(response.headers[.allow] == allow, "\(method) \(path)")
                    #expect(response.json["error"]?["code"] == (allow == nil ? "not_found" : "bad_request"), "\(method) \(path)")
                }
            }
        }
    }

    /// Every `$ref` points at something the document defines.
    @Test func everyReferenceResolves() {
        var refs: [String] = []
        func walk(_ value: JSONValue) {
            if let object = value.objectValue {
                for (key, child) in object {
                    if key == "$ref", let text = child.stringValue { refs.append(text) } else { walk(child) }
                }
            } else if let array = value.arrayValue {
                array.forEach(walk)
            }
        }
        walk(OpenAPIDocument.json)
        #expect(!refs.isEmpty)
        for ref in refs {
            #expect(ref.hasPrefix("#/"), "\(ref)")
            var node: JSONValue? = OpenAPIDocument.json
            for part in ref.dropFirst(2).split(separator: "/") { node = node?[String(part)] }
            #expect(node != nil, "unresolved \(ref)")
        }
    }
}
