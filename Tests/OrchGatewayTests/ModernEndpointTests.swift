import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// 2026-07-28 requests on the per-server endpoints: decided as handshake-era requests are, forwarded
// on the key's held upstream session, answered with no Mcp-Session-Id.

private let modernVersion = "2026-07-28"

extension TestClientProtocol {
    /// POSTs a 2026-07-28 request with a well-formed envelope and matching routing headers;
    /// `headers` are added after them (and may repeat or contradict them).
    @discardableResult
    func modern(
        _ method: String, _ params: JSONObject = [:], id: JSONValue = 1, path: String = "/orgs/acme/servers/notes/mcp", token: String = Tokens.bob,
        headers extra: HTTPFields = [:], envelope: JSONObject? = nil, accept: String = "application/json, text/event-stream"
    ) async throws -> (status: HTTPResponse.Status, headers: HTTPFields, body: JSONValue) {
        var params = params
        var meta = params["_meta"]?.objectValue ?? [:]
        for (key, value) in envelope ?? [
            "io.modelcontextprotocol/protocolVersion": .string(modernVersion),
            "io.modelcontextprotocol/clientCapabilities": [:],
        ] { meta[key] = value }
        params["_meta"] = .object(meta)
        let body: JSONValue = ["jsonrpc": "2.0", "id": id, "method": .string(method), "params": .object(params)]
        var headers: HTTPFields = [
            .authorization: "Bearer \(token)", .contentType: "application/json", .accept: accept,
            .protocolVersion: modernVersion, HTTPField.Name("Mcp-Method")!: method,
        ]
        if let name = (params["name"] ?? params["uri"])?.stringValue { headers[HTTPField.Name("Mcp-Name")!] = name }
        headers.append(contentsOf: extra)
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body.compact)) { response in
            (response.status, response.headers, (try? JSONValue.parse(String(buffer: response.body))) ?? .null)
        }
    }
}

private func text(_ reply: JSONValue) -> String? { reply["result"]?["content"]?.arrayValue?.first?["text"]?.stringValue }

@Test func discoverIsAnsweredFromTheServersInitializeWithNoSession() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let reply = try await client.modern("server/discover")
        #expect(reply.status == .ok)
        #expect(reply.headers[.sessionID] == nil)
        let result = try #require(reply.body["result"])
        #expect(reply.body["id"] == 1)
        #expect(result["supportedVersions"]?.arrayValue?.first == "2026-07-28")
        #expect(result["supportedVersions"]?.arrayValue?.contains("2025-06-18") == true)
        #expect(result["resultType"] == "complete")
        #expect(result["cacheScope"] == "private")
        #expect((result["ttlMs"]?.integerValue ?? .max) <= 30_000)
        #expect(result["_meta"]?["io.modelcontextprotocol/serverInfo"]?["name"] == "orch-sample-server")
        #expect(result["capabilities"]?["tools"] != nil)
        // The gateway announces a reload's list changes itself, on subscriptions/listen.
        #expect(result["capabilities"]?["tools"]?["listChanged"] == true)
        #expect(result["capabilities"]?["resources"]?["subscribe"] == true)
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }
    #expect(records.contains { $0["method"] == "server/discover" && $0["decision"] == "allow" })
    #expect(records.contains { $0["method"] == "initialize" && $0["decision"] == "allow" && $0["reason"]?.stringValue?.hasSuffix("held for 2026-07-28 requests") == true })
}

