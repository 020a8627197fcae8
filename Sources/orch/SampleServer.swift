import ArgumentParser
import Foundation
import OrchJSON
import OrchPolicy

struct SampleServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sample-server",
        abstract: "A small MCP server on stdio, for the demo orch.json and the tests.",
        discussion: """
            Tools: echo {text, delayMs?}, add {a, b}, now, write_note {name, text}, delete_note {name}. \
            One resource (notes://index) and one prompt (summarize). Reads newline-delimited JSON-RPC \
            on stdin and answers on stdout. write_note also sends notifications/resources/list_changed.
            """
    )

    @Option(help: "Tools per tools/list page (0: all on one page).") var pageSize = 0

    func run() throws {
        var server = SampleServer(pageSize: pageSize)
        while let line = readLine(strippingNewline: true) {
            guard !line.isEmpty else { continue }
            for reply in server.handle(line) {
                FileHandle.standardOutput.write(Data((reply.compact + "\n").utf8))
            }
        }
    }
}

/// The sample server's protocol logic: one JSON-RPC line in, the lines to send back out.
struct SampleServer {
    let pageSize: Int
    var notes: [String: String] = [:]

    static let versions = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]

    static let tools: [JSONValue] = [
        tool("add", "Add two numbers.", ["a": ["type": "number"], "b": ["type": "number"]], required: ["a", "b"]),
        tool("delete_note", "Delete a note.", ["name": ["type": "string"]], required: ["name"]),
        tool("echo", "Echo the text back (after delayMs milliseconds).", ["text": ["type": "string"], "delayMs": ["type": "integer"]], required: ["text"]),
        tool("now", "The current time, RFC 3339.", [:], required: []),
        tool("write_note", "Write a note.", ["name": ["type": "string"], "text": ["type": "string"]], required: ["name", "text"]),
    ]

    static func tool(_ name: String, _ description: String, _ properties: JSONObject, required: [String]) -> JSONValue {
        [
            "name": .string(name), "description": .string(description),
            "inputSchema": ["type": "object", "properties": .object(properties), "required": .strings(required)],
        ]
    }

    mutating func handle(_ line: String) -> [JSONValue] {
        guard let message = try? JSONValue.parse(line), case .object(let object) = message else {
            return [Self.error(id: nil, code: -32700, "Parse error")]
        }
        guard let method = object["method"]?.stringValue else { return [] }  // a response to us: none expected
        guard let id = object["id"] else { return [] }  // a notification
        let params = object["params"]?.objectValue ?? [:]
        switch method {
        case "initialize":
            let requested = params["protocolVersion"]?.stringValue ?? ""
            return [Self.result(id: id, [
                "protocolVersion": .string(Self.versions.contains(requested) ? requested : Self.versions.last!),
                "capabilities": ["tools": ["listChanged": true], "resources": [:], "prompts": [:], "logging": [:]],
                "serverInfo": ["name": "orch-sample-server", "version": "0.1.0"],
            ])]
        case "ping", "logging/setLevel":
            return [Self.result(id: id, [:])]
        case "tools/list":
            let start = params["cursor"]?.stringValue.flatMap(Int.init) ?? 0
            let size = pageSize > 0 ? pageSize : Self.tools.count
            let end = min(start + size, Self.tools.count)
            guard start >= 0, start <= end else { return [Self.error(id: id, code: -32602, "Invalid cursor")] }
            var result: JSONObject = ["tools": .array(Array(Self.tools[start..<end]))]
            if end < Self.tools.count { result["nextCursor"] = .string(String(end)) }
            return [Self.result(id: id, .object(result))]
        case "tools/call":
            return call(id: id, name: params["name"]?.stringValue ?? "", arguments: params["arguments"]?.objectValue ?? [:])
        case "resources/list":
            return [Self.result(id: id, ["resources": [["uri": "notes://index", "name": "index", "mimeType": "text/plain"]]])]
        case "resources/read":
            guard params["uri"] == "notes://index" else { return [Self.error(id: id, code: -32002, "Resource not found")] }
            let text = notes.keys.sorted().map { "\($0): \(notes[$0]!)" }.joined(separator: "\n")
            return [Self.result(id: id, ["contents": [["uri": "notes://index", "mimeType": "text/plain", "text": .string(text)]]])]
        case "prompts/list":
            return [Self.result(id: id, ["prompts": [[
                "name": "summarize", "description": "Summarize the notes on a topic.",
                "arguments": [["name": "topic", "required": true]],
            ]]])]
        case "prompts/get":
            let topic = params["arguments"]?["topic"]?.stringValue ?? "everything"
            return [Self.result(id: id, ["messages": [["role": "user", "content": ["type": "text", "text": .string("Summarize the notes about \(topic).")]]]])]
        default:
            return [Self.error(id: id, code: -32601, "Method not found: \(method)")]
        }
    }

    private mutating func call(id: JSONValue, name: String, arguments: JSONObject) -> [JSONValue] {
        func text(_ s: String, error: Bool = false) -> JSONValue {
            Self.result(id: id, ["content": [["type": "text", "text": .string(s)]], "isError": .bool(error)])
        }
        switch name {
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
        case "write_note":
            guard let note = arguments["name"]?.stringValue, let body = arguments["text"]?.stringValue else {
                return [text("write_note needs strings \"name\" and \"text\"", error: true)]
            }
            notes[note] = body
            return [["jsonrpc": "2.0", "method": "notifications/resources/list_changed"], text("wrote \(note)")]
        case "delete_note":
            guard let note = arguments["name"]?.stringValue else { return [text("delete_note needs a string \"name\"", error: true)] }
            return [text(notes.removeValue(forKey: note) == nil ? "no note \(note)" : "deleted \(note)")]
        default:
            return [Self.error(id: id, code: -32602, "Unknown tool: \(name)")]
        }
    }

    static func result(id: JSONValue, _ result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id, "result": result]
    }

    static func error(id: JSONValue?, code: Int64, _ message: String) -> JSONValue {
        ["jsonrpc": "2.0", "id": id ?? .null, "error": ["code": .integer(code), "message": .string(message)]]
    }
}
