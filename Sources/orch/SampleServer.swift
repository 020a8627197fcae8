import ArgumentParser
import Foundation
import OrchJSON
import OrchGateway
import OrchPolicy

struct SampleServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-server",
        abstract: "A small MCP server on stdio, for the demo orch.json and the tests.",
        discussion: """
            Tools: echo {text, delayMs?}, add {a, b}, now, write_note {name, text}, delete_note {name}. \
            Resources: notes://index (every note), notes://readme and notes://note/NAME for each note, \
            with the template notes://note/{name}. Prompts: summarize {topic}, draft_note {name, tone?}. \
            Completions: note names for summarize's topic and for the template's name. \
            resources/subscribe and resources/unsubscribe keep a set of URIs; write_note and delete_note \
            send notifications/resources/list_changed, then notifications/resources/updated for the \
            subscribed ones of notes://note/NAME and notes://index. As a test aid for gateways that must \
            filter these notifications, subscribing to the literal URI notes://* sends updated for both \
            whatever else is subscribed. --page-size pages tools/list, prompts/list, resources/list and \
            resources/templates/list. Reads newline-delimited JSON-RPC on stdin and answers on stdout.
            """
    )

    @Option(help: "Items per page of tools/list, prompts/list, resources/list and resources/templates/list (0: all on one page).") var pageSize = 0

    @Option(name: .customLong("describe"), help: ArgumentHelp(
        "Give a tool another description, as a server that changes its tools would (repeatable).", valueName: "TOOL=TEXT"))
    var descriptions: [String] = []

    @Option(help: "Also offer this many generated tools (tool_00001 …, each with a description of its own words): a test aid for large lists.")
    var generatedTools = 0

    @Flag(help: "Also offer env_hash, which answers the SHA-256 of an environment variable's value (never the value): a test aid for per-user secrets.")
    var envTool = false

    @Flag(help: "Also offer session_info, which answers what the server was told at initialize (protocol version, client capabilities and clientInfo) and how many notifications/initialized it got: a test aid for re-created sessions.")
    var sessionTool = false

    @Option(help: "The protocol versions it negotiates, comma-separated (default: 2024-11-05 … 2025-11-25).")
    var versions: String?

    @Flag(help: "Also offer ask_name, which asks the client for a name (elicitation/create, when the client declared elicitation) and greets it: a test aid for relaying a server's questions.")
    var askTool = false

    @Flag(help: "Speak MCP 2026-07-28 only: server/discover instead of initialize, the request envelope required, list changes and resource updates on subscriptions/listen; adds ask_name (asks for input) and envelope.")
    var modern = false

    func run() throws {
        var overrides: [String: String] = [:]
        for entry in descriptions {
            guard let equals = entry.firstIndex(of: "=") else { throw ValidationError("--describe takes TOOL=TEXT, not \"\(entry)\"") }
            overrides[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        var server = SampleServer(pageSize: pageSize, descriptions: overrides, envTool: envTool, askTool: askTool && !modern)
        server.sessionTool = sessionTool
        server.generated = (0..<max(0, generatedTools)).map(SampleServer.generatedTool)
        if let versions { server.versions = versions.split(separator: ",").map(String.init) }
        var modernServer = ModernSampleServer(server: server)
        while let line = readLine(strippingNewline: true) {
            guard !line.isEmpty else { continue }
            for reply in modern ? modernServer.handle(line) : server.handle(line) {
                FileHandle.standardOutput.write(Data((reply.compact + "\n").utf8))
            }
        }
    }
}

/// The sample server's protocol logic: one JSON-RPC line in, the lines to send back out.
struct SampleServer {
    let pageSize: Int
    /// Tools whose description `--describe` replaced.
    var descriptions: [String: String] = [:]
    /// `--env-tool`: env_hash is offered too.
    var envTool = false
    /// `--ask-tool`: ask_name is offered too.
    var askTool = false
    /// `--session-tool`: session_info is offered too.
    var sessionTool = false
    /// `--generated-tools`: offered after the others; a call answers its own name.
    var generated: [JSONValue] = []
    /// The versions it negotiates (`--versions`).
    var versions = Self.allVersions
    /// What `initialize` said, and the `notifications/initialized` that followed (session_info).
    var initialized: JSONObject = [:]
    var initializedNotifications = 0
    /// The client declared elicitation at initialize.
    var clientElicits = false
    /// The questions sent to the client, by their id: the call each belongs to.
    var asking: [String: JSONValue] = [:]
    var questions = 0

    static let askTool = tool("ask_name", "Asks the client for a name (elicitation) and greets it.", [:], required: [])

    static let envHashTool = tool("env_hash", "The SHA-256 of an environment variable's value (unset: \"unset\").", ["name": ["type": "string"]], required: ["name"])
    var notes: [String: String] = [:]
    var subscriptions: Set<String> = []

    static let allVersions = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]
    static let sessionInfoTool = tool("session_info", "What initialize said (protocolVersion, capabilities, clientInfo) and the notifications/initialized received.", [:], required: [])

    static let tools: [JSONValue] = [
        tool("add", "Add two numbers.", ["a": ["type": "number"], "b": ["type": "number"]], required: ["a", "b"]),
        tool("delete_note", "Delete a note.", ["name": ["type": "string"]], required: ["name"]),
        tool("echo", "Echo the text back (after delayMs milliseconds).", ["text": ["type": "string"], "delayMs": ["type": "integer"]], required: ["text"]),
        tool("now", "The current time, RFC 3339.", [:], required: []),
        tool("write_note", "Write a note.", ["name": ["type": "string"], "text": ["type": "string"]], required: ["name", "text"]),
    ]

    static let prompts: [JSONValue] = [
        ["name": "summarize", "description": "Summarize the notes on a topic.", "arguments": [["name": "topic", "required": true]]],
        [
            "name": "draft_note", "description": "Draft a new note.",
            "arguments": [["name": "name", "required": true], ["name": "tone", "required": false]],
        ],
    ]

    static let resourceTemplates: [JSONValue] = [
        ["uriTemplate": "notes://note/{name}", "name": "note", "description": "A note by name", "mimeType": "text/plain"],
    ]

    static let notePrefix = "notes://note/"
    static let readme = "The orch sample server keeps notes in memory: write_note and delete_note change them, and each note reads as notes://note/NAME."

    /// Words the generated tools' descriptions are made of, so that each reads differently.
    static let generatedWords = [
        "issue", "branch", "deploy", "invoice", "ticket", "calendar", "message", "report", "schema", "bucket", "cluster", "query",
        "customer", "order", "payment", "image", "video", "document", "folder", "user", "team", "project", "metric", "alert",
    ]
    static let generatedVerbs = ["create", "list", "update", "delete", "search", "export", "archive", "summarize"]

    /// The `index`th generated tool: `tool_NNNNN`, "Verb the noun of the other noun."
    static func generatedTool(_ index: Int) -> JSONValue {
        let verb = generatedVerbs[index % generatedVerbs.count]
        let noun = generatedWords[(index / generatedVerbs.count) % generatedWords.count]
        let other = generatedWords[(index / (generatedVerbs.count * generatedWords.count) + index) % generatedWords.count]
        let name = "tool_" + String(repeating: "0", count: max(0, 5 - String(index).count)) + String(index)
        return tool(name, "\(verb.prefix(1).uppercased() + verb.dropFirst()) the \(noun) of a \(other) (generated tool \(index)).",
                    ["id": ["type": "string"]], required: [])
    }

    static func tool(_ name: String, _ description: String, _ properties: JSONObject, required: [String]) -> JSONValue {
        [
            "name": .string(name), "description": .string(description),
            "inputSchema": ["type": "object", "properties": .object(properties), "required": .strings(required)],
        ]
    }

    static func resource(_ uri: String, _ name: String) -> JSONValue {
        ["uri": .string(uri), "name": .string(name), "mimeType": "text/plain"]
    }

    /// notes://index, notes://readme, then one resource per note in name order.
    var resources: [JSONValue] {
        [Self.resource("notes://index", "index"), Self.resource("notes://readme", "readme")]
            + notes.keys.sorted().map { Self.resource(Self.notePrefix + $0, $0) }
    }

    mutating func handle(_ line: String) -> [JSONValue] {
        guard let message = try? JSONValue.parse(line), case .object(let object) = message else {
            return [Self.error(id: nil, code: -32700, "Parse error")]
        }
        guard let method = object["method"]?.stringValue else { return answered(object) }  // a response to us
        guard let id = object["id"] else {  // a notification
            if method == "notifications/initialized" { initializedNotifications += 1 }
            return []
        }
        let params = object["params"]?.objectValue ?? [:]
        switch method {
        case "initialize":
            clientElicits = params["capabilities"]?["elicitation"] != nil
            let requested = params["protocolVersion"]?.stringValue ?? ""
            let version = versions.contains(requested) ? requested : versions.last ?? requested
            initialized = ["protocolVersion": .string(version), "capabilities": params["capabilities"] ?? [:], "clientInfo": params["clientInfo"] ?? [:]]
            return [Self.result(id: id, [
                "protocolVersion": .string(version),
                "capabilities": [
                    "tools": ["listChanged": true], "resources": ["subscribe": true, "listChanged": true],
                    "prompts": ["listChanged": true], "completions": [:], "logging": [:],
                ],
                "serverInfo": ["name": "orch-sample-server", "version": .string(Gateway.version)],
            ])]
        case "ping", "logging/setLevel":
            return [Self.result(id: id, [:])]
        case "tools/list":
            let tools = (Self.tools + (envTool ? [Self.envHashTool] : []) + (askTool ? [Self.askTool] : []) + (sessionTool ? [Self.sessionInfoTool] : []) + generated).map { tool -> JSONValue in
                guard case .object(var object) = tool, let name = object["name"]?.stringValue, let text = descriptions[name] else { return tool }
                object["description"] = .string(text)
                return .object(object)
            }
            return [page(id: id, "tools", tools, cursor: params["cursor"])]
        case "tools/call":
            return call(id: id, name: params["name"]?.stringValue ?? "", arguments: params["arguments"]?.objectValue ?? [:])
        case "resources/list":
            return [page(id: id, "resources", resources, cursor: params["cursor"])]
        case "resources/templates/list":
            return [page(id: id, "resourceTemplates", Self.resourceTemplates, cursor: params["cursor"])]
        case "resources/read":
            let uri = params["uri"]?.stringValue ?? ""
            let text: String
            if uri == "notes://index" {
                text = notes.keys.sorted().map { "\($0): \(notes[$0]!)" }.joined(separator: "\n")
            } else if uri == "notes://readme" {
                text = Self.readme
            } else if uri.hasPrefix(Self.notePrefix), let note = notes[String(uri.dropFirst(Self.notePrefix.count))] {
                text = note
            } else {
                return [Self.error(id: id, code: -32002, "Resource not found: \(uri)")]
            }
            return [Self.result(id: id, ["contents": [["uri": .string(uri), "mimeType": "text/plain", "text": .string(text)]]])]
        case "resources/subscribe", "resources/unsubscribe":
            guard let uri = params["uri"]?.stringValue else { return [Self.error(id: id, code: -32602, "\(method) needs a string \"uri\"")] }
            if method == "resources/subscribe" { subscriptions.insert(uri) } else { subscriptions.remove(uri) }
            return [Self.result(id: id, [:])]
        case "prompts/list":
            return [page(id: id, "prompts", Self.prompts, cursor: params["cursor"])]
        case "prompts/get":
            return getPrompt(id: id, name: params["name"]?.stringValue ?? "", arguments: params["arguments"]?.objectValue ?? [:])
        case "completion/complete":
            return [complete(id: id, ref: params["ref"], argument: params["argument"])]
        default:
            return [Self.error(id: id, code: -32601, "Method not found: \(method)")]
        }
    }

    /// One page of `items` under `key`: `--page-size` items from the offset the cursor names.
    private func page(id: JSONValue, _ key: String, _ items: [JSONValue], cursor: JSONValue?) -> JSONValue {
        var start = 0
        if let cursor, !cursor.isNull {
            guard let offset = cursor.stringValue.flatMap(Int.init), (0...items.count).contains(offset) else {
                return Self.error(id: id, code: -32602, "Invalid cursor")
            }
            start = offset
        }
        let end = start + min(pageSize > 0 ? pageSize : items.count, items.count - start)
        var result: JSONObject = [key: .array(Array(items[start..<end]))]
        if end < items.count { result["nextCursor"] = .string(String(end)) }
        return Self.result(id: id, .object(result))
    }

    private func getPrompt(id: JSONValue, name: String, arguments: JSONObject) -> [JSONValue] {
        let text: String
        switch name {
        case "summarize":
            text = "Summarize the notes about \(arguments["topic"]?.stringValue ?? "everything")."
        case "draft_note":
            guard let note = arguments["name"]?.stringValue else { return [Self.error(id: id, code: -32602, "draft_note needs a string argument \"name\"")] }
            text = "Draft a note called \(note)" + (arguments["tone"]?.stringValue.map { " in a \($0) tone" } ?? "")
        default:
            return [Self.error(id: id, code: -32602, "Unknown prompt: \(name)")]
        }
        return [Self.result(id: id, ["messages": [["role": "user", "content": ["type": "text", "text": .string(text)]]]])]
    }

    /// Note names for summarize's topic and for the note template's name; nothing for anything else.
    private func complete(id: JSONValue, ref: JSONValue?, argument: JSONValue?) -> JSONValue {
        let type = ref?["type"]?.stringValue ?? ""
        guard let key = ["ref/prompt": "name", "ref/resource": "uri"][type], let target = ref?[key]?.stringValue else {
            return Self.error(id: id, code: -32602, "Invalid completion ref")
        }
        let completing = (type, target, argument?["name"]?.stringValue ?? "")
        var values: [String] = []
        if completing == ("ref/prompt", "summarize", "topic") || completing == ("ref/resource", "notes://note/{name}", "name") {
            let prefix = argument?["value"]?.stringValue ?? ""
            values = notes.keys.filter { $0.hasPrefix(prefix) }.sorted()
        }
        return Self.result(id: id, ["completion": [
            "values": .strings(values.prefix(100)), "total": .integer(Int64(values.count)), "hasMore": .bool(values.count > 100),
        ]])
    }

    /// The notifications for a change to note `name`: list_changed, then updated for each subscribed
    /// URI of the note and the index (both when the test aid notes://* is subscribed).
    private func noteChanged(_ name: String) -> [JSONValue] {
        var lines: [JSONValue] = [["jsonrpc": "2.0", "method": "notifications/resources/list_changed"]]
        for uri in [Self.notePrefix + name, "notes://index"] where subscriptions.contains(uri) || subscriptions.contains("notes://*") {
            lines.append(["jsonrpc": "2.0", "method": "notifications/resources/updated", "params": ["uri": .string(uri)]])
        }
        return lines
    }

    private mutating func call(id: JSONValue, name: String, arguments: JSONObject) -> [JSONValue] {
        func text(_ s: String, error: Bool = false) -> JSONValue {
            Self.result(id: id, ["content": [["type": "text", "text": .string(s)]], "isError": .bool(error)])
        }
        switch name {
        case _ where name.hasPrefix("tool_") && generated.contains(where: { $0["name"]?.stringValue == name }):
            return [text(name)]
        case "echo":
            guard let value = arguments["text"]?.stringValue else { return [text("echo needs a string \"text\"", error: true)] }
            if let delay = arguments["delayMs"]?.integerValue, delay > 0 { usleep(UInt32(min(delay, 60_000)) * 1000) }
            return [text(value)]
        case "add":
            guard let a = arguments["a"]?.doubleValue, let b = arguments["b"]?.doubleValue else {
                return [text("add needs numbers \"a\" and \"b\"", error: true)]
            }
            let sum = a + b
            return [text(sum.rounded() == sum && abs(sum) < 1e15 ? String(Int64(sum)) : String(sum))]
        case "now":
            return [text(Timestamp.format(Date()))]
        case "ask_name" where askTool:
            guard clientElicits else { return [text("ask_name needs a client that can answer questions (elicitation)", error: true)] }
            questions += 1
            let question = JSONValue.string("ask-\(questions)")
            asking[question.compact] = id
            return [["jsonrpc": "2.0", "id": question, "method": "elicitation/create", "params": [
                "mode": "form", "message": "What is your name?",
                "requestedSchema": ["type": "object", "properties": ["name": ["type": "string"]], "required": ["name"]],
            ]]]
        case "session_info" where sessionTool:
            var info = initialized
            info["initializedNotifications"] = .integer(Int64(initializedNotifications))
            return [text(JSONValue.object(info).compact)]
        case "env_hash" where envTool:
            guard let variable = arguments["name"]?.stringValue else { return [text("env_hash needs a string \"name\"", error: true)] }
            guard let value = ProcessInfo.processInfo.environment[variable] else { return [text("unset")] }
            return [text("sha256:" + Hex.encode(Crypto.sha256(value)))]
        case "write_note":
            guard let note = arguments["name"]?.stringValue, let body = arguments["text"]?.stringValue else {
                return [text("write_note needs strings \"name\" and \"text\"", error: true)]
            }
            notes[note] = body
            return noteChanged(note) + [text("wrote \(note)")]
        case "delete_note":
            guard let note = arguments["name"]?.stringValue else { return [text("delete_note needs a string \"name\"", error: true)] }
            guard notes.removeValue(forKey: note) != nil else { return [text("no note \(note)")] }
            return noteChanged(note) + [text("deleted \(note)")]
        default:
            return [Self.error(id: id, code: -32602, "Unknown tool: \(name)")]
        }
    }

    /// The client's answer to one of ask_name's questions: the call it belongs to is answered.
    private mutating func answered(_ response: JSONObject) -> [JSONValue] {
        guard let id = response["id"], let call = asking.removeValue(forKey: id.compact) else { return [] }
        let reply: String
        if response["result"]?["action"] == "accept", let name = response["result"]?["content"]?["name"]?.stringValue {
            reply = "hello \(name)"
        } else {
            reply = "no name given"
        }
        return [Self.result(id: call, ["content": [["type": "text", "text": .string(reply)]], "isError": .bool(reply == "no name given")])]
    }

    static func result(id: JSONValue, _ result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "result": result]
    }

    static func error(id: JSONValue?, code: Int64, _ message: String) -> JSONValue {
        ["jsonrpc": "2.0", "id": id ?? .null, "error": ["code": .integer(code), "message": .string(message)]]
    }
}