@Test func modernRequestsAreDecidedAsHandshakeEraOnesAre() async throws {
    let g = try TestGateway(json: mcpPolicyJSON(pageSize: 10))
    try await g.test { client in
        let list = try await client.modern("tools/list")
        let names = list.body["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(names == ["add", "echo", "now"])
        #expect(list.body["result"]?["resultType"] == "complete")
        #expect(list.body["result"]?["cacheScope"] == "private")

        let echo = try await client.modern("tools/call", ["name": "echo", "arguments": ["text": "hi"]], id: "call-1")
        #expect(echo.status == .ok)
        #expect(echo.body["id"] == "call-1")
        #expect(text(echo.body) == "hi")
        #expect(echo.body["result"]?["resultType"] == "complete")
        #expect(echo.body["result"]?["ttlMs"] == nil)

        // A tool the member may not call never reaches the server.
        let denied = try await client.modern("tools/call", ["name": "delete_note", "arguments": ["name": "x"]], id: 9)
        #expect(denied.body["error"]?["code"] == -32602)
        #expect(denied.body["id"] == 9)
        let readDenied = try await client.modern("resources/read", ["uri": "notes://readme"])
        #expect(readDenied.body["error"]?["code"] == -32602)
        let unknown = try await client.modern("tools/frobnicate")
        #expect(unknown.body["error"]?["code"] == -32601)

        // One upstream process serves every request of the key.
        #expect(g.gateway.sessionCount == 1)
        #expect(g.gateway.upstreamProcessCount == 1)
        // An admin's requests have a leg of their own.
        let alice = try await client.modern("tools/call", ["name": "delete_note", "arguments": ["name": "x"]], token: Tokens.alice)
        #expect(alice.body["result"] != nil)
        #expect(g.gateway.sessionCount == 2)
        // The leg is the gateway's own: no client may use its id as a session.
        let legs = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["method"] == "initialize" }.compactMap { $0["session"]?.stringValue }
        for leg in legs {
            #expect(try await client.mcp(session: leg, #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#).status == .notFound)
        }
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }
    #expect(records.contains { $0["method"] == "tools/call" && $0["tool"] == "echo" && $0["decision"] == "allow" })
    #expect(records.contains { $0["method"] == "tools/call" && $0["tool"] == "delete_note" && $0["decision"] == "deny" && $0["user"] == "bob" })
}

@Test func concurrentRequestsWithTheSameIDEachGetTheirOwnReply() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        async let slow = client.modern("tools/call", ["name": "echo", "arguments": ["text": "slow", "delayMs": 300]], id: 1)
        try await Task.sleep(for: .milliseconds(50))
        async let fast = client.modern("tools/call", ["name": "echo", "arguments": ["text": "fast"]], id: 1)
        let (a, b) = try await (slow, fast)
        #expect(text(a.body) == "slow" && a.body["id"] == 1)
        #expect(text(b.body) == "fast" && b.body["id"] == 1)
    }
}

@Test func aResourceNotFoundIsInvalidParams() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        let read = try await client.modern("resources/read", ["uri": "notes://note/missing"], token: Tokens.alice)
        #expect(read.body["error"]?["code"] == -32602)
        let index = try await client.modern("resources/read", ["uri": "notes://index"], token: Tokens.alice)
        #expect(index.body["result"]?["contents"] != nil)
        #expect(index.body["result"]?["cacheScope"] == "private")
    }
}

