public import OrchJSON

/// The JSON Schema (2020-12) of orch.json v1, for editors. `samples/orch.schema.json` is this
/// value, pretty-printed; a test keeps the two equal.
public enum PolicySchema {
    static let namePattern = "^[a-z0-9][a-z0-9_-]{0,62}$"
    /// Org and server names are parts of aggregated names, which "__" separates.
    static let orgPattern = "^(?!.*__)[a-z0-9][a-z0-9_-]{0,62}(?<!_)$"
    static let serverPattern = "^(?!.*__)[a-z0-9][a-z0-9_-]{0,62}$"

    static func strings(_ description: String? = nil) -> JSONValue {
        var o: JSONObject = ["type": "array", "items": ["type": "string"]]
        if let description { o["description"] = .string(description) }
        return .object(o)
    }

    static func stringMap(_ description: String) -> JSONValue {
        ["type": "object", "description": .string(description), "additionalProperties": ["type": "string"]]
    }

    static func named(_ ref: String, _ description: String, pattern: String = namePattern) -> JSONValue {
        [
            "type": "object", "description": .string(description),
            "propertyNames": ["pattern": .string(pattern)],
            "additionalProperties": ["$ref": .string("#/$defs/\(ref)")],
        ]
    }

    /// A server's filter of one kind, applied to everyone.
    static func filter(_ what: String) -> JSONValue {
        [
            "type": "object", "additionalProperties": false,
            "properties": ["allow": strings("\(what) globs to show."), "deny": strings("\(what) globs to hide.")],
        ]
    }

