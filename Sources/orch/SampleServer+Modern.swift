import OrchJSON

/// `orch sample-server --modern`: the same server speaking MCP 2026-07-28 only, as a modern server
/// answers (the Python SDK 2.3's server is the reference): `server/discover` instead of
/// `initialize` (which gets -32022), the envelope required on every request (-32602 without it),
/// `resultType` on every result, `ping`, `logging/setLevel` and `resources/subscribe` removed
/// (-32601), list changes and resource updates on `subscriptions/listen` streams (each frame naming
/// its listen; a listen ends with its `notifications/cancelled`), and one
/// more tool: `ask_name`, which answers `input_required` (an elicitation) until it is retried with
/// the answer, and `envelope`, which answers the envelope its request carried, as JSON text.
struct ModernSampleServer {
    var server: SampleServer
    /// The open listens: their ids, whether they take resource and tool list changes, and the
    /// resources whose updates they take.
    var listens: [(id: JSONValue, resources: Bool, tools: Bool, uris: Set<String>)] = []

    static let version = "2026-07-28"
    static let protocolKey = "io.modelcontextprotocol/protocolVersion"
    static let capabilitiesKey = "io.modelcontextprotocol/clientCapabilities"
    static let subscriptionKey = "io.modelcontextprotocol/subscriptionId"

    static let extraTools: [JSONValue] = [
        SampleServer.tool("ask_name", "Greets whoever the client says it is (asks for the name).", [:], required: []),
        SampleServer.tool("envelope", "The 2026-07-28 envelope of this request, as JSON text.", [:], required: []),
    ]

    mutating func handle(_ line: String) -> [JSONValue] {
        guard let message = try? JSONValue.parse(line), case .object(let object) = message else {
            return [SampleServer.error(id: nil, code: -32700, "Parse error")]
        }
        let params = object["params"]?.objectValue ?? [:]
        if object["method"] == "notifications/cancelled", let cancelled = params["requestId"] {
            listens.removeAll { $0.id == cancelled }
            subscribeTheListenedResources()
        }
        guard let method = object["method"]?.stringValue, let id = object["id"] else { return [] }
        let meta = params["_meta"]?.objectValue ?? [:]
        switch method {
        case "initialize":
            return [error(id, -32022, "this server speaks 2026-07-28 only", data: ["supported": [.string(Self.version)], "requested": params["protocolVersion"] ?? .null])]
        case "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe":
            return [error(id, -32601, "Method not found: \(method)")]
        default:
            break
        }
        guard let version = meta[Self.protocolKey], meta[Self.capabilitiesKey] != nil else {
            return [error(id, -32602, "missing the request envelope (\(Self.protocolKey), \(Self.capabilitiesKey))")]
        }
        guard version == .string(Self.version) else {
            return [error(id, -32022, "unsupported protocol version", data: ["supported": [.string(Self.version)], "requested": version])]
        }
        switch method {
        case "server/discover":
            return [result(id, [
                "supportedVersions": [.string(Self.version)],
                "capabilities": [
                    "tools": ["listChanged": true], "resources": ["listChanged": true, "subscribe": true],
                    "prompts": ["listChanged": true], "completions": [:],
                ],
                "cacheScope": "private", "ttlMs": 0,
                "_meta": ["io.modelcontextprotocol/serverInfo": ["name": "orch-sample-server-modern", "version": "1"]],
            ])]
        case "subscriptions/listen":
            let filter = params["notifications"]?.objectValue ?? [:]
            let uris = Set(filter["resourceSubscriptions"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            listens.append((id, filter["resourcesListChanged"] == true, filter["toolsListChanged"] == true, uris))
            subscribeTheListenedResources()
            return [["jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged",
                     "params": ["notifications": .object(filter), "_meta": [Self.subscriptionKey: id]]]]
        case "tools/list":
            guard params["cursor"] == nil else { break }
            let page = server.handle(line).first ?? .null
            guard case .object(var result)? = page["result"] else { return [page] }
            result["tools"] = .array((result["tools"]?.arrayValue ?? []) + Self.extraTools)
            return [self.result(id, .object(result))]
        case "tools/call" where params["name"] == "ask_name":
            if let name = params["inputResponses"]?["name"]?["content"]?["name"]?.stringValue {
                return [result(id, ["content": [["type": "text", "text": .string("hello \(name)")]]])]
            }
            return [result(id, [
                "resultType": "input_required",
                "inputRequests": ["name": ["method": "elicitation/create", "params": [
                    "mode": "form", "message": "What is your name?",
                    "requestedSchema": ["type": "object", "properties": ["name": ["type": "string"]], "required": ["name"]],
                ]]],
                "requestState": "sample-state-1",
            ])]
        case "tools/call" where params["name"] == "envelope":
            return [result(id, ["content": [["type": "text", "text": .string(JSONValue.object(meta).compact)]]])]
        default:
            break
        }
        var lines: [JSONValue] = []
        for reply in server.handle(line) {
            switch reply["method"]?.stringValue {
            case "notifications/resources/list_changed"?:
                for listen in listens where listen.resources { lines.append(frame(reply, listen.id)) }
            case "notifications/resources/updated"?:
                guard let uri = reply["params"]?["uri"]?.stringValue else { continue }
                for listen in listens where listen.uris.contains(uri) {
                    lines.append(["jsonrpc": "2.0", "method": "notifications/resources/updated",
                                  "params": ["uri": .string(uri), "_meta": [Self.subscriptionKey: listen.id]]])
                }
            case nil:
                guard case .object(var object) = reply, case .object(var result)? = object["result"] else { lines.append(reply); continue }
                result["resultType"] = "complete"
                object["result"] = .object(result)
                lines.append(.object(object))
            default:
                lines.append(reply)
            }
        }
        return lines
    }

    /// The server sends updates for what some listen names (resources/subscribe is gone in this era).
    private mutating func subscribeTheListenedResources() {
        server.subscriptions = listens.reduce(into: Set<String>()) { $0.formUnion($1.uris) }
    }

    private func frame(_ notification: JSONValue, _ id: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "method": notification["method"] ?? .null, "params": ["_meta": [Self.subscriptionKey: id]]]
    }

    private func result(_ id: JSONValue, _ result: JSONValue) -> JSONValue {
        guard case .object(var object) = result else { return result }
        if object["resultType"] == nil { object["resultType"] = "complete" }
        return ["jsonrpc": "2.0", "id": id, "result": .object(object)]
    }

    private func error(_ id: JSONValue, _ code: Int64, _ message: String, data: JSONValue? = nil) -> JSONValue {
        var error: JSONObject = ["code": .integer(code), "message": .string(message)]
        if let data { error["data"] = data }
        return ["jsonrpc": "2.0", "id": id, "error": .object(error)]
    }
}