@Test func theValidationLadderAnswersAsTheReferenceServerDoes() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let missing = try await client.modern("tools/list", envelope: ["io.modelcontextprotocol/protocolVersion": "2026-07-28"])
        #expect(missing.status == .badRequest)
        #expect(missing.body["error"]?["code"] == -32602)
        // The body names a version the header contradicts; a repeated routing header.
        let mismatch = try await client.modern("tools/list", envelope: [
            "io.modelcontextprotocol/protocolVersion": "2099-01-01", "io.modelcontextprotocol/clientCapabilities": [:],
        ])
        #expect(mismatch.status == .badRequest)
        #expect(mismatch.body["error"]?["code"] == -32020)
        let wrongName = try await client.modern("tools/call", ["name": "echo", "arguments": ["text": "x"]], headers: [HTTPField.Name("Mcp-Name")!: "add"])
        #expect(wrongName.body["error"]?["code"] == -32020)
        let unsupported = try await client.execute(
            uri: "/orgs/acme/servers/notes/mcp", method: .post,
            headers: [.authorization: "Bearer \(Tokens.bob)", .contentType: "application/json", .accept: "application/json",
                      .protocolVersion: "2099-01-01", HTTPField.Name("Mcp-Method")!: "tools/list"],
            body: ByteBuffer(string: #"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01","io.modelcontextprotocol/clientCapabilities":{}}}}"#)
        ) { ($0.status, (try? JSONValue.parse(String(buffer: $0.body))) ?? .null) }
        #expect(unsupported.0 == .badRequest)
        #expect(unsupported.1["error"]?["code"] == -32022)
        #expect(unsupported.1["error"]?["data"]?["supported"]?.arrayValue?.first == "2026-07-28")
        // Removed methods; a notification is acknowledged; GET has nothing to open.
        #expect(try await client.modern("ping").body["error"]?["code"] == -32601)
        try await client.execute(
            uri: "/orgs/acme/servers/notes/mcp", method: .get,
            headers: [.authorization: "Bearer \(Tokens.bob)", .accept: "text/event-stream", .protocolVersion: modernVersion]
        ) { response in
            #expect(response.status == .methodNotAllowed)
            #expect(response.headers[.allow] == "POST")
        }
        try await client.execute(
            uri: "/orgs/acme/servers/notes/mcp", method: .post,
            headers: [.authorization: "Bearer \(Tokens.bob)", .contentType: "application/json", .accept: "application/json", .protocolVersion: modernVersion],
            body: ByteBuffer(string: #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#)
        ) { #expect($0.status == .accepted) }
        // None of these opened anything upstream.
        #expect(g.gateway.sessionCount == 0)
    }
    let refusals = g.auditLines.compactMap { try? JSONValue.parse($0) }.filter { $0["decision"] == "deny" }
    #expect(refusals.count >= 5)
    #expect(refusals.allSatisfy { $0["reason"]?.stringValue?.hasPrefix("2026-07-28: ") == true })
}

@Test func aReloadThatRevokesTheKeyEndsItsHeldLeg() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        #expect(text(try await client.modern("tools/call", ["name": "echo", "arguments": ["text": "a"]]).body) == "a")
        let pid = try #require(g.gateway.upstreamPIDs.first)
        ReloadWatcher.install(compile(mcpPolicyJSON(bobKey: false)), path: "test.json", gateway: g.gateway)
        #expect(try await waitFor { g.gateway.sessionCount == 0 })
        #expect(try await processGone(pid))
        #expect(try await client.modern("tools/list").status == .unauthorized)
    }
}

@Test func anIdleHeldLegEndsAndTheNextRequestOpensAnother() async throws {
    let g = try TestGateway(json: mcpPolicyJSON(limits: #""sessionIdleSeconds": 1"#))
    try await g.test { client in
        #expect(text(try await client.modern("tools/call", ["name": "echo", "arguments": ["text": "a"]]).body) == "a")
        let pid = try #require(g.gateway.upstreamPIDs.first)
        #expect(try await processGone(pid))
        #expect(g.gateway.sessionCount == 0)
        #expect(text(try await client.modern("tools/call", ["name": "echo", "arguments": ["text": "b"]]).body) == "b")
        #expect(g.gateway.sessionCount == 1)
    }
}

@Test func aHandshakeEraClientIsServedAsBeforeBesideAModernOne() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        let session = try await client.openSession()
        #expect(text(try await client.call("echo", #"{"text":"legacy"}"#, session: session)) == "legacy")
        #expect(text(try await client.modern("tools/call", ["name": "echo", "arguments": ["text": "modern"]]).body) == "modern")
        #expect(text(try await client.call("echo", #"{"text":"legacy again"}"#, session: session)) == "legacy again")
    }
}

/// POSTs a `subscriptions/listen` (id "listen-1") and returns the frames of its stream once it ends.
private func listenFrames(_ client: some TestClientProtocol, token: String = Tokens.bob, path: String = "/orgs/acme/servers/notes/mcp",
                          notifications: JSONValue) async throws -> [JSONValue] {
    let body: JSONValue = ["jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen", "params": [
        "notifications": notifications,
        "_meta": ["io.modelcontextprotocol/protocolVersion": .string(modernVersion), "io.modelcontextprotocol/clientCapabilities": [:]],
    ]]
    let headers: HTTPFields = [
        .authorization: "Bearer \(token)", .contentType: "application/json", .accept: "application/json, text/event-stream",
        .protocolVersion: modernVersion, HTTPField.Name("Mcp-Method")!: "subscriptions/listen",
    ]
    let text = try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body.compact)) {
        String(buffer: $0.body)
    }
    return text.split(separator: "\n").filter { $0.hasPrefix("data: ") }.compactMap { try? JSONValue.parse(String($0.dropFirst(6))) }
}

private func subscription(_ frame: JSONValue) -> JSONValue? {
    (frame["params"] ?? frame["result"])?["_meta"]?["io.modelcontextprotocol/subscriptionId"]
}

