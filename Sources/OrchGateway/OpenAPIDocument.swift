public import Hummingbird
public import OrchJSON

/// The OpenAPI 3.1 description of the gateway's REST API: `/api/v1/*`, `/healthz`, `/readyz` and
/// `/metrics` (not the MCP endpoints, which speak JSON-RPC over Streamable HTTP and SSE, nor the
/// dashboard's HTML pages under `/ui/`). Served
/// at `GET /api/v1/openapi.json` without authentication; `docs/openapi.json` is this value,
/// pretty-printed (`orch openapi > docs/openapi.json`), and tests keep the two equal and check
/// that every route the router serves is described here.
public enum OpenAPIDocument {
    /// Where the gateway serves the document.
    public static let path = "/api/v1/openapi.json"

    /// `GET /api/v1/openapi.json`: the document as compact JSON.
    static func response() -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: compact)))
    }

    private static let compact = json.compact

    static let namePattern = "^[a-z0-9][a-z0-9_-]{0,62}$"
    static let serverPathPattern = "^[a-z0-9][a-z0-9_-]{0,62}/[a-z0-9][a-z0-9_-]{0,62}$"

    /// The error codes of `{"error":{"code","message"}}` (`GatewayError`).
    static let errorCodes: [String] = [
        "bad_request", "unauthorized", "forbidden", "not_found", "payload_too_large", "too_many_sessions", "internal",
        "upstream_unavailable", "unavailable", "timeout",
    ]

    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }
    static func response(_ name: String) -> JSONValue { ["$ref": .string("#/components/responses/\(name)")] }

    /// A closed object: every property listed, all of `required` present, nothing else.
    static func object(_ properties: JSONObject, required: [String]? = nil, description: String? = nil) -> JSONValue {
        var o: JSONObject = ["type": "object"]
        if let description { o["description"] = .string(description) }
        o["required"] = .strings(required ?? properties.keys)
        o["additionalProperties"] = false
        o["properties"] = .object(properties)
        return .object(o)
    }

    static func nullable(_ type: String, _ description: String? = nil) -> JSONValue {
        var o: JSONObject = ["type": [.string(type), "null"]]
        if let description { o["description"] = .string(description) }
        return .object(o)
    }

    static func string(_ description: String) -> JSONValue { ["type": "string", "description": .string(description)] }
    static func array(of items: JSONValue, _ description: String? = nil) -> JSONValue {
        var o: JSONObject = ["type": "array", "items": items]
        if let description { o["description"] = .string(description) }
        return .object(o)
    }

    static func json(_ schema: JSONValue) -> JSONValue { ["application/json": ["schema": schema]] }

    /// A 200 answer with a JSON body.
    static func ok(_ description: String, _ schema: JSONValue) -> JSONValue {
        ["description": .string(description), "content": json(schema)]
    }

    /// An error answer whose `code` is always `code`.
    static func errorResponse(_ description: String, code: String, headers: JSONValue? = nil) -> JSONValue {
        var o: JSONObject = ["description": .string(description)]
        if let headers { o["headers"] = headers }
        o["content"] = json([
            "allOf": [
                ref("Error"),
                ["properties": ["error": ["properties": ["code": ["const": .string(code)]]]]],
            ],
        ])
        return .object(o)
    }

    /// `responses` with the answers every route shares (a `Host` the gateway does not answer to, an
    /// `Origin` it does not allow, a body over the limit) where the route has no answer of its own
    /// for that status, by status.
    static func withSharedAnswers(_ responses: JSONObject) -> JSONValue {
        var all = responses
        if all["400"] == nil { all["400"] = response("HostNotAllowed") }
        if all["403"] == nil { all["403"] = response("OriginNotAllowed") }
        if all["413"] == nil { all["413"] = response("PayloadTooLarge") }
        return .object(JSONObject(all.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
    }

    /// An unauthenticated operation.
    static func open(_ id: String, _ summary: String, _ responses: JSONObject) -> JSONValue {
        ["operationId": .string(id), "summary": .string(summary), "security": [], "responses": withSharedAnswers(responses)]
    }

    /// `/metrics`: open on loopback, an admin's key elsewhere (`gateway.metrics` decides).
    static let metrics: JSONValue = [
        "operationId": "getMetrics", "summary": "Prometheus metrics",
        "description": """
            Open when the gateway listens on loopback, else it needs a gateway admin's key; `gateway.metrics` \
            (`open` or `admin`) sets it either way. Before a policy loads it is open.
            """,
        "security": [[:], ["bearerAuth": []]],
        "responses": withSharedAnswers([
            "200": [
                "description": "Prometheus text exposition format 0.0.4",
                "content": ["text/plain": ["schema": ["type": "string"]]],
            ],
            "401": response("Unauthorized"),
            "403": errorResponse(
                "The metrics need a gateway admin's key here and the caller is not an admin, or an `Origin` not in "
                    + "`gateway.allowedOrigins`", code: "forbidden"),
        ]),
    ]

    /// An operation behind `Authorization: Bearer TOKEN`: 401 without a valid token, 503 before a
    /// policy loads, beside its own answers.
    static func authenticated(
        _ id: String, _ summary: String, description: String? = nil, parameters: [JSONValue] = [], _ responses: JSONObject
    ) -> JSONValue {
        var o: JSONObject = ["operationId": .string(id), "summary": .string(summary)]
        if let description { o["description"] = .string(description) }
        if !parameters.isEmpty { o["parameters"] = .array(parameters) }
        var all = responses
        all["401"] = response("Unauthorized")
        all["503"] = response("NotReady")
        o["responses"] = withSharedAnswers(all)
        return .object(o)
    }

    static let serverQuery: JSONValue = [
        "name": "server", "in": "query", "required": false,
        "description": "Only this server (ORG/SERVER); 404 when the caller's key does not reach it.",
        "schema": ["type": "string", "pattern": .string(serverPathPattern)],
        "examples": ["acme": ["value": "acme/notes"]],
    ]

    static func catalog(_ id: String, _ what: String, _ schema: String) -> JSONValue {
        authenticated(
            id, "Every \(what) the caller's key may use, per server",
            description: """
                Asks each reachable server (through a short-lived session of the gateway's own, cached 30 s, a failure \
                5 s) and filters the answer by the caller's policy. A server that fails is listed in `errors`; the \
                request still succeeds. Fields other than `server` are the upstream's own, passed through \
                (`null` where the upstream left them out).
                """,
            parameters: [serverQuery],
            [
                "200": ok("What the key may use", ref(schema)),
                "404": response("NotFound"),
            ])
    }

    static let paths: JSONValue = [
        "/healthz": ["get": open("getHealth", "Liveness: the process serves HTTP", ["200": ok("Alive", ref("Health"))])],
        "/readyz": [
            "get": open(
                "getReadiness", "Readiness: a policy is loaded",
                [
                    "200": ok("A policy is loaded", ref("Ready")),
                    "503": [
                        "description": "No policy is loaded yet (the file was missing or invalid at start)",
                        "content": json(ref("NotReady")),
                    ],
                ]),
        ],
        "/metrics": ["get": metrics],
        "/.well-known/oauth-protected-resource": [
            "get": open(
                "getProtectedResource", "OAuth protected-resource metadata (RFC 9728), when orch.json has auth.oidc issuers",
                [
                    "200": ok("Where the tokens this gateway accepts come from", ref("ProtectedResource")),
                    "404": response("NotFound"),
                ]),
        ],
        "/api/v1/openapi.json": [
            "get": open(
                "getOpenAPI", "This document",
                ["200": ok("The OpenAPI 3.1 document of this API", ref("OpenAPIDocument"))]),
        ],
        "/api/v1/me": [
            "get": authenticated("getMe", "The caller: user, key and org memberships", ["200": ok("The caller", ref("Me"))]),
        ],
        "/api/v1/servers": [
            "get": authenticated(
                "listServers", "The servers the caller's key may connect to, in file order",
                ["200": ok("Reachable servers", ref("ServerList"))]),
        ],
        "/api/v1/orgs/{org}/servers": [
            "get": authenticated(
                "listOrgServers", "The servers of one org the caller's key may connect to",
                description: "An org the caller is not a member of answers 404 exactly like one that does not exist.",
                parameters: [
                    [
                        "name": "org", "in": "path", "required": true, "description": "The org's name",
                        "schema": ["type": "string", "pattern": .string(namePattern)],
                        "examples": ["acme": ["value": "acme"]],
                    ],
                ],
                [
                    "200": ok("Reachable servers of the org", ref("ServerList")),
                    "404": response("NotFound"),
                ]),
        ],
        "/api/v1/toolsets": [
            "get": authenticated(
                "listToolsets", "The toolsets of the orgs the caller's key reaches servers in, with their endpoints",
                ["200": ok("Toolsets", ref("ToolsetList"))]),
        ],
        "/api/v1/tools": ["get": catalog("listTools", "tool", "ToolList")],
        "/api/v1/prompts": ["get": catalog("listPrompts", "prompt", "PromptList")],
        "/api/v1/resources": ["get": catalog("listResources", "resource (and resource template)", "ResourceList")],
        "/api/v1/client-config": [
            "get": authenticated(
                "getClientConfig", "A ready-to-save MCP client configuration for the caller's key",
                description: """
                    The document `orch client-config` prints, pretty-printed, for the servers the caller's key may reach \
                    (its scope applies), with the caller's own token in it (VS Code's asks for it instead). A server the \
                    key does not reach answers 404 exactly like one that does not exist.
                    """,
                parameters: [
                    [
                        "name": "client", "in": "query", "required": true, "description": "The MCP client whose format to write",
                        "schema": ["type": "string", "enum": ["cline", "claude-code", "cursor", "vscode", "windsurf", "claude-desktop"]],
                    ],
                    [
                        "name": "server", "in": "query", "required": false, "style": "form", "explode": true,
                        "description": "Only these servers (ORG/SERVER, repeatable), one entry each; default: every server the key reaches",
                        "schema": array(of: ["type": "string", "pattern": .string(serverPathPattern)]),
                    ],
                    [
                        "name": "transport", "in": "query", "required": false,
                        "description": "`sse` points the entries at the legacy `/sse` endpoints",
                        "schema": ["type": "string", "enum": ["streamable-http", "sse"], "default": "streamable-http"],
                    ],
                    [
                        "name": "auth", "in": "query", "required": false,
                        "description": "`token`: the caller's token in the file; `oauth`: no token, the client signs in through the auth.oidc issuers (404 without any)",
                        "schema": ["type": "string", "enum": ["token", "oauth"], "default": "token"],
                    ],
                    [
                        "name": "mode", "in": "query", "required": false,
                        "description": "`per-org`: one entry per org, at its aggregated endpoint /orgs/ORG/mcp; `per-server`: one per server (`server=` implies it)",
                        "schema": ["type": "string", "enum": ["per-org", "per-server"], "default": "per-org"],
                    ],
                    [
                        "name": "toolset", "in": "query", "required": false,
                        "description": "One entry at this toolset's endpoint /orgs/ORG/toolsets/NAME/mcp for each org the key reaches that has it (404 when none has); it wins over server= and mode=",
                        "schema": ["type": "string", "pattern": .string(namePattern)],
                    ],
                    [
                        "name": "tools", "in": "query", "required": false,
                        "description": "`search`: the aggregated and toolset endpoints in search mode, which list find_tools and call_tool instead of every tool (per server it changes nothing)",
                        "schema": ["type": "string", "enum": ["search"]],
                    ],
                ],
                [
                    "200": [
                        "description": "The client's configuration file (with the caller's token, except VS Code's)",
                        "headers": ["Cache-Control": ["required": true, "schema": ["type": "string", "const": "no-store"]]],
                        "content": json(ref("ClientConfig")),
                    ],
                    "400": response("BadRequest"),
                    "404": response("NotFound"),
                ]),
        ],
        "/api/v1/policy": [
            "get": authenticated(
                "getPolicy", "What policy is loaded and how the last reload went (gateway admins only)",
                [
                    "200": ok("The policy status", ref("PolicyStatus")),
                    "403": errorResponse("The caller is not a gateway admin, or an `Origin` not in `gateway.allowedOrigins`", code: "forbidden"),
                ]),
        ],
    ]

    static let responses: JSONValue = [
        "BadRequest": errorResponse(
            "A missing or invalid query parameter, or a `Host` the gateway does not answer to", code: "bad_request"),
        "HostNotAllowed": errorResponse(
            "A `Host` the gateway does not answer to: not an IP address, `localhost`, the host of `gateway.publicURL` or a name in "
                + "`gateway.allowedHosts` (DNS rebinding)", code: "bad_request"),
        "Unauthorized": errorResponse(
            "A missing, unknown or expired token, or a disabled user", code: "unauthorized",
            headers: ["WWW-Authenticate": ["required": true, "schema": ["type": "string", "const": "Bearer realm=\"orch\""]]]),
        "OriginNotAllowed": errorResponse("The request carries an `Origin` not in `gateway.allowedOrigins`", code: "forbidden"),
        "NotFound": errorResponse("No such org or server, or one the caller's key does not reach", code: "not_found"),
        "PayloadTooLarge": errorResponse("`Content-Length` over `gateway.limits.maxBodyBytes`", code: "payload_too_large"),
        "NotReady": errorResponse("No policy is loaded yet", code: "unavailable"),
    ]

    static let timestamp: JSONValue = ["type": "string", "format": "date-time", "description": "RFC 3339, UTC"]
    static let nullableTimestamp: JSONValue = ["type": ["string", "null"], "format": "date-time", "description": "RFC 3339, UTC"]
    static let serverPath: JSONValue = ["type": "string", "pattern": .string(serverPathPattern), "description": "ORG/SERVER"]
    static let digest: JSONValue = ["type": "string", "pattern": "^sha256:[0-9a-f]{64}$", "description": "sha256: and the SHA-256 of the file's bytes"]
    static let count: JSONValue = ["type": "integer", "minimum": 0]
    static let catalogErrors: JSONValue = array(of: object([
        "server": ["type": ["string", "null"], "pattern": .string(serverPathPattern), "description": "ORG/SERVER; null for a reason about the whole view"],
        "message": string("Why the server's lists could not be fetched, or why the caller sees no tool"),
    ]), "Servers whose lists could not be fetched, and why a view of tools is empty")

    static let clientSchemas: JSONObject = [
        "AuthorizationHeader": object(["Authorization": ["type": "string", "pattern": "^Bearer ."]]),
        "ClientConfig": [
            "description": "The client's own format: `mcpServers` (cline, claude-code, cursor, windsurf, claude-desktop) or VS Code's `servers` and `inputs`",
            "oneOf": [ref("McpServersConfig"), ref("VSCodeConfig")],
        ],
        "McpServersConfig": object([
            "mcpServers": [
                "type": "object", "description": "Entry name (SERVER, or ORG-SERVER when the name repeats) to the entry",
                "additionalProperties": [
                    "anyOf": [ref("ClineEntry"), ref("ClaudeCodeEntry"), ref("CursorEntry"), ref("WindsurfEntry"), ref("ClaudeDesktopEntry")],
                ],
            ],
        ]),
        "ClineEntry": object([
            "type": ["type": "string", "enum": ["streamableHttp", "sse"]], "url": ["type": "string", "format": "uri"],
            "headers": ref("AuthorizationHeader"), "disabled": ["const": false], "timeout": ["type": "integer"],
            "autoApprove": ["type": "array", "maxItems": 0],
        ]),
        "ClaudeCodeEntry": object([
            "type": ["type": "string", "enum": ["http", "sse"]], "url": ["type": "string", "format": "uri"], "headers": ref("AuthorizationHeader"),
        ]),
        "CursorEntry": object(["url": ["type": "string", "format": "uri"], "headers": ref("AuthorizationHeader")]),
        "WindsurfEntry": object(["serverUrl": ["type": "string", "format": "uri"], "headers": ref("AuthorizationHeader")]),
        "ClaudeDesktopEntry": object([
            "command": ["const": "npx"], "args": array(of: ["type": "string"]),
            "env": object(["AUTH_HEADER": ["type": "string", "pattern": "^Bearer ."]]),
        ]),
        "VSCodeConfig": object([
            "inputs": [
                "type": "array", "minItems": 1, "maxItems": 1,
                "items": object(
                    [
                        "type": ["const": "promptString"], "id": ["const": "orch-token"], "description": ["type": "string"],
                        "password": ["const": true],
                    ], description: "VS Code asks for the token and keeps it in its secret store: the document never holds it"),
            ],
            "servers": [
                "type": "object",
                "additionalProperties": object([
                    "type": ["type": "string", "enum": ["http", "sse"]], "url": ["type": "string", "format": "uri"],
                    "headers": object(["Authorization": ["const": "Bearer ${input:orch-token}"]]),
                ]),
            ],
        ]),
    ]

    static let schemas: JSONObject = [
        "Error": object(
            [
                "error": object([
                    "code": ["type": "string", "enum": .strings(errorCodes)],
                    "message": string("What went wrong, for people"),
                ]),
            ], description: "Every error: a stable code (400 bad_request, 401 unauthorized, 403 forbidden, 404 not_found, 413 payload_too_large, 429 too_many_sessions, 500 internal, 502 upstream_unavailable, 503 unavailable, 504 timeout) and a message"),
        "Health": object(["status": ["const": "ok"]]),
        "ProtectedResource": object([
            "resource": ["type": "string", "format": "uri", "description": "The URL tokens must be issued for (auth.resource, else publicURL)"],
            "authorization_servers": array(of: ["type": "string", "format": "uri"], "The auth.oidc issuers"),
            "scopes_supported": array(of: ["type": "string"], "Scopes the issuers require"),
            "bearer_methods_supported": array(of: ["const": "header"], "Tokens go in the Authorization header only"),
        ]),
        "Ready": object(["status": ["const": "ready"], "policy": digest]),
        "NotReady": object(["status": ["const": "not ready"], "policy": ["type": "null"]]),
        "OpenAPIDocument": [
            "type": "object", "required": ["openapi", "info", "paths"],
            "properties": ["openapi": ["type": "string", "pattern": "^3\\.1\\.[0-9]+$"], "info": ["type": "object"], "paths": ["type": "object"]],
        ],
        "Me": object([
            "user": string("The user's name"),
            "displayName": nullable("string"),
            "admin": ["type": "boolean", "description": "A gateway admin (may read /api/v1/policy)"],
            "key": [
                "oneOf": [object(["id": string("The key's id"), "expires": nullableTimestamp]), ["type": "null"]],
                "description": "The key the caller showed; null for a single sign-on token",
            ],
            "signIn": [
                "oneOf": [object(["issuer": string("The auth.oidc issuer whose token the caller showed")]), ["type": "null"]],
                "description": "How the caller signed in with a token; null for a key",
            ],
            "orgs": array(of: object(["org": ["type": "string"], "roles": array(of: ["type": "string"], "Roles in the org, directly or through teams")])),
        ]),
        "ServerList": object(["servers": array(of: ref("Server"))]),
        "Server": object(
            [
                "id": serverPath, "org": ["type": "string"], "name": ["type": "string"], "description": nullable("string"),
                "transport": ["type": "string", "enum": ["stdio", "streamable-http", "sse"]],
                "endpoints": object([
                    "streamableHttp": ["type": "string", "format": "uri", "description": "publicURL/orgs/ORG/servers/SERVER/mcp"],
                    "sse": ["type": "string", "format": "uri", "description": "publicURL/orgs/ORG/servers/SERVER/sse"],
                ]),
                "userSecrets": array(of: object([
                    "name": string("The secret's name, as ${user:NAME} in orch.json"),
                    "present": ["type": "boolean", "description": "Whether the caller's own value is there and usable"],
                    "problem": nullable("string", "What is wrong and where an admin puts it; never the value"),
                ]), "A per-user server's secrets, for the caller (only on /api/v1/servers, only for per-user servers)"),
            ], required: ["id", "org", "name", "description", "transport", "endpoints"],
            description: "A server as the API shows it: never its command, env, URL, headers or secret values"),
        "ToolsetList": object(["toolsets": array(of: ref("Toolset"))]),
        "Toolset": object(
            [
                "org": ["type": "string"], "name": ["type": "string"], "description": nullable("string"),
                "tools": array(of: ["type": "string"], "SERVER:GLOB entries, on upstream tool names"),
                "servers": array(of: serverPath, "The servers of the toolset the caller reaches"),
                "endpoints": object([
                    "streamableHttp": ["type": "string", "format": "uri", "description": "publicURL/orgs/ORG/toolsets/NAME/mcp"],
                    "search": ["type": "string", "format": "uri", "description": "The same endpoint in search mode (?tools=search)"],
                ]),
            ], description: "A curated bundle of an org's tools behind one endpoint; each tool is still decided per caller"),
        "ToolList": object(["tools": array(of: ref("Tool")), "errors": catalogErrors]),
        "Tool": object([
            "server": serverPath, "name": string("The name clients see (the server's overrides may rename it); a call takes it"),
            "upstreamName": string("The name the server lists it under, which policy rules, pins and the audit use"),
            "description": nullable("string"),
            "inputSchema": nullable("object", "The tool's JSON Schema for its arguments"),
            "pin": ["type": "string", "enum": ["pinned", "changed", "new"], "description": "Under gateway.pinning: whether the tool matches its pin"],
        ], required: ["server", "name", "upstreamName", "description", "inputSchema"]),
        "PromptList": object(["prompts": array(of: ref("Prompt")), "errors": catalogErrors]),
        "Prompt": object([
            "server": serverPath, "name": ["type": "string"], "title": nullable("string"), "description": nullable("string"),
            "arguments": array(of: ["type": "object", "required": ["name"], "properties": ["name": ["type": "string"]]], "The prompt's arguments, as the upstream lists them"),
        ]),
        "ResourceList": object(["resources": array(of: ref("Resource")), "resourceTemplates": array(of: ref("ResourceTemplate")), "errors": catalogErrors]),
        "Resource": object([
            "server": serverPath, "uri": ["type": "string"], "name": nullable("string"), "title": nullable("string"),
            "description": nullable("string"), "mimeType": nullable("string"),
        ]),
        "ResourceTemplate": object(
            [
                "server": serverPath, "uriTemplate": nullable("string"), "name": nullable("string"), "title": nullable("string"),
                "description": nullable("string"), "mimeType": nullable("string"),
            ], description: "Listed for the servers where the key may read some resource"),
        "PolicyStatus": object(
            [
                "digest": digest,
                "source": string("The orch.json the gateway serves"),
                "loadedAt": timestamp,
                "counts": object(["orgs": count, "users": count, "keys": count, "servers": count, "tests": count]),
                "lastReload": object(
                    ["at": timestamp, "ok": ["type": "boolean"], "diagnostics": array(of: ref("Diagnostic"))],
                    description: "The last load or reload, failed or not"),
            ], description: "The running policy (this route answers only once one is loaded) and the last reload"),
        "Diagnostic": object([
            "severity": ["type": "string", "enum": ["error", "warning"]],
            "path": string("Dotted path into the file; empty for the whole file"),
            "line": nullable("integer", "Syntax errors only"), "column": nullable("integer", "Syntax errors only"),
            "message": ["type": "string"],
        ]),
    ]

    public static let json: JSONValue = [
        "openapi": "3.1.0",
        "info": [
            "title": "mcp-orch gateway",
            "version": "1",
            "description": """
                The REST API of `orch serve`. Every route under /api/v1 but this document needs \
                `Authorization: Bearer TOKEN`; /healthz, /readyz and /api/v1/openapi.json need none, /metrics none on \
                loopback (else an admin's key, as `gateway.metrics` says). \
                Errors are `{"error":{"code","message"}}`. The MCP endpoints (/orgs/{org}/servers/{server}/mcp, \
                /sse, /messages and their /servers/{server}/… short forms; the aggregated /orgs/{org}/mcp, /sse, /messages and /mcp, /sse, /messages; a toolset's /orgs/{org}/toolsets/{toolset}/mcp) \
                speak JSON-RPC and are not described here.
                """,
        ],
        "security": [["bearerAuth": []]],
        "paths": paths,
        "components": [
            "securitySchemes": ["bearerAuth": ["type": "http", "scheme": "bearer", "description": "An orch API key's token (orch_…)"]],
            "responses": responses,
            "schemas": .object(JSONObject((Array(schemas) + Array(clientSchemas)).map { ($0.key, $0.value) })),
        ],
    ]
}
