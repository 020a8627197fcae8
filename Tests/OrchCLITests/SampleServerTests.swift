import OrchJSON
import Testing

/// Runs `orch sample-server ARGUMENTS` with the requests on stdin, one JSON line each, and returns
/// the lines it wrote, parsed.
private func serve(_ requests: [JSONValue], arguments: [String] = []) throws -> [JSONValue] {
    let run = try Sandbox().run(["sample-server"] + arguments, stdin: requests.map { $0.compact + "\n" }.joined())
    #expect(run.status == 0)
    #expect(run.err == [])
    return try run.out.map { try JSONValue.parse($0) }
}

private func request(_ id: Int64, _ method: String, _ params: JSONValue = [:]) -> JSONValue {
    ["jsonrpc": "2.0", "id": .integer(id), "method": .string(method), "params": params]
}

private func result(_ id: Int64, _ result: JSONValue) -> JSONValue {
    ["jsonrpc": "2.0", "id": .integer(id), "result": result]
}

private func error(_ id: Int64, _ code: Int64, _ message: String) -> JSONValue {
    ["jsonrpc": "2.0", "id": .integer(id), "error": ["code": .integer(code), "message": .string(message)]]
}

private func call(_ id: Int64, _ tool: String, _ arguments: JSONValue) -> JSONValue {
    request(id, "tools/call", ["name": .string(tool), "arguments": arguments])
}

private func writeNote(_ id: Int64, _ name: String, _ text: String) -> JSONValue {
    call(id, "write_note", ["name": .string(name), "text": .string(text)])
}

private func toolResult(_ id: Int64, _ text: String) -> JSONValue {
    result(id, ["content": [["type": "text", "text": .string(text)]], "isError": false])
}

private let listChanged: JSONValue = ["jsonrpc": "2.0", "method": "notifications/resources/list_changed"]

private func updated(_ uri: String) -> JSONValue {
    ["jsonrpc": "2.0", "method": "notifications/resources/updated", "params": ["uri": .string(uri)]]
}

private func noteResource(_ uri: String, _ name: String) -> JSONValue {
    ["uri": .string(uri), "name": .string(name), "mimeType": "text/plain"]
}

private let readme = "The orch sample server keeps notes in memory: write_note and delete_note change them, and each note reads as notes://note/NAME."

/// Notes "beta" and "alpha", written in that order (ids 1 and 2), so that lists are sorted by name.
private let twoNotes = [writeNote(1, "beta", "second"), writeNote(2, "alpha", "first")]

private let allResources: [JSONValue] = [
    noteResource("notes://index", "index"), noteResource("notes://readme", "readme"),
    noteResource("notes://note/alpha", "alpha"), noteResource("notes://note/beta", "beta"),
]

private let allPrompts: [JSONValue] = [
    ["name": "summarize", "description": "Summarize the notes on a topic.", "arguments": [["name": "topic", "required": true]]],
    [
        "name": "draft_note", "description": "Draft a new note.",
        "arguments": [["name": "name", "required": true], ["name": "tone", "required": false]],
    ],
]

private let allTemplates: [JSONValue] = [
    ["uriTemplate": "notes://note/{name}", "name": "note", "description": "A note by name", "mimeType": "text/plain"],
]

/// The result of the last line the server wrote.
private func lastResult(_ lines: [JSONValue]) -> JSONValue? {
    lines.last?["result"]
}