@Test func aListenStreamCarriesTheCallersListChangesAndEndsWithItsHeldSession() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        async let stream = listenFrames(client, notifications: ["toolsListChanged": true, "promptsListChanged": false])
        // The listen is audited once its stream takes changes.
        #expect(try await waitFor { g.auditLines.contains { $0.contains(#""method":"subscriptions/listen""#) } })
        // bob's tools change; alice's do not (her leg, if any, is not told).
        let narrowed = mcpPolicyJSON().replacingOccurrences(of: #""notes:add", "#, with: "")
        ReloadWatcher.install(compile(narrowed), path: "test.json", gateway: g.gateway)
        // A reload notifies before it returns.
        ReloadWatcher.install(compile(mcpPolicyJSON(bobKey: false).replacingOccurrences(of: #""notes:add", "#, with: "")), path: "test.json", gateway: g.gateway)
        let frames = try await stream
        #expect(frames.first?["method"] == "notifications/subscriptions/acknowledged")
        #expect(frames.first?["params"]?["notifications"] == ["toolsListChanged": true])
        #expect(frames.map { $0["method"]?.stringValue ?? "result" } == [
            "notifications/subscriptions/acknowledged", "notifications/tools/list_changed", "result",
        ])
        #expect(frames.allSatisfy { subscription($0) == "listen-1" })
        #expect(frames.last?["id"] == "listen-1")
    }
    #expect(g.auditLines.compactMap { try? JSONValue.parse($0) }.contains { $0["method"] == "subscriptions/listen" && $0["decision"] == "allow" })
}

