import Foundation
import Hummingbird
import HummingbirdTesting
import HTTPTypes
import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// RFC 9728: the protected-resource metadata, served only when orch.json has auth.oidc issuers,
// and named in every 401 then.

private func oidcPolicy() -> String {
    testPolicyJSON().replacingOccurrences(of: #""version": 1,"#, with: """
        "version": 1,
        "auth": {"resource": "https://orch.example.com", "oidc": {
          "sso": {"issuer": "https://id.example.com/realms/acme", "scopes": ["mcp"]},
          "gh": {"issuer": "https://gh.example.com", "userClaim": "sub", "scopes": ["mcp", "read"]}}},
        """)
}

@Test func theMetadataNamesTheResourceAndTheIssuersWithoutAToken() async throws {
    #expect(oidcPolicy().contains("\"auth\""))
    try await TestGateway(json: oidcPolicy()).test { client in
        for path in ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/orgs/acme/mcp"] {
            try await client.execute(uri: path, method: .get) { response in
                #expect(response.status == .ok, "\(path)")
                #expect(response.json == [
                    "resource": "https://orch.example.com",
                    "authorization_servers": ["https://id.example.com/realms/acme", "https://gh.example.com"],
                    "scopes_supported": ["mcp", "read"], "bearer_methods_supported": ["header"],
                ])
            }
        }
        // A 401 says where the metadata is; with a token sent, that it was not accepted.
        try await client.execute(uri: "/orgs/acme/servers/notes/mcp", method: .post) { response in
            #expect(response.status == .unauthorized)
            let challenge = response.headers[.wwwAuthenticate] ?? ""
            #expect(challenge.contains("resource_metadata=\""), "\(challenge)")
            #expect(challenge.hasSuffix("/.well-known/oauth-protected-resource/orgs/acme/servers/notes/mcp\""), "\(challenge)")
            #expect(!challenge.contains("invalid_token"))
        }
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer("orch_not_a_key")) { response in
            #expect(response.status == .unauthorized)
            let challenge = response.headers[.wwwAuthenticate] ?? ""
            #expect(challenge.contains("/.well-known/oauth-protected-resource\", error=\"invalid_token\""), "\(challenge)")
        }
        // A client config that lets the client sign in itself: no token in it.
        try await client.execute(uri: "/api/v1/client-config?client=cursor&auth=oauth", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.status == .ok)
            #expect(!String(buffer: response.body).contains(Tokens.bob))
            #expect(response.json["mcpServers"]?["acme"]?["headers"] == nil)
        }
        // Keys keep working beside it.
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.status == .ok)
        }
    }
}

@Test func withoutIssuersThereIsNoMetadataAndThe401IsPlain() async throws {
    try await TestGateway().test { client in
        try await client.execute(uri: "/.well-known/oauth-protected-resource", method: .get) { response in
            #expect(response.status == .notFound)
        }
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer("orch_not_a_key")) { response in
            #expect(response.headers[.wwwAuthenticate] == "Bearer realm=\"orch\"")
        }
        try await client.execute(uri: "/api/v1/client-config?client=cursor&auth=oauth", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.status == .notFound)
        }
    }
}
