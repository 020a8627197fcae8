import Foundation
import Hummingbird
import HummingbirdTesting
import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

@Test func meDescribesTheCallerAndTheirKey() async throws {
    try await TestGateway().test { client in
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json")
            #expect(response.json == [
                "user": "bob", "displayName": nil, "admin": false,
                "key": ["id": "laptop", "expires": "2099-01-01T00:00:00Z"], "signIn": nil,
                "orgs": [["org": "acme", "roles": ["member", "editor"]]],
            ])
        }
    }
}

@Test func serversListsOnlyWhatTheKeyMayReachWithEndpoints() async throws {
    try await TestGateway().test { client in
        try await client.execute(uri: "/api/v1/servers", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.status == .ok)
            #expect(response.json == ["servers": [
                [
                    "id": "acme/notes", "org": "acme", "name": "notes", "description": "Notes", "transport": "stdio",
                    "endpoints": [
                        "streamableHttp": "https://orch.example.com/orgs/acme/servers/notes/mcp",
                        "sse": "https://orch.example.com/orgs/acme/servers/notes/sse",
                    ],
                ],
                [
                    "id": "acme/clock", "org": "acme", "name": "clock", "description": nil, "transport": "stdio",
                    "endpoints": [
                        "streamableHttp": "https://orch.example.com/orgs/acme/servers/clock/mcp",
                        "sse": "https://orch.example.com/orgs/acme/servers/clock/sse",
                    ],
                ],
            ]])
        }
        // The CI key is scoped to acme/clock: the list narrows with it.
        try await client.execute(uri: "/api/v1/servers", method: .get, headers: bearer(Tokens.bobCI)) { response in
            #expect(response.json["servers"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["acme/clock"])
        }
        try await client.execute(uri: "/api/v1/servers", method: .get, headers: bearer(Tokens.alice)) { response in
            #expect(response.json["servers"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["acme/notes", "acme/clock", "acme/secret", "globex/notes"])
        }
    }
}

@Test func meAndServersFollowAReload() async throws {
    let test = try TestGateway()
    try await test.test { client in
        // Asked twice, so that the second answer may come from what the first one kept.
        for _ in 0..<2 {
            try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.bob)) { response in
                #expect(response.json["displayName"] == .null)
            }
            try await client.execute(uri: "/api/v1/servers", method: .get, headers: bearer(Tokens.bob)) { response in
                #expect(response.json["servers"]?.arrayValue?.first?["description"] == "Notes")
            }
        }
        let changed = testPolicyJSON()
            .replacingOccurrences(of: #""bob": { "keys": ["#, with: #""bob": { "displayName": "Bob", "keys": ["#)
            .replacingOccurrences(of: #""description": "Notes""#, with: #""description": "Shared notes""#)
        ReloadWatcher.install(compile(changed), path: "test.json", gateway: test.gateway)
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.json["displayName"] == "Bob")
        }
        try await client.execute(uri: "/api/v1/servers", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.json["servers"]?.arrayValue?.first?["description"] == "Shared notes")
        }
        // Another key of the same user has its own answer.
        try await client.execute(uri: "/api/v1/servers", method: .get, headers: bearer(Tokens.bobCI)) { response in
            #expect(response.json["servers"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["acme/clock"])
        }
    }
}

@Test func noUpstreamSecretCommandOrURLReachesTheAPI() async throws {
    try await TestGateway().test { client in
        for uri in ["/api/v1/servers", "/api/v1/orgs/acme/servers", "/api/v1/me", "/api/v1/policy"] {
            try await client.execute(uri: uri, method: .get, headers: bearer(Tokens.alice)) { response in
                let text = String(buffer: response.body)
                #expect(response.status == .ok)
                for secret in ["hunter2-not-for-api", "upstream-query-secret", "upstream-header-secret", "upstream.example.com", "sample-server", Tokens.hash(Tokens.alice)] {
                    #expect(!text.contains(secret), "\(uri) leaks \(secret)")
                }
            }
        }
    }
}

@Test func orgServersAnswers404AlikeForUnknownAndForeignOrgs() async throws {
    let gateway = try TestGateway()
    try await gateway.test { client in
        try await client.execute(uri: "/api/v1/orgs/acme/servers", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.status == .ok)
            #expect(response.json["servers"]?.arrayValue?.count == 2)
        }
        var bodies: [String] = []
        for org in ["globex", "nosuch"] {
            try await client.execute(uri: "/api/v1/orgs/\(org)/servers", method: .get, headers: bearer(Tokens.bob)) { response in
                #expect(response.status == .notFound)
                bodies.append(String(buffer: response.body).replacingOccurrences(of: org, with: "ORG"))
            }
        }
        #expect(bodies[0] == bodies[1])
    }
    // The audit log keeps the real reason apart.
    let reasons = gateway.auditLines.compactMap { try? JSONValue.parse($0)["reason"]?.stringValue }
    #expect(reasons == ["bob is not a member of globex", "no org nosuch"])
}

@Test func policyIsForAdminsOnly() async throws {
    let gateway = try TestGateway()
    try await gateway.test { client in
        try await client.execute(uri: "/api/v1/policy", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.status == .forbidden)
            #expect(response.json["error"]?["code"] == "forbidden")
        }
        try await client.execute(uri: "/api/v1/policy", method: .get, headers: bearer(Tokens.alice)) { response in
            #expect(response.status == .ok)
            let body = response.json
            #expect(body["digest"]?.stringValue?.hasPrefix("sha256:") == true)
            #expect(body["source"] == "test.json")
            #expect(body["loadedAt"]?.stringValue != nil)
            #expect(body["counts"] == ["orgs": 2, "users": 4, "keys": 5, "servers": 4, "tests": 0])
            #expect(body["lastReload"]?["ok"] == true)
            #expect(body.objectValue?.keys == ["digest", "source", "loadedAt", "counts", "lastReload"])
        }
    }
    #expect(gateway.auditLines.count == 1)
}

@Test func readyzCarriesTheDigestAndMetricsShowThePolicyAndRequests() async throws {
    let gateway = try TestGateway()
    let digest = try #require(gateway.gateway.store.policy?.digest)
    try await gateway.test { client in
        try await client.execute(uri: "/readyz", method: .get) { response in
            #expect(response.status == .ok)
            #expect(response.json == ["status": "ready", "policy": .string(digest)])
        }
        try await client.execute(uri: "/api/v1/me", method: .get) { _ in }
        try await client.execute(uri: "/metrics", method: .get) { response in
            let text = String(buffer: response.body)
            #expect(response.status == .ok)
            #expect(text.contains("orch_policy_info{digest=\"\(digest)\"} 1"))
            #expect(text.contains(#"orch_http_requests_total{route="/readyz",method="GET",status="200"} 1"#))
            #expect(text.contains(#"orch_http_requests_total{route="/api/v1/me",method="GET",status="401"} 1"#))
            #expect(text.contains(#"orch_reloads_total{result="ok"} 1"#))
            #expect(text.contains("orch_http_request_duration_seconds_bucket"))
        }
    }
}
