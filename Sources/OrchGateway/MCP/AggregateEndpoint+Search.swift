import Foundation
import Hummingbird
import OrchJSON
import OrchPolicy
import Synchronization

/// Search mode (`?tools=search` on an aggregated or toolset endpoint, either era): the endpoint
/// lists two tools of the gateway's own instead of every tool, for clients that cap how many they
/// take. `find_tools` ranks the caller's permitted tools of the endpoint (BM25 over names and
/// descriptions, `ToolSearch`) and returns their exposed names, descriptions and schemas;
/// `call_tool` calls one by its exposed name, routed and decided exactly as a direct call (and
/// audited under the real tool's name). A tool the caller may not use is never found, and a call
/// of it is refused as a direct one is.
extension AggregateEndpoint {
    static let findTools = "find_tools"
    static let callTool = "call_tool"

    static func searchMode(_ request: Request) -> Bool { request.uri.queryParameters.get("tools") == "search" }

    /// The two tools search mode lists.
    static let searchTools: JSONValue = [
        [
            "name": .string(findTools),
            "description": "Find the tools for a task among every tool this endpoint offers you. Returns the best matches with their names, descriptions and input schemas; call one with call_tool.",
            "inputSchema": [
                "type": "object", "required": ["query"],
                "properties": [
                    "query": ["type": "string", "description": "What the tool should do, in a few words."],
                    "limit": ["type": "integer", "minimum": 1, "maximum": .integer(Int64(maxFound)), "description": "How many tools to return (default 10)."],
                ],
            ],
        ],
        [
            "name": .string(callTool),
            "description": "Call a tool find_tools returned, by its name, with its arguments.",
            "inputSchema": [
                "type": "object", "required": ["name"],
                "properties": [
                    "name": ["type": "string", "description": "The tool's name, as find_tools gave it."],
                    "arguments": ["type": "object", "description": "The tool's arguments, as its inputSchema says."],
                ],
            ],
        ],
    ]

    static let defaultFound = 10
    static let maxFound = 50

    func searchList(id: JSONValue) -> JSONValue { ["jsonrpc": "2.0", "id": id, "result": ["tools": Self.searchTools]] }

    /// `call_tool`'s params as the direct `tools/call` they stand for (its `_meta` kept); nil when
    /// they name no tool.
    static func directCall(_ params: JSONObject) -> JSONObject? {
        guard case .object(let arguments)? = params["arguments"], case .string(let name)? = arguments["name"] else { return nil }
        var call: JSONObject = ["name": .string(name), "arguments": arguments["arguments"] ?? [:]]
        if let meta = params["_meta"] { call["_meta"] = meta }
        return call
    }

    /// `find_tools`: the best matches of the caller's permitted tools of the endpoint, as
    /// `structuredContent` and the same JSON as text. The tools come from the endpoint's merged
    /// list (every page), indexed once and kept until a list changes or the lists' cache time passes.
    func findTools(
        _ request: Request, _ context: GatewayContext, _ caller: Caller, _ session: any AggregateMembers, id: JSONValue, params: JSONObject
    ) async -> JSONValue {
        let started = ContinuousClock.now
        let arguments = params["arguments"]?.objectValue ?? [:]
        guard case .string(let query)? = arguments["query"] else {
            return JSONRPC.error(id: id, code: JSONRPC.invalidParams, "find_tools needs a string arguments.query")
        }
        var limit = Self.defaultFound
        if let given = arguments["limit"] {
            guard let number = given.integerValue, number >= 1 else {
                return JSONRPC.error(id: id, code: JSONRPC.invalidParams, "find_tools' limit is a whole number from 1 to \(Self.maxFound)")
            }
            limit = Int(min(number, Int64(Self.maxFound)))
        }
        let index = await searchIndex(request, context, caller, session)
        let found = index.search.search(query, limit: limit)
        let tools: [JSONValue] = found.map { entry in
            ["name": .string(entry.name), "description": .string(entry.description), "inputSchema": index.schemas[entry.name] ?? ["type": "object"]]
        }
        let structured: JSONValue = ["tools": .array(tools)]
        gateway.auditor.record(context, request: request, caller: caller, decision: .allow,
                               reason: "find_tools: \(found.count) of \(index.search.entries.count) permitted tools found", status: 200,
                               started: started, org: session.org, session: session.sessionID, mcpMethod: "tools/call")
        return ["jsonrpc": "2.0", "id": id, "result": [
            "content": [["type": "text", "text": .string(structured.compact)]], "structuredContent": structured, "isError": false,
        ]]
    }

    /// The session's search index, built from every page of its merged tools list when none is
    /// kept for the caller's policy or the kept one is older than the lists' cache time.
    private func searchIndex(_ request: Request, _ context: GatewayContext, _ caller: Caller, _ session: any AggregateMembers) async -> SearchIndex {
        if let kept = session.names.searchIndex(policy: caller.policy, maxAge: gateway.catalog.ttl) { return kept }
        var entries: [ToolSearch.Entry] = []
        var schemas: [String: JSONValue] = [:]
        for tool in await allPages(.tools, request, context, caller, session) {
            guard let name = tool["name"]?.stringValue, schemas[name] == nil else { continue }
            entries.append(ToolSearch.Entry(name: name, description: tool["description"]?.stringValue ?? ""))
            schemas[name] = tool["inputSchema"] ?? ["type": "object"]
        }
        let index = SearchIndex(search: ToolSearch(entries), schemas: schemas)
        session.names.keep(index, policy: caller.policy)
        return index
    }
}

/// What `find_tools` searches: the index and each tool's input schema, by exposed name.
struct SearchIndex: Sendable {
    let search: ToolSearch
    let schemas: [String: JSONValue]
}
