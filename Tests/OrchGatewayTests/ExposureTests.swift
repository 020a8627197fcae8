import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import OrchJSON
import OrchPolicy
import Testing

@testable import OrchGateway

// What the gateway shows to whom: the hosts it answers to, and who reads /metrics.

@Test func onlyIPAddressesLocalhostAndTheConfiguredNamesAreAnsweredTo() throws {
    var settings = GatewaySettings()
    settings.publicURL = "https://Orch.Example.com:8443/base"
    settings.allowedHosts = ["orch.internal"]
    for allowed in ["127.0.0.1:8080", "127.0.0.1", "10.1.2.3:80", "[::1]:8080", "[fe80::1]", "localhost:8080", "LOCALHOST",
                    "orch.example.com", "orch.example.com:8443", "orch.example.com.", "orch.internal:80", nil, ""] {
        #expect(HostCheck.allows(allowed, settings), "\(allowed ?? "nil")")
    }
    for refused in ["evil.example.com", "evil.example.com:8080", "127.0.0.1.nip.io", "orch.example.com.evil.net", "1.2.3", "localhost.evil"] {
        #expect(!HostCheck.allows(refused, settings), "\(refused)")
    }
    #expect(HostCheck.publicHost(settings) == "orch.example.com")
}

@Test func onlyRealIPv6LiteralsPassAsAddresses() {
    let settings = GatewaySettings()
    for host in ["[::1]", "[::1]:8080", "[2001:db8::7]:443", "[::ffff:127.0.0.1]", "[FE80::1]"] {
        #expect(HostCheck.allows(host, settings), "\(host)")
    }
    // A name in brackets is not an IPv6 literal: a rebinding page could send any of these.
    for host in ["[anything]", "[evil.example.com]", "[]", "[::1", "[::1]x", "[::1]:", "[::1]:80:90", "[:::1]",
                 "[1::2::3]", "[::1%25eth0]", "[::g]", "[127.0.0.1]", "[::1]]"] {
        #expect(!HostCheck.allows(host, settings), "\(host)")
    }
}

@Test func ipv4HostsAreReadAsBeforeByTheQuickReading() {
    let settings = GatewaySettings()
    // The quick reading takes only plain `A.B.C.D[:PORT]`; everything else goes the general way.
    for host in ["127.0.0.1:8080", "10.1.2.3:", "1.2.3.4.", "١.٢.٣.٤"] {
        #expect(HostCheck.allows(host, settings), "\(host)")
    }
    for host in ["1.2.3", "1.2.3.4.5", "1..2.3", "1234.1.1.1", "1.2.3.4:80:90", "1.2.3.4:8a", ":80", ".1.2.3", "1.2.3.4x"] {
        #expect(!HostCheck.allows(host, settings), "\(host)")
        #expect(!HostCheck.isIPv4Authority(host), "\(host)")
    }
}

@Test func metricsAreOpenOnLoopbackAndForAdminsElsewhere() async throws {
    let open = try #require(compile(testPolicyJSON()).policy)
    let g = try TestGateway()
    #expect(!g.gateway.metricsNeedAdmin(open))
    let wildcard = try #require(compile(testPolicyJSON().replacingOccurrences(of: #""gateway": {"#, with: #""gateway": { "listen": "0.0.0.0:8080","#)).policy)
    #expect(g.gateway.metricsNeedAdmin(wildcard))
    let forced = try #require(compile(testPolicyJSON().replacingOccurrences(of: #""gateway": {"#, with: #""gateway": { "metrics": "admin","#)).policy)
    #expect(g.gateway.metricsNeedAdmin(forced))
}

@Test func metricsForAdminsNeedAnAdminsKey() async throws {
    let g = try TestGateway(json: testPolicyJSON().replacingOccurrences(of: #""gateway": {"#, with: #""gateway": { "metrics": "admin","#))
    try await g.test { client in
        try await client.execute(uri: "/metrics", method: .get) { response in
            #expect(response.status == .unauthorized)
            #expect(!String(buffer: response.body).contains("orch_"))
        }
        try await client.execute(uri: "/metrics", method: .get, headers: bearer(Tokens.bob)) { #expect($0.status == .forbidden) }
        try await client.execute(uri: "/metrics", method: .get, headers: bearer(Tokens.alice)) { response in
            #expect(response.status == .ok)
            #expect(String(buffer: response.body).contains("orch_policy_info"))
        }
        // Health stays open: probes carry no token.
        try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
    }
}

@Test func theMetricsAndHostSettingsAreChecked() {
    let result = compile(#"{ "version": 1, "gateway": { "metrics": "public", "allowedHosts": ["https://orch.example.com", "ok.example.com"] } }"#)
    #expect(result.errors.map { $0.rendered(file: "orch.json") } == [
        #"orch.json:1:68: error: gateway.allowedHosts[0]: "https://orch.example.com" is not a host name (no scheme, port or path: orch.example.com)"#,
        #"orch.json:1:30: error: gateway.metrics: "public" is not "open" (no token) or "admin" (an admin's key)"#,
    ])
}