@Test func aListenStreamCarriesUpdatesOfTheResourcesItNamesThatTheCallerMayRead() async throws {
    // bob may write notes here, and read notes://index but not notes://note/a.
    let writer = mcpPolicyJSON().replacingOccurrences(of: #""deny": ["notes:write_note"]"#, with: #""deny": []"#)
    let g = try TestGateway(json: writer)
    try await g.test { client in
        async let stream = listenFrames(client, notifications: ["resourceSubscriptions": ["notes://index", "NOTES://note/a"]])
        // The listen is audited once its stream takes changes.
        #expect(try await waitFor { g.auditLines.contains { $0.contains(#""method":"subscriptions/listen""#) } })
        #expect(text(try await client.modern("tools/call", ["name": "write_note", "arguments": ["name": "a", "text": "1"]]).body) == "wrote a")
        // The server writes its updates before it answers the next request, on the same leg.
        _ = try await client.modern("tools/list")
        ReloadWatcher.install(compile(mcpPolicyJSON(bobKey: false)), path: "test.json", gateway: g.gateway)
        let frames = try await stream
        // The honoured filter names the URIs in their normal form.
        #expect(frames.first?["params"]?["notifications"] == ["resourceSubscriptions": ["notes://index", "notes://note/a"]])
        let updated = frames.filter { $0["method"] == "notifications/resources/updated" }
        #expect(updated.map { $0["params"]?["uri"] } == ["notes://index"])
        #expect(frames.allSatisfy { subscription($0) == "listen-1" })
        #expect(!frames.contains { $0["method"] == "notifications/resources/list_changed" })
    }
}

@Test func aListenThatCannotBeServedIsRefused() async throws {
    try await TestGateway(json: mcpPolicyJSON()).test { client in
        let noFilter = try await client.modern("subscriptions/listen")
        #expect(noFilter.status == .badRequest)
        #expect(noFilter.body["error"]?["code"] == -32602)
        let badURI = try await client.modern("subscriptions/listen", ["notifications": ["resourceSubscriptions": ["notes://a\\b"]]])
        #expect(badURI.body["error"]?["code"] == -32602)
        let json = try await client.modern("subscriptions/listen", ["notifications": ["toolsListChanged": true]], accept: "application/json")
        #expect(json.status == .notAcceptable)
    }
}

// MARK: the aggregated endpoints

@Test func anAggregatedEndpointDiscoversAsTheGatewayWithNoServerStarted() async throws {
    let g = try TestGateway(json: mcpPolicyJSON())
    try await g.test { client in
        let reply = try await client.modern("server/discover", path: "/orgs/acme/mcp")
        #expect(reply.status == .ok)
        #expect(reply.headers[.sessionID] == nil)
        let result = try #require(reply.body["result"])
        #expect(result["supportedVersions"]?.arrayValue?.first == "2026-07-28")
        #expect(result["_meta"]?["io.modelcontextprotocol/serverInfo"]?["name"] == "orch")
        #expect(result["capabilities"]?["tools"]?["listChanged"] == true)
        #expect(result["capabilities"]?["resources"]?["subscribe"] == true)
        #expect(result["cacheScope"] == "private" && result["resultType"] == "complete")
        #expect(g.gateway.upstreamProcessCount == 0)
        // An org the key reaches nothing in is a 404 like a missing one, in this era too.
        #expect(try await client.modern("server/discover", path: "/orgs/globex/mcp").status == .notFound)
        // Methods the era removed, and ones the endpoint does not serve.
        let ping = try await client.modern("ping", path: "/orgs/acme/mcp")
        #expect(ping.status == .notFound && ping.body["error"]?["code"] == -32601)
        #expect(try await client.modern("tools/frobnicate", path: "/orgs/acme/mcp").body["error"]?["code"] == -32601)
        // The ladder holds as on every endpoint.
        let mismatch = try await client.modern("tools/call", ["name": "notes__echo", "arguments": ["text": "x"]], path: "/orgs/acme/mcp",
                                               headers: [HTTPField.Name("Mcp-Method")!: "tools/list"])
        #expect(mismatch.body["error"]?["code"] == -32020)
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }
    #expect(records.contains { $0["method"] == "server/discover" && $0["decision"] == "allow" && $0["reason"] == "2 servers behind /orgs/acme/mcp" })
}

@Test func anAggregatedEndpointMergesListsAndRoutesCallsOnTheKeysHeldLegs() async throws {
    let g = try TestGateway(json: mcpPolicyJSON(pageSize: 2))
    try await g.test { client in
        var tools: [String] = []
        var cursor: JSONValue? = nil
        var pages = 0
        repeat {
            let page = try await client.modern("tools/list", cursor.map { ["cursor": $0] } ?? [:], id: .integer(Int64(100 + pages)), path: "/orgs/acme/mcp")
            #expect(page.status == .ok)
            #expect(page.body["result"]?["resultType"] == "complete" && page.body["result"]?["cacheScope"] == "private")
            tools += page.body["result"]?["tools"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
            cursor = page.body["result"]?["nextCursor"]
            pages += 1
        } while cursor != nil && pages < 10
        #expect(Set(tools) == ["notes__add", "notes__echo", "notes__now",
                               "clock__add", "clock__delete_note", "clock__echo", "clock__now", "clock__write_note"])
        #expect(pages == 3)

        let echo = try await client.modern("tools/call", ["name": "notes__echo", "arguments": ["text": "merged"]], id: "c1", path: "/orgs/acme/mcp")
        #expect(echo.body["id"] == "c1" && text(echo.body) == "merged")
        #expect(echo.body["result"]?["resultType"] == "complete")
        // Decided on the real server: bob may not write notes there, but may on clock.
        let denied = try await client.modern("tools/call", ["name": "notes__write_note", "arguments": ["name": "a", "text": "t"]], path: "/orgs/acme/mcp")
        #expect(denied.status == .badRequest && denied.body["error"]?["code"] == -32602)
        let unknown = try await client.modern("tools/call", ["name": "nowhere__echo", "arguments": [:]], path: "/orgs/acme/mcp")
        #expect(unknown.body["error"]?["code"] == -32602)
        #expect(text(try await client.modern("tools/call", ["name": "clock__write_note", "arguments": ["name": "a", "text": "t"]],
                                             path: "/orgs/acme/mcp").body) == "wrote a")
        let read = try await client.modern("resources/read", ["uri": .string(ExposedURI.make(prefix: "notes", uri: "notes://index"))], path: "/orgs/acme/mcp")
        #expect(read.body["result"]?["contents"]?.arrayValue?.isEmpty == false)
        #expect(read.body["result"]?["cacheScope"] == "private")
        // One leg per server for the key, the same its per-server requests use.
        #expect(g.gateway.sessionCount == 2)
        #expect(text(try await client.modern("tools/call", ["name": "echo", "arguments": ["text": "direct"]]).body) == "direct")
        #expect(g.gateway.sessionCount == 2)
        // /mcp names carry their org.
        let admin = try await client.modern("tools/call", ["name": "globex__notes__echo", "arguments": ["text": "g"]], path: "/mcp", token: Tokens.alice)
        #expect(text(admin.body) == "g")
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }
    #expect(records.contains { $0["method"] == "tools/call" && $0["server"] == "notes" && $0["tool"] == "write_note" && $0["decision"] == "deny" })
    #expect(records.contains { $0["method"] == "tools/call" && $0["server"] == "clock" && $0["tool"] == "write_note" && $0["decision"] == "allow" })
}