/// Every item of `method`'s list, page by page: each page is a new server that first gets `setup`,
/// then the list request with the previous page's nextCursor. Returns the pages' items.
private func pages(_ method: String, _ key: String, pageSize: Int, setup: [JSONValue] = []) throws -> [[JSONValue]] {
    var pages: [[JSONValue]] = []
    var cursor: JSONValue? = nil
    repeat {
        let params: JSONValue = cursor.map { ["cursor": $0] } ?? [:]
        let page = try #require(lastResult(try serve(setup + [request(99, method, params)], arguments: ["--page-size", String(pageSize)])))
        pages.append(try #require(page[key]?.arrayValue))
        cursor = page["nextCursor"]
        if let cursor { #expect(cursor == .string(String(pages.joined().count))) }
    } while cursor != nil && pages.count <= 10
    return pages
}

@Suite struct SampleServerTests {
    @Test func initializeAdvertisesEveryCapability() throws {
        let lines = try serve([request(1, "initialize", ["protocolVersion": "2025-06-18", "capabilities": [:], "clientInfo": ["name": "t", "version": "1"]])])
        #expect(lines == [result(1, [
            "protocolVersion": "2025-06-18",
            "capabilities": [
                "tools": ["listChanged": true], "resources": ["subscribe": true, "listChanged": true],
                "prompts": ["listChanged": true], "completions": [:], "logging": [:],
            ],
            "serverInfo": ["name": "orch-sample-server", "version": "0.1.0"],
        ])])
    }

    @Test func listsWithoutPagingHoldEverythingOnOnePage() throws {
        let lines = try serve(twoNotes + [
            request(3, "tools/list"), request(4, "resources/list"), request(5, "resources/templates/list"), request(6, "prompts/list"),
        ])
        #expect(lines.count == 8)  // two notes: list_changed and a result each
        #expect(lines[4]["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } == ["add", "delete_note", "echo", "now", "write_note"])
        #expect(lines[4]["result"]?["nextCursor"] == nil)
        #expect(Array(lines[5...]) == [
            result(4, ["resources": .array(allResources)]),
            result(5, ["resourceTemplates": .array(allTemplates)]),
            result(6, ["prompts": .array(allPrompts)]),
        ])
    }

    @Test func everyListPagesByPageSizeFollowingNextCursorToTheEnd() throws {
        let tools = try #require(lastResult(try serve([request(1, "tools/list")]))?["tools"]?.arrayValue)
        #expect(try pages("tools/list", "tools", pageSize: 1) == tools.map { [$0] })
        #expect(try pages("tools/list", "tools", pageSize: 2) == [Array(tools[0..<2]), Array(tools[2..<4]), [tools[4]]])
        #expect(try pages("resources/list", "resources", pageSize: 1, setup: twoNotes) == allResources.map { [$0] })
        #expect(try pages("resources/list", "resources", pageSize: 3, setup: twoNotes) == [Array(allResources[0..<3]), [allResources[3]]])
        #expect(try pages("resources/templates/list", "resourceTemplates", pageSize: 1) == [allTemplates])
        #expect(try pages("prompts/list", "prompts", pageSize: 1) == allPrompts.map { [$0] })
    }

    @Test func everyListRejectsACursorItDidNotHandOut() throws {
        for method in ["tools/list", "resources/list", "resources/templates/list", "prompts/list"] {
            let lines = try serve([
                request(1, method, ["cursor": "99"]), request(2, method, ["cursor": "-1"]),
                request(3, method, ["cursor": "x"]), request(4, method, ["cursor": 1]),
                request(5, method, ["cursor": "9223372036854775807"]),
            ], arguments: ["--page-size", "1"])
            #expect(lines == (1...5).map { error($0, -32602, "Invalid cursor") }, "\(method)")
        }
    }

    @Test func readReturnsTheIndexTheReadmeAndEachNote() throws {
        let lines = try serve(twoNotes + [
            request(3, "resources/read", ["uri": "notes://index"]),
            request(4, "resources/read", ["uri": "notes://readme"]),
            request(5, "resources/read", ["uri": "notes://note/alpha"]),
            request(6, "resources/read", ["uri": "notes://note/beta"]),
            request(7, "resources/read", ["uri": "notes://note/gamma"]),
            request(8, "resources/read", ["uri": "notes://other"]),
        ])
        func contents(_ id: Int64, _ uri: String, _ text: String) -> JSONValue {
            result(id, ["contents": [["uri": .string(uri), "mimeType": "text/plain", "text": .string(text)]]])
        }
        #expect(Array(lines[4...]) == [
            contents(3, "notes://index", "alpha: first\nbeta: second"),
            contents(4, "notes://readme", readme),
            contents(5, "notes://note/alpha", "first"),
            contents(6, "notes://note/beta", "second"),
            error(7, -32002, "Resource not found: notes://note/gamma"),
            error(8, -32002, "Resource not found: notes://other"),
        ])
    }

    @Test func writeAndDeleteSendUpdatedForSubscribedURIsOnly() throws {
        let lines = try serve([
            request(1, "resources/subscribe", ["uri": "notes://note/alpha"]),
            writeNote(2, "alpha", "one"),
            writeNote(3, "beta", "two"),
            request(4, "resources/subscribe", ["uri": "notes://index"]),
            writeNote(5, "beta", "three"),
            call(6, "delete_note", ["name": "alpha"]),
            call(7, "delete_note", ["name": "gamma"]),
        ])
        #expect(lines == [
            result(1, [:]),
            listChanged, updated("notes://note/alpha"), toolResult(2, "wrote alpha"),
            listChanged, toolResult(3, "wrote beta"),
            result(4, [:]),
            listChanged, updated("notes://index"), toolResult(5, "wrote beta"),
            listChanged, updated("notes://note/alpha"), updated("notes://index"), toolResult(6, "deleted alpha"),
            toolResult(7, "no note gamma"),
        ])
    }

    @Test func subscribingToTheWildcardTestAidSendsUpdatedForTheNoteAndTheIndex() throws {
        let lines = try serve([
            request(1, "resources/subscribe", ["uri": "notes://*"]),
            writeNote(2, "alpha", "one"),
            call(3, "delete_note", ["name": "alpha"]),
        ])
        #expect(lines == [
            result(1, [:]),
            listChanged, updated("notes://note/alpha"), updated("notes://index"), toolResult(2, "wrote alpha"),
            listChanged, updated("notes://note/alpha"), updated("notes://index"), toolResult(3, "deleted alpha"),
        ])
    }

    @Test func unsubscribeStopsUpdated() throws {
        let lines = try serve([
            request(1, "resources/subscribe", ["uri": "notes://note/alpha"]),
            request(2, "resources/subscribe", ["uri": "notes://*"]),
            request(3, "resources/unsubscribe", ["uri": "notes://note/alpha"]),
            request(4, "resources/unsubscribe", ["uri": "notes://*"]),
            writeNote(5, "alpha", "one"),
            request(6, "resources/subscribe", [:]),
        ])
        #expect(lines == [
            result(1, [:]), result(2, [:]), result(3, [:]), result(4, [:]),
            listChanged, toolResult(5, "wrote alpha"),
            error(6, -32602, #"resources/subscribe needs a string "uri""#),
        ])
    }

    @Test func promptsGetAnswersEachPromptByName() throws {
        let lines = try serve([
            request(1, "prompts/get", ["name": "summarize", "arguments": ["topic": "birds"]]),
            request(2, "prompts/get", ["name": "summarize"]),
            request(3, "prompts/get", ["name": "draft_note", "arguments": ["name": "groceries"]]),
            request(4, "prompts/get", ["name": "draft_note", "arguments": ["name": "groceries", "tone": "cheerful"]]),
            request(5, "prompts/get", ["name": "draft_note"]),
            request(6, "prompts/get", ["name": "nope"]),
        ])
        func message(_ id: Int64, _ text: String) -> JSONValue {
            result(id, ["messages": [["role": "user", "content": ["type": "text", "text": .string(text)]]]])
        }
        #expect(lines == [
            message(1, "Summarize the notes about birds."),
            message(2, "Summarize the notes about everything."),
            message(3, "Draft a note called groceries"),
            message(4, "Draft a note called groceries in a cheerful tone"),
            error(5, -32602, #"draft_note needs a string argument "name""#),
            error(6, -32602, "Unknown prompt: nope"),
        ])
    }

    @Test func completionOffersNoteNamesForTheSummarizeTopicAndTheNoteTemplate() throws {
        let notes = ["apple", "banana", "apricot"].enumerated().map { writeNote(Int64($0.offset + 1), $0.element, "x") }
        func complete(_ id: Int64, _ ref: JSONValue?, _ argument: String, _ value: String) -> JSONValue {
            var params: JSONObject = ["argument": ["name": .string(argument), "value": .string(value)]]
            if let ref { params["ref"] = ref }
            return request(id, "completion/complete", .object(params))
        }
        func values(_ id: Int64, _ values: [String]) -> JSONValue {
            result(id, ["completion": ["values": .strings(values), "total": .integer(Int64(values.count)), "hasMore": false]])
        }
        let summarize: JSONValue = ["type": "ref/prompt", "name": "summarize"]
        let template: JSONValue = ["type": "ref/resource", "uri": "notes://note/{name}"]
        let lines = try serve(notes + [
            complete(11, summarize, "topic", "ap"),
            complete(12, summarize, "topic", ""),
            complete(13, template, "name", "b"),
            complete(14, template, "name", "z"),
            complete(15, summarize, "other", "a"),
            complete(16, ["type": "ref/prompt", "name": "draft_note"], "name", "a"),
            complete(17, ["type": "ref/resource", "uri": "notes://index"], "name", "a"),
            complete(18, nil, "topic", "a"),
            complete(19, ["type": "ref/tool", "name": "summarize"], "topic", "a"),
            complete(20, ["type": "ref/prompt"], "topic", "a"),
            complete(21, "summarize", "topic", "a"),
        ])
        #expect(Array(lines[6...]) == [
            values(11, ["apple", "apricot"]),
            values(12, ["apple", "apricot", "banana"]),
            values(13, ["banana"]),
            values(14, []),
            values(15, []),
            values(16, []),
            values(17, []),
            error(18, -32602, "Invalid completion ref"),
            error(19, -32602, "Invalid completion ref"),
            error(20, -32602, "Invalid completion ref"),
            error(21, -32602, "Invalid completion ref"),
        ])
    }

    @Test func completionReturnsAtMostAHundredValues() throws {
        let notes = (0..<105).map { writeNote(Int64($0), "n" + String(1000 + $0), "x") }
        let lines = try serve(notes + [
            request(200, "completion/complete", ["ref": ["type": "ref/prompt", "name": "summarize"], "argument": ["name": "topic", "value": "n"]]),
        ])
        let completion = try #require(lastResult(lines)?["completion"])
        #expect(completion == ["values": .strings((0..<100).map { "n" + String(1000 + $0) }), "total": 105, "hasMore": true])
    }
}
