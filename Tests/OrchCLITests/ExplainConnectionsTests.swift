import Foundation
import OrchGateway
import OrchJSON
import Testing

/// `orch explain` says whether each user's connected account at an oauth server is stored and
/// usable, and never shows a token.
@Test func explainShowsEachUsersConnectionAndNoToken() throws {
    let sandbox = try Sandbox()
    let key = Data((0..<32).map { UInt8($0 &* 3) }).base64EncodedString()
    let config = try sandbox.write("orch.json", #"""
        { "version": 1, "gateway": { "stateKey": "${env:STATE_KEY}" },
          "roles": { "dev": { "allow": ["tickets"] } },
          "orgs": { "acme": { "members": { "bob": "dev", "alice": "dev" },
            "servers": { "tickets": { "url": "https://mcp.tickets.example/mcp",
              "oauth": { "client": { "id": "orch" }, "scopes": ["tickets:read"], "authorizationServer": "https://login.tickets.example" } } } } },
          "users": { "bob": {}, "alice": {} } }
        """#)
    let store = ConnectionStore(folder: "state/connections", relativeTo: sandbox.directory.path, keys: [key])
    try store.write(StoredConnection(accessToken: "bobs-access-token", refreshToken: "bobs-refresh-token", expiresAt: nil, scope: nil,
                                     issuer: "https://login.tickets.example", connectedAt: 1_765_000_000),
                    user: "bob", server: "acme/tickets")
    let line = "    oauth: the user's own account at https://login.tickets.example (scopes tickets:read): "
    let bob = try sandbox.run(["explain", "--config", config, "bob"], environment: ["STATE_KEY": key])
    #expect(bob.status == 0, "\(bob.stderr)")
    #expect(bob.stdout.contains(line + "connected\n"))
    let alice = try sandbox.run(["explain", "--config", config, "alice"], environment: ["STATE_KEY": key])
    #expect(alice.stdout.contains(line + "not connected\n"))
    let json = try sandbox.run(["explain", "--config", config, "--json", "bob"], environment: ["STATE_KEY": key])
    #expect(try JSONValue.parse(json.stdout)["servers"]?.arrayValue?.first?["oauth"]?["connection"] == "connected")
    // Where the key is not set, the file is not opened; with another key, it is not usable.
    let keyless = try sandbox.run(["explain", "--config", config, "bob"])
    #expect(keyless.stdout.contains(line + "stored (not opened: gateway.stateKey is not set where orch explain runs)"))
    let other = try sandbox.run(["explain", "--config", config, "bob"], environment: ["STATE_KEY": Data(repeating: 9, count: 32).base64EncodedString()])
    #expect(other.stdout.contains(line + "not usable: it was sealed with another gateway.stateKey (key "))
    for run in [bob, alice, json, keyless, other] {
        #expect(!run.stdout.contains("bobs-access-token") && !run.stdout.contains("bobs-refresh-token") && !run.stderr.contains("bobs-"))
    }
}