    static let positive: JSONValue = ["type": "integer", "minimum": 1]
    static let time: JSONValue = [
        "type": "string", "description": "RFC 3339 time, or YYYY-MM-DD meaning 00:00:00Z that day",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2}))?$",
    ]

    public static let json: JSONValue = [
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mcp-orch.dev/schemas/orch.schema.json",
        "title": "orch.json",
        "description": "mcp-orch policy file, version 1: orgs, users, roles, teams, hashed API keys and MCP servers.",
        "type": "object",
        "required": ["version"],
        "additionalProperties": false,
        "properties": [
            "$schema": ["type": "string"],
            "version": ["const": 1, "description": "The file format version."],
            "gateway": ["$ref": "#/$defs/gateway"],
            "auth": ["$ref": "#/$defs/auth"],
            "roles": named("role", "Role name to its rules."),
            "orgs": named("org", "Org name to its members, teams and servers.", pattern: orgPattern),
            "users": named("user", "User name to the user's details and keys."),
            "tests": ["type": "array", "items": ["$ref": "#/$defs/test"], "description": "Decisions that must hold, or the file does not compile."],
        ],
        "$defs": [
            "auth": [
                "type": "object", "additionalProperties": false, "description": "Single sign-on: OIDC issuers whose tokens are accepted beside keys.",
                "properties": [
                    "resource": ["type": "string", "description": "The URL tokens must name in aud (default: gateway.publicURL)."],
                    "oidc": named("issuer", "Issuer name (as users' identities name it) to how its tokens are checked."),
                ],
            ],
            "issuer": [
                "type": "object", "required": ["issuer"], "additionalProperties": false,
                "properties": [
                    "issuer": ["type": "string", "description": "The exact iss of its tokens (https; http only on loopback)."],
                    "audiences": strings("A token's aud must contain one of these (default: the resource)."),
                    "jwks": ["type": "string", "description": "Its signing keys: a URL, or a JWKS file beside orch.json (default: jwks_uri of its discovery document)."],
                    "userClaim": ["type": "string", "description": "The claim that names the user (default: email, matched against users' email)."],
                    "emailDomains": ["type": "array", "items": ["type": "string"], "description": "With userClaim email: the email domains this issuer may assert (default: any)."],
                    "scopes": strings("Scopes a token must carry."),
                    "client": [
                        "type": "object", "required": ["id"], "additionalProperties": false, "description": "For the dashboard's sign-in.",
                        "properties": ["id": ["type": "string"], "secret": ["type": "string", "pattern": "\\$\\{env:", "description": "Only as ${env:VARIABLE}."]],
                    ],
                ],
            ],
            "gateway": [
                "type": "object", "additionalProperties": false,
                "properties": [
                    "listen": ["type": "string", "description": "HOST:PORT to listen on (default 127.0.0.1:8080)."],
                    "publicURL": ["type": "string", "format": "uri", "description": "Base URL used in client configs and endpoint lists."],
                    "allowedOrigins": strings("Origins allowed to call the gateway; a request with another Origin gets 403."),
                    "allowedHosts": strings("Host names the gateway answers to besides publicURL's host, localhost and IP addresses."),
                    "metrics": [
                        "enum": ["open", "admin"],
                        "description": "Who may read /metrics: open (no token) or admin (an admin user's key). Default: open on a loopback listen address, admin otherwise.",
                    ],
                    "audit": ["type": "string", "description": "Audit log file, relative to orch.json's folder, or - for stdout."],
                    "dashboard": ["type": "boolean", "description": "Serve the web dashboard under /ui/ (default true)."],
                    "secrets": ["type": "string", "description": "Folder of the users' own secrets for ${user:NAME}: FOLDER/USER/NAME, mode 0600 (default secrets, beside orch.json)."],
                    "approvals": ["type": "string", "description": "Folder of the calls waiting for a role's approval and the decisions on them (sealed under stateKey; default state/approvals, beside orch.json). Replicas share it through a shared volume, so an approver on any replica sees every pending call."],
                    "connections": ["type": "string", "description": "Folder of the users' connected accounts (OAuth tokens of oauth servers, sealed under stateKey): FOLDER/USER/ORG__SERVER, mode 0600 (default state/connections, beside orch.json). Replicas share it through a shared volume."],
                    "pinning": [
                        "enum": ["off", "warn", "enforce"],
                        "description": "What a tool or prompt that does not match orch.lock.json (orch pin) gets: off (default), warn (logged, audited, counted) or enforce (also hidden and refused).",
                    ],
                    "stateKey": [
                        "oneOf": [["type": "string"], ["type": "array", "items": ["type": "string"], "minItems": 1]],
                        "description": "The key (32 bytes in base64, written as ${env:NAME}; openssl rand -base64 32) that seals the state the gateway hands out, such as the requestState of questions relayed to 2026-07-28 clients; or a list, the current key first and previous ones after it for a rotation. Replicas share it. Default: random per process.",
                    ],
                    "limits": [
                        "type": "object", "additionalProperties": false,
                        "properties": [
                            "maxBodyBytes": positive, "sessionIdleSeconds": positive, "maxSessionSeconds": positive,
                            "maxSessionsPerKey": positive, "callTimeoutSeconds": positive, "maxUpstreamProcesses": positive,
                            "maxConnectionsPerClient": positive, "requestHeadSeconds": positive, "inputTimeoutSeconds": positive,
                            "perUser": [
                                "type": "object", "additionalProperties": false,
                                "description": "What one user may do, counted on each replica: authenticated requests and tool calls a minute (token buckets), tool calls in flight.",
                                "properties": ["requestsPerMinute": positive, "toolCallsPerMinute": positive, "concurrentCalls": positive],
                            ],
                        ],
                    ],
                ],
            ],
            "rules": [
                "type": "array",
                "description": "SERVER (the whole server), SERVER:TOOL, SERVER:prompts/NAME or SERVER:resources/URI globs; * matches any run of characters.",
                "items": ["type": "string", "pattern": "^[a-z0-9_*-]+(:.+)?$"],
            ],
            "role": [
                "type": "object", "required": ["allow"], "additionalProperties": false,
                "properties": [
                    "description": ["type": "string"],
                    "allow": ["$ref": "#/$defs/rules"],
                    "deny": ["$ref": "#/$defs/rules"],
                ],
            ],
            "org": [
                "type": "object", "required": ["members", "servers"], "additionalProperties": false,
                "properties": [
                    "displayName": ["type": "string"],
                    "members": [
                        "type": "object", "description": "User name to a role or a list of roles.",
                        "propertyNames": ["pattern": .string(namePattern)],
                        "additionalProperties": ["oneOf": [["type": "string"], strings()]],
                    ],
                    "teams": named("team", "Team name to its members and roles."),
                    "servers": named("server", "Server name to how to reach it.", pattern: serverPattern),
                    "toolsets": named("toolset", "Toolset name to its tools, served at /orgs/ORG/toolsets/NAME/mcp."),
                ],
            ],
            "toolset": [
                "type": "object", "required": ["tools"], "additionalProperties": false,
                "properties": [
                    "description": ["type": "string"],
                    "tools": [
                        "type": "array", "minItems": 1, "items": ["type": "string", "minLength": 1],
                        "description": "SERVER:GLOB entries: tools of the org's servers by upstream name (* matches any run of characters); SERVER alone is all its tools. Each is still decided per caller.",
                    ],
                ],
            ],
            "team": [
                "type": "object", "required": ["members", "roles"], "additionalProperties": false,
                "properties": ["members": strings(), "roles": strings()],
            ],
            "server": [
                "type": "object", "additionalProperties": false,
                "oneOf": [["required": ["command"]], ["required": ["url"]]],
                "properties": [
                    "description": ["type": "string"],
                    "disabled": ["type": "boolean"],
                    "timeoutSeconds": positive,
                    "prefix": [
                        "type": "string", "pattern": "^(?!_)(?!.*__)[a-zA-Z0-9_-]{1,32}(?<!_)$",
                        "description": "First part of its tools' and prompts' names on the aggregated endpoints (default: the server's name).",
                    ],
                    "tools": filter("Tool"),
                    "prompts": filter("Prompt"),
                    "resources": filter("Resource URI"),
                    "command": ["type": "string", "description": "stdio server: the program to start. ${env:NAME} is expanded."],
                    "args": strings(),
                    "env": stringMap("Environment of the server process."),
                    "cwd": ["type": "string"],
                    "url": ["type": "string", "description": "Remote server: its MCP endpoint."],
                    "transport": ["enum": ["streamable-http", "sse"]],
                    "headers": stringMap("Headers sent to the remote server."),
                    "protocol": [
                        "enum": ["auto", "2026-07-28", "legacy"],
                        "description": "The MCP era spoken to the server: auto (default) asks it once with server/discover.",
                    ],
                    "limits": [
                        "type": "object", "additionalProperties": false,
                        "properties": [
                            "concurrentCalls": positive,
                            "tools": [
                                "type": "object",
                                "description": "TOOL glob (* matches any run of characters) to its per-user rate.",
                                "additionalProperties": [
                                    "type": "object", "required": ["callsPerMinute"], "additionalProperties": false,
                                    "properties": ["callsPerMinute": positive],
                                ],
                            ],
                        ],
                    ],
                    "approve": [
                        "type": "array",
                        "description": "Tools whose every call waits for a person's approval: the caller's own (by: caller, asked through their client) or someone else's holding a role in the org (by: role:NAME, on the dashboard at /ui/approvals).",
                        "items": [
                            "type": "object", "required": ["tools", "by"], "additionalProperties": false,
                            "properties": [
                                "tools": ["type": "array", "minItems": 1, "items": ["type": "string", "minLength": 1], "description": "TOOL globs (* matches any run of characters)."],
                                "by": ["type": "string", "pattern": "^(caller|role:.+)$", "description": "caller, or role:NAME."],
                                "timeoutSeconds": ["type": "integer", "minimum": 1, "maximum": 86400, "description": "How long a call waits for the answer (default 300); then it is declined."],
                                "redact": ["type": "array", "items": ["type": "string"], "description": "Argument names whose values the question shows as •••."],
                            ],
                        ],
                    ],
                    "overrides": [
                        "type": "object", "additionalProperties": false,
                        "description": "How the server's tools are shown to clients, in every list of every endpoint; policy rules, pins and the audit keep the upstream names.",
                        "properties": [
                            "tools": [
                                "type": "object",
                                "description": "The tool's name as its server lists it, to what clients see instead.",
                                "additionalProperties": [
                                    "type": "object", "additionalProperties": false,
                                    "properties": [
                                        "name": ["type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$", "description": "The exposed name; a call by it is mapped back."],
                                        "description": ["type": "string", "description": "The description clients and models see."],
                                        "hidden": ["type": "boolean", "description": "Neither listed nor callable, for everyone."],
                                    ],
                                ],
                            ],
                        ],
                    ],
                    "stateful": [
                        "type": "boolean",
                        "description": "Its processes keep state a new one would not have (a browser, a shell): a replica that does not hold a session of it answers 404 instead of re-creating it.",
                    ],
                    "oauth": [
                        "type": "object", "required": ["client"], "additionalProperties": false,
                        "description": "url servers only: connected accounts. Each user connects their own account at the server's authorization server on the dashboard (/ui/connections), and calls carry that user's own access token.",
                        "properties": [
                            "client": [
                                "type": "object", "required": ["id"], "additionalProperties": false,
                                "description": "The gateway's client, registered at the authorization server with redirect URI PUBLIC_URL/ui/oauth/callback.",
                                "properties": ["id": ["type": "string"], "secret": ["type": "string", "pattern": "\\$\\{env:", "description": "Only as ${env:VARIABLE}."]],
                            ],
                            "scopes": strings("Scopes to ask for (offline_access is added when the authorization server offers it)."),
                            "authorizationServer": ["type": "string", "description": "The issuer users sign in at, pinned (https; http only on loopback). Default: the one the server's protected-resource metadata names."],
                            "resource": ["type": "string", "description": "The resource the tokens are for (RFC 8707). Default: the resource of the server's protected-resource metadata."],
                            "sendResource": ["type": "boolean", "description": "Send resource in the authorization and token requests (default true; false for Entra ID, which refuses it)."],
                        ],
                    ],
                ],
            ],
            "user": [
                "type": "object", "additionalProperties": false,
                "properties": [
                    "displayName": ["type": "string"],
                    "email": ["type": "string"],
                    "identities": [
                        "type": "array", "description": "ISSUER:VALUE: the user's value of an auth.oidc issuer's userClaim.",
                        "items": ["type": "string", "pattern": "^[^:]+:.+$"],
                    ],
                    "disabled": ["type": "boolean"],
                    "admin": ["type": "boolean", "description": "Grants the gateway admin API, no server access."],
                    "keys": ["type": "array", "items": ["$ref": "#/$defs/key"]],
                ],
            ],
            "key": [
                "type": "object", "required": ["id", "sha256"], "additionalProperties": false,
                "properties": [
                    "id": ["type": "string", "pattern": .string(namePattern)],
                    "sha256": ["type": "string", "pattern": "^[0-9a-f]{64}$", "description": "Lowercase hex SHA-256 of the token (orch keys hash)."],
                    "created": time,
                    "expires": time,
                    "scope": [
                        "type": "array", "description": "ORG/SERVER or ORG/SERVER:ITEM globs (ITEM as in a rule): the key can only narrow its user's access.",
                        "items": ["type": "string", "pattern": "^[a-z0-9_*-]+/[a-z0-9_*-]+(:.+)?$"],
                    ],
                    "description": ["type": "string"],
                ],
            ],
            "test": [
                "type": "object", "required": ["user"], "additionalProperties": false,
                "properties": [
                    "user": ["type": "string"],
                    "key": ["type": "string"],
                    "at": time,
                    "allow": strings("ORG/SERVER, ORG/SERVER:TOOL, ORG/SERVER:prompts/NAME or ORG/SERVER:resources/URI targets that must be allowed."),
                    "deny": strings("ORG/SERVER, ORG/SERVER:TOOL, ORG/SERVER:prompts/NAME or ORG/SERVER:resources/URI targets that must be denied."),
                    "approve": strings("ORG/SERVER:TOOL targets that must require approval (an approve rule of the server names the tool)."),
                ],
            ],
        ],
    ]
}
