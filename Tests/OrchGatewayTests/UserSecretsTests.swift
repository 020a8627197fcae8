import Foundation
import Hummingbird
import HummingbirdTesting
import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// Per-user servers: `${user:NAME}` in a stdio server's env, filled with the caller's own secret
// from FOLDER/USER/NAME. The sample server's env_hash answers the SHA-256 of a variable, so the
// tests see whose value a session runs with without any value crossing the wire.

private final class SecretsFolder: Sendable {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("orch-secrets-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    func set(_ user: String, _ name: String, _ value: String, mode: Int = 0o600) throws {
        let folder = url.appendingPathComponent(user)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent(name).path
        try Data((value + "\n").utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    func remove(_ user: String, _ name: String) throws {
        try FileManager.default.removeItem(at: url.appendingPathComponent(user).appendingPathComponent(name))
    }
}

private func secretsPolicy(_ folder: SecretsFolder) -> String {
    let personal = #", "personal": { "command": "\#(orchBinary)", "args": ["sample-server", "--env-tool"], "env": { "PERSONAL_TOKEN": "${user:PERSONAL_TOKEN}", "LITERAL": "a$$b" } }"#
    return mcpPolicyJSON(extraServers: personal)
        .replacingOccurrences(of: #""gateway": { "limits""#, with: #""gateway": { "secrets": "\#(folder.url.path)", "limits""#)
        .replacingOccurrences(of: #""member": { "allow": ["#, with: #""member": { "allow": ["personal", "#)
}

private let path = "/orgs/acme/servers/personal/mcp"

private func sha(_ text: String) -> String { "sha256:" + Hex.encode(Crypto.sha256(text)) }

private func envHash(_ client: some TestClientProtocol, _ variable: String, session: String, token: String) async throws -> String? {
    try await client.call("env_hash", #"{"name":"\#(variable)"}"#, session: session, path: path, token: token)["result"]?["content"]?.arrayValue?.first?["text"]?.stringValue
}

@Test func eachUserRunsAPerUserServerWithTheirOwnSecret() async throws {
    let folder = try SecretsFolder()
    try folder.set("alice", "PERSONAL_TOKEN", "alice-value-1")
    try folder.set("bob", "PERSONAL_TOKEN", "bob-value-1")
    let g = try TestGateway(json: secretsPolicy(folder))
    try await g.test { client in
        let alice = try await client.openSession(path, token: Tokens.alice)
        let bob = try await client.openSession(path, token: Tokens.bob)
        #expect(try await envHash(client, "PERSONAL_TOKEN", session: alice, token: Tokens.alice) == sha("alice-value-1"))
        #expect(try await envHash(client, "PERSONAL_TOKEN", session: bob, token: Tokens.bob) == sha("bob-value-1"))
        // Other values of a per-user server's env keep their meaning ($$ is a literal $).
        #expect(try await envHash(client, "LITERAL", session: bob, token: Tokens.bob) == sha("a$b"))
        // bob's secret rotates: his session ends, alice's goes on; his next one has the new value,
        // and so has his old one's, re-created from its id.
        try folder.set("bob", "PERSONAL_TOKEN", "bob-value-2")
        g.gateway.secretsChanged()
        #expect(try await waitFor { g.gateway.sessionCount == 1 })
        #expect(try await envHash(client, "PERSONAL_TOKEN", session: bob, token: Tokens.bob) == sha("bob-value-2"))
        #expect(try await envHash(client, "PERSONAL_TOKEN", session: alice, token: Tokens.alice) == sha("alice-value-1"))
        let again = try await client.openSession(path, token: Tokens.bob)
        #expect(try await envHash(client, "PERSONAL_TOKEN", session: again, token: Tokens.bob) == sha("bob-value-2"))
        // The catalog lists it with each caller's own values.
        try await client.execute(uri: "/api/v1/tools?server=acme/personal", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.json["errors"] == [])
            #expect(response.json["tools"]?.arrayValue?.contains { $0["name"] == "env_hash" } == true)
        }
    }
    let audit = g.auditLines.joined(separator: "\n")
    for value in ["alice-value-1", "bob-value-1", "bob-value-2"] { #expect(!audit.contains(value)) }
    let records: [JSONValue] = g.auditLines.compactMap { try? JSONValue.parse($0) }
    let opened = records.first { (r: JSONValue) in r["method"] == "initialize" && r["server"] == "personal" && r["user"] == "bob" }
    #expect(opened?["reason"]?.stringValue?.hasSuffix("; runs with bob's secrets PERSONAL_TOKEN") == true)
    let ended = records.first { (r: JSONValue) in r["method"] == "session end" && r["user"] == "bob" }
    #expect(ended?["reason"] == "bob's secret PERSONAL_TOKEN changed")
}

@Test func aMissingOrOpenSecretIsRefusedAndNamedNeverReplaced() async throws {
    let folder = try SecretsFolder()
    try folder.set("alice", "PERSONAL_TOKEN", "alice-value", mode: 0o644)
    let g = try TestGateway(json: secretsPolicy(folder))
    try await g.test { client in
        let bob = try await client.mcp(path: path, token: Tokens.bob, initializeBody)
        #expect(bob.status == .forbidden)
        #expect(bob.body["error"]?["code"] == "missing_secret")
        #expect(bob.body["error"]?["message"] == .string("acme/personal runs with each user's own secrets, and bob has a problem with one: no secret PERSONAL_TOKEN: an admin puts it in \(folder.url.path)/bob/PERSONAL_TOKEN (mode 0600)"))
        let alice = try await client.mcp(path: path, token: Tokens.alice, initializeBody)
        #expect(alice.status == .forbidden)
        #expect(alice.body["error"]?["message"]?.stringValue?.hasSuffix("is readable by others (mode 0644): chmod 600 it") == true)
        #expect(alice.body.compact.contains("alice-value") == false)
        // /api/v1/servers says which secret is missing, by name.
        try await client.execute(uri: "/api/v1/servers", method: .get, headers: bearer(Tokens.bob)) { response in
            let personal = response.json["servers"]?.arrayValue?.first { $0["id"] == "acme/personal" }
            let secret = personal?["userSecrets"]?.arrayValue?.first
            #expect(secret?["name"] == "PERSONAL_TOKEN" && secret?["present"] == false)
            let notes = response.json["servers"]?.arrayValue?.first { $0["id"] == "acme/notes" }
            #expect(notes?["userSecrets"] == nil)
        }
    }
    #expect(!g.auditLines.joined().contains("alice-value"))
}
