import Foundation
import Hummingbird
import HummingbirdTesting
import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

@Test func missingTokenGets401WithBearerChallenge() async throws {
    try await TestGateway().test { client in
        try await client.execute(uri: "/api/v1/me", method: .get) { response in
            #expect(response.status == .unauthorized)
            #expect(response.headers[.wwwAuthenticate] == "Bearer realm=\"orch\"")
            #expect(response.json == ["error": ["code": "unauthorized", "message": "missing bearer token"]])
        }
    }
}

@Test func unknownTokenGets401() async throws {
    try await TestGateway().test { client in
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer("orch_not_a_real_token")) { response in
            #expect(response.status == .unauthorized)
            #expect(response.json["error"]?["message"] == "unknown token")
        }
    }
}

@Test func tokenInQueryStringIsNeverAccepted() async throws {
    try await TestGateway().test { client in
        for name in ["access_token", "token", "key"] {
            try await client.execute(uri: "/api/v1/me?\(name)=\(Tokens.alice)", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }
}

@Test func nonBearerSchemeIsRefused() async throws {
    try await TestGateway().test { client in
        try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Basic \(Tokens.alice)"]) { response in
            #expect(response.status == .unauthorized)
        }
        try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "bearer \(Tokens.alice)"]) { response in
            #expect(response.status == .ok)
        }
    }
}

/// A key expires on the gateway's clock: accepted the second before its `expires`, refused the
/// second after, with no waiting.
@Test func aKeyExpiresOnTheGatewaysClock() async throws {
    let time = ManualClock(Date(timeIntervalSince1970: 4_070_908_799))  // 2098-12-31T23:59:59Z; bob's laptop key expires 2099-01-01
    try await TestGateway(clock: time.clock).test { client in
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.status == .ok)
        }
        time.advance(by: 2)
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.bob)) { response in
            #expect(response.status == .unauthorized)
            #expect(response.json["error"]?["message"] == "key laptop expired at 2099-01-01T00:00:00Z")
        }
    }
}

@Test func expiredKeyIsRefusedAndSaysSo() async throws {
    try await TestGateway().test { client in
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.carolExpired)) { response in
            #expect(response.status == .unauthorized)
            #expect(response.json["error"]?["message"] == "key old expired at 2020-01-01T00:00:00Z")
        }
    }
}

@Test func disabledUserIsRefused() async throws {
    try await TestGateway().test { client in
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.dave)) { response in
            #expect(response.status == .unauthorized)
            #expect(response.json["error"]?["message"] == "user dave is disabled")
        }
    }
}

@Test func authenticationFailuresAreAuditedWithoutTheToken() async throws {
    let gateway = try TestGateway()
    try await gateway.test { client in
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer("orch_wrong_token_value")) { _ in }
        try await client.execute(uri: "/api/v1/servers", method: .get, headers: bearer(Tokens.carolExpired)) { _ in }
    }
    let lines = gateway.auditLines
    #expect(lines.count == 2)
    let first = try JSONValue.parse(lines[0])
    #expect(first["decision"] == "deny")
    #expect(first["reason"] == "unknown token")
    #expect(first["status"] == 401)
    #expect(first["method"] == "GET /api/v1/me")
    #expect(first["policy"]?.stringValue?.hasPrefix("sha256:") == true)
    let second = try JSONValue.parse(lines[1])
    #expect(second["user"] == "carol")
    #expect(second["key"] == "old")
    for line in lines {
        #expect(!line.contains("orch_wrong_token_value"))
        #expect(!line.contains(Tokens.carolExpired))
        #expect(!line.contains(Tokens.hash(Tokens.carolExpired)))
    }
    let keys = try JSONValue.parse(lines[0]).objectValue?.keys ?? []
    #expect(keys == ["ts", "policy", "user", "key", "issuer", "remote", "org", "server", "session", "method", "tool", "kind", "target", "decision", "reason", "status", "ms"])
}

@Test func originNotAllowedGets403AndAllowedOrMissingOriginPasses() async throws {
    try await TestGateway().test { client in
        try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(Tokens.alice)", .origin: "https://evil.example.com"]) { response in
            #expect(response.status == .forbidden)
            #expect(response.json["error"]?["code"] == "forbidden")
        }
        try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(Tokens.alice)", .origin: "https://dash.example.com"]) { response in
            #expect(response.status == .ok)
        }
        try await client.execute(uri: "/healthz", method: .get, headers: [.origin: "https://evil.example.com"]) { response in
            #expect(response.status == .forbidden)
        }
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.alice)) { response in
            #expect(response.status == .ok)
        }
    }
}

@Test func bodyOverTheLimitGets413() async throws {
    try await TestGateway().test { client in
        let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: 2048)
        try await client.execute(uri: "/api/v1/me", method: .post, headers: bearer(Tokens.alice), body: body) { response in
            #expect(response.status == .contentTooLarge)
            #expect(response.json["error"]?["code"] == "payload_too_large")
        }
    }
}

@Test func unknownRouteIsAJSON404() async throws {
    try await TestGateway().test { client in
        try await client.execute(uri: "/nope", method: .get) { response in
            #expect(response.status == .notFound)
            #expect(response.json["error"]?["code"] == "not_found")
        }
    }
}

@Test func beforeAPolicyIsLoadedAuthenticatedRoutesAre503AndReadyzTooButHealthzIsOK() async throws {
    try await TestGateway(loaded: false).test { client in
        try await client.execute(uri: "/readyz", method: .get) { response in
            #expect(response.status == .serviceUnavailable)
        }
        try await client.execute(uri: "/healthz", method: .get) { response in
            #expect(response.status == .ok)
            #expect(response.json == ["status": "ok"])
        }
        try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer(Tokens.alice)) { response in
            #expect(response.status == .serviceUnavailable)
        }
    }
}
