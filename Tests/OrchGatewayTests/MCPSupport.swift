import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import Logging
import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

extension HTTPField.Name {
    static let sessionID = HTTPField.Name("Mcp-Session-Id")!
    static let protocolVersion = HTTPField.Name("MCP-Protocol-Version")!
}

/// The built `orch` beside this test executable: its `sample-server` is the stdio upstream.
let orchBinary: String = {
    let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    return exe.deletingLastPathComponent().appendingPathComponent("orch").path
}()

/// A policy over sample servers: bob may list and call echo/add/write_note on acme/notes but not
/// delete_note; alice is admin of acme and globex (both have "notes").
func mcpPolicyJSON(limits: String = #""maxSessionsPerKey": 3, "callTimeoutSeconds": 2"#, pageSize: Int = 2, extraServers: String = "", bobKey: Bool = true) -> String {
    """
    {
      "version": 1,
      "gateway": { "limits": { \(limits) } },
      "roles": {
        "admin": { "allow": ["*"] },
        "member": { "allow": ["notes:echo", "notes:add", "notes:write_note", "notes:now", "notes:resources/notes://index", "clock"], "deny": ["notes:write_note"] }
      },
      "orgs": {
        "acme": {
          "members": { "alice": "admin", "bob": "member" },
          "servers": {
            "notes": { "command": "\(orchBinary)", "args": ["sample-server", "--page-size", "\(pageSize)"] },
            "clock": { "command": "\(orchBinary)", "args": ["sample-server"] }\(extraServers)
          }
        },
        "globex": { "members": { "alice": "admin" }, "servers": { "notes": { "command": "\(orchBinary)", "args": ["sample-server"] } } }
      },
      "users": {
        "alice": { "keys": [ { "id": "laptop", "sha256": "\(Tokens.hash(Tokens.alice))" } ] },
        "bob": { "keys": [ \(bobKey ? #"{ "id": "laptop", "sha256": "\#(Tokens.hash(Tokens.bob))" }"# : "") ] }
      }
    }
    """
}

let initializeBody = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#

extension TestClientProtocol {
    /// POSTs one JSON-RPC message (as JSON, not SSE) and returns status, session header and body.
    @discardableResult
    func mcp(path: String = "/orgs/acme/servers/notes/mcp", token: String = Tokens.bob, session: String? = nil, _ body: String,
             headers extra: HTTPFields = [:]) async throws -> (status: HTTPResponse.Status, session: String?, body: JSONValue) {
        var headers: HTTPFields = [.authorization: "Bearer \(token)", .contentType: "application/json", .accept: "application/json"]
        if let session { headers[.sessionID] = session }
        headers.append(contentsOf: extra)
        return try await execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
            (response.status, response.headers[.sessionID], (try? JSONValue.parse(String(buffer: response.body))) ?? .null)
        }
    }

    /// Initializes a session and sends `notifications/initialized`; returns the session id.
    func openSession(_ path: String = "/orgs/acme/servers/notes/mcp", token: String = Tokens.bob) async throws -> String {
        let opened = try await mcp(path: path, token: token, initializeBody)
        #expect(opened.status == .ok)
        let session = try #require(opened.session)
        let ack = try await mcp(path: path, token: token, session: session, #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        #expect(ack.status == .accepted)
        return session
    }

    func call(_ tool: String, _ arguments: String = "{}", id: Int = 7, session: String, path: String = "/orgs/acme/servers/notes/mcp", token: String = Tokens.bob) async throws -> JSONValue {
        try await mcp(path: path, token: token, session: session, #"{"jsonrpc":"2.0","id":\#(id),"method":"tools/call","params":{"name":"\#(tool)","arguments":\#(arguments)}}"#).body
    }
}

/// Everything the session's GET stream carries until the session is ended (DELETE) a moment later.
func streamUntilEnded(_ client: some TestClientProtocol, path: String, token: String, session: String) async throws -> String {
    let headers: HTTPFields = [.authorization: "Bearer \(token)", .accept: "text/event-stream", .sessionID: session]
    async let events = client.execute(uri: path, method: .get, headers: headers) { String(buffer: $0.body) }
    try await Task.sleep(for: .milliseconds(300))
    try await client.execute(uri: path, method: .delete, headers: [.authorization: "Bearer \(token)", .sessionID: session]) { _ in }
    return try await events
}

/// True when no process has this pid any more (after waiting up to 10 s).
func processGone(_ pid: Int32) async throws -> Bool {
    for _ in 0..<200 {
        if kill(pid, 0) != 0 { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return kill(pid, 0) != 0
}

func waitFor(_ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<600 {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return condition()
}