@Test func anAggregatedListenCarriesEveryServersChangesUnderExposedNamesAndEndsWhenTheScopeChanges() async throws {
    // bob may write notes here, and read notes://index.
    let writer = mcpPolicyJSON().replacingOccurrences(of: #""deny": ["notes:write_note"]"#, with: #""deny": []"#)
    let g = try TestGateway(json: writer)
    let index = ExposedURI.make(prefix: "notes", uri: "notes://index")
    try await g.test { client in
        async let stream = listenFrames(client, path: "/orgs/acme/mcp",
                                        notifications: ["toolsListChanged": true, "resourceSubscriptions": [.string(index)]])
        #expect(try await waitFor { g.auditLines.contains { $0.contains(#""method":"subscriptions/listen""#) } })
        #expect(g.gateway.sessionCount == 2)
        #expect(text(try await client.modern("tools/call", ["name": "notes__write_note", "arguments": ["name": "a", "text": "1"]],
                                             path: "/orgs/acme/mcp").body) == "wrote a")
        // The server writes its updates before it answers the next request, on the same leg.
        _ = try await client.modern("tools/call", ["name": "notes__echo", "arguments": ["text": "x"]], path: "/orgs/acme/mcp")
        // clock is taken from bob: his scope changed, and the stream says so and ends.
        let narrowed = writer.replacingOccurrences(of: #", "clock"]"#, with: "]")
        ReloadWatcher.install(compile(narrowed), path: "test.json", gateway: g.gateway)
        let frames = try await stream
        #expect(frames.first?["method"] == "notifications/subscriptions/acknowledged")
        #expect(frames.filter { $0["method"] == "notifications/subscriptions/acknowledged" }.count == 1)
        #expect(frames.first?["params"]?["notifications"]?["resourceSubscriptions"] == [.string(index)])
        let updated = frames.filter { $0["method"] == "notifications/resources/updated" }
        #expect(updated.map { $0["params"]?["uri"] } == [.string(index)])
        #expect(frames.contains { $0["method"] == "notifications/tools/list_changed" })
        #expect(frames.allSatisfy { subscription($0) == "listen-1" })
        #expect(frames.last?["id"] == "listen-1")
    }
}

@Test func aListenStreamCarriesUpdatesOfAModernServersResourcesThroughTheGatewaysOwnListen() async throws {
    let servers = #", "m": { "command": "\#(orchBinary)", "args": ["sample-server", "--modern"] }"#
    let g = try TestGateway(json: mcpPolicyJSON(extraServers: servers))
    let path = "/orgs/acme/servers/m/mcp"
    try await g.test { client in
        async let stream = listenFrames(client, token: Tokens.alice, path: path, notifications: ["resourceSubscriptions": ["notes://note/a"]])
        #expect(try await waitFor { g.auditLines.contains { $0.contains(#""method":"subscriptions/listen""#) } })
        let written = try await client.modern("tools/call", ["name": "write_note", "arguments": ["name": "a", "text": "1"]], path: path, token: Tokens.alice)
        #expect(text(written.body) == "wrote a")
        // The server writes its updates before it answers the next request, on the same leg.
        _ = try await client.modern("tools/list", path: path, token: Tokens.alice)
        // A reload that takes the server away ends the leg, and the stream with it.
        ReloadWatcher.install(compile(mcpPolicyJSON()), path: "test.json", gateway: g.gateway)
        let frames = try await stream
        let updated = frames.filter { $0["method"] == "notifications/resources/updated" }
        #expect(updated.map { $0["params"]?["uri"] } == ["notes://note/a"], "\(frames)")
        #expect(frames.allSatisfy { subscription($0) == "listen-1" }, "\(frames)")
    }
}
