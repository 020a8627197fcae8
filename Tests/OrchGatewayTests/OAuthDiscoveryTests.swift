import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Synchronization
import Testing

// Where an oauth server's users sign in, found from its metadata and its authorization server's.

/// Documents by URL (anything else is a 404), with every URL asked for kept in order.
private final class Documents: Sendable {
    let served: [String: FetchedDocument]
    let asked = Mutex<[String]>([])

    init(_ documents: [String: JSONValue], raw: [String: FetchedDocument] = [:]) {
        served = documents.mapValues { FetchedDocument(status: 200, body: Array($0.compact.utf8)) }.merging(raw) { $1 }
    }

    var fetch: OAuthDiscovery.Fetch {
        { url in
            self.asked.withLock { $0.append(url) }
            return self.served[url] ?? FetchedDocument(status: 404, body: [])
        }
    }
}

private let serverURL = "https://mcp.tickets.example/mcp"
private let resourceMetadata: JSONValue = ["resource": "https://mcp.tickets.example/mcp", "authorization_servers": ["https://login.tickets.example/tenant"]]
private let serverMetadata: JSONValue = [
    "issuer": "https://login.tickets.example/tenant",
    "authorization_endpoint": "https://login.tickets.example/tenant/authorize", "token_endpoint": "https://login.tickets.example/tenant/token",
    "revocation_endpoint": "https://login.tickets.example/tenant/revoke", "code_challenge_methods_supported": ["plain", "S256"],
    "scopes_supported": ["tickets:read", "offline_access"], "authorization_response_iss_parameter_supported": true,
]
private let prmURL = "https://mcp.tickets.example/.well-known/oauth-protected-resource/mcp"
private let asURL = "https://login.tickets.example/.well-known/oauth-authorization-server/tenant"

private func oauth(_ scopes: [String] = ["tickets:read"], issuer: String? = nil, resource: String? = nil) -> OAuthSpec {
    var spec = OAuthSpec(client: .init(id: "orch", secret: nil))
    spec.scopes = scopes
    spec.authorizationServer = issuer
    spec.resource = resource
    return spec
}

private func failure(_ documents: Documents, _ spec: OAuthSpec = oauth(), url: String = serverURL) async -> String? {
    do {
        _ = try await OAuthDiscovery.target(serverURL: url, oauth: spec, fetch: documents.fetch)
        return nil
    } catch {
        return error.description
    }
}

@Test func aServersMetadataLeadsToItsAuthorizationServer() async throws {
    let documents = Documents([prmURL: resourceMetadata, asURL: serverMetadata])
    let target = try await OAuthDiscovery.target(serverURL: serverURL, oauth: oauth(), fetch: documents.fetch)
    #expect(target == ConnectionTarget(
        resource: "https://mcp.tickets.example/mcp",
        authorizationServer: AuthorizationServer(
            issuer: "https://login.tickets.example/tenant", authorizationEndpoint: "https://login.tickets.example/tenant/authorize",
            tokenEndpoint: "https://login.tickets.example/tenant/token", revocationEndpoint: "https://login.tickets.example/tenant/revoke",
            scopesSupported: ["tickets:read", "offline_access"], sendsIssuer: true),
        scopes: ["tickets:read", "offline_access"]))
    #expect(documents.asked.withLock { $0 } == [prmURL, asURL])
    // Pinned both: the server's metadata is not needed; offline_access only when offered.
    var offered = serverMetadata.objectValue!
    offered["scopes_supported"] = ["tickets:read"]
    let pinned = Documents([asURL: .object(offered)])
    let direct = try await OAuthDiscovery.target(
        serverURL: serverURL, oauth: oauth(issuer: "https://login.tickets.example/tenant", resource: "https://tickets.example/api"), fetch: pinned.fetch)
    #expect(direct.resource == "https://tickets.example/api" && direct.scopes == ["tickets:read"])
    #expect(pinned.asked.withLock { $0 } == [asURL])
}

@Test func theMetadataIsLookedForWhereTheSpecificationSaysInItsOrder() async throws {
    #expect(OAuthDiscovery.protectedResourceURLs("https://mcp.example:8443/a/mcp/").map(\.url) == [
        "https://mcp.example:8443/.well-known/oauth-protected-resource/a/mcp", "https://mcp.example:8443/.well-known/oauth-protected-resource",
    ])
    #expect(OAuthDiscovery.protectedResourceURLs("https://mcp.example").map(\.url) == ["https://mcp.example/.well-known/oauth-protected-resource"])
    #expect(OAuthDiscovery.authorizationServerURLs("https://id.example/t/1") == [
        "https://id.example/.well-known/oauth-authorization-server/t/1", "https://id.example/.well-known/openid-configuration/t/1",
        "https://id.example/t/1/.well-known/openid-configuration",
    ])
    #expect(OAuthDiscovery.authorizationServerURLs("https://id.example/") == [
        "https://id.example/.well-known/oauth-authorization-server", "https://id.example/.well-known/openid-configuration",
    ])
    // The origin's document, for the origin or for the server's own URL; OpenID Connect discovery appended to the issuer.
    for resource: JSONValue in ["https://mcp.tickets.example", "https://mcp.tickets.example/mcp"] {
        let documents = Documents([
            "https://mcp.tickets.example/.well-known/oauth-protected-resource": ["resource": resource, "authorization_servers": ["https://login.tickets.example/tenant"]],
            "https://login.tickets.example/tenant/.well-known/openid-configuration": serverMetadata,
        ])
        let target = try await OAuthDiscovery.target(serverURL: serverURL, oauth: oauth(), fetch: documents.fetch)
        #expect(target.resource == resource.stringValue)
        #expect(documents.asked.withLock { $0 }.count == 5)
    }
}

@Test func metadataThatCannotBeTrustedOrUsedIsRefusedWithWhy() async {
    func without(_ key: String, _ document: JSONValue = serverMetadata) -> JSONValue {
        var object = document.objectValue!
        object[key] = nil
        return .object(object)
    }
    func with(_ key: String, _ value: JSONValue, _ document: JSONValue = serverMetadata) -> JSONValue {
        var object = document.objectValue!
        object[key] = value
        return .object(object)
    }
    #expect(await failure(Documents([:])) ==
        "https://mcp.tickets.example/mcp publishes no protected-resource metadata (RFC 9728) at \(prmURL) or https://mcp.tickets.example/.well-known/oauth-protected-resource: set its oauth.authorizationServer and oauth.resource")
    #expect(await failure(Documents([prmURL: with("resource", "https://evil.example/mcp", resourceMetadata), asURL: serverMetadata])) ==
        "the protected-resource metadata at \(prmURL) is for https://evil.example/mcp, not https://mcp.tickets.example/mcp")
    #expect(await failure(Documents([prmURL: without("resource", resourceMetadata)])) == "the protected-resource metadata at \(prmURL) has no resource")
    #expect(await failure(Documents([prmURL: without("authorization_servers", resourceMetadata)])) ==
        "the protected-resource metadata of https://mcp.tickets.example/mcp names no authorization_servers")
    #expect(await failure(Documents([prmURL: with("authorization_servers", ["http://login.tickets.example"], resourceMetadata)])) ==
        "the protected-resource metadata at \(prmURL) names an authorization server that is not https: http://login.tickets.example")
    #expect(await failure(Documents([prmURL: resourceMetadata, asURL: with("issuer", "https://login.tickets.example/other")])) ==
        "the authorization server metadata at \(asURL) is for issuer https://login.tickets.example/other, not https://login.tickets.example/tenant")
    #expect(await failure(Documents([prmURL: resourceMetadata, asURL: without("code_challenge_methods_supported")])) ==
        "the authorization server https://login.tickets.example/tenant does not say it supports PKCE with S256 (code_challenge_methods_supported: none)")
    #expect(await failure(Documents([prmURL: resourceMetadata, asURL: with("code_challenge_methods_supported", ["plain"])])) ==
        "the authorization server https://login.tickets.example/tenant does not say it supports PKCE with S256 (code_challenge_methods_supported: plain)")
    #expect(await failure(Documents([prmURL: resourceMetadata, asURL: without("token_endpoint")])) ==
        "the authorization server metadata at \(asURL) has no token_endpoint")
    #expect(await failure(Documents([prmURL: resourceMetadata, asURL: with("authorization_endpoint", "http://login.tickets.example/authorize")])) ==
        "the authorization server metadata at \(asURL) gives authorization_endpoint http://login.tickets.example/authorize, which is not https")
    #expect(await failure(Documents([prmURL: resourceMetadata])) ==
        "the authorization server https://login.tickets.example/tenant publishes no metadata at \(OAuthDiscovery.authorizationServerURLs("https://login.tickets.example/tenant").joined(separator: ", "))")
    #expect(await failure(Documents([:], raw: [prmURL: FetchedDocument(status: 200, body: Array("<html>".utf8))])) == "\(prmURL) is not a JSON object")
    #expect(await failure(Documents([:], raw: [prmURL: FetchedDocument(status: 500, body: [])])) == "\(prmURL) answered 500")
    let unreachable: OAuthDiscovery.Fetch = { _ in throw URLError(.cannotConnectToHost) }
    do {
        _ = try await OAuthDiscovery.target(serverURL: serverURL, oauth: oauth(), fetch: unreachable)
        Issue.record("no error")
    } catch {
        #expect(error.description.hasPrefix("cannot fetch \(prmURL): "))
    }
}

@Test func overHTTPADocumentPastItsLimitIsRefused() async throws {
    let router = Router()
    router.get("/large") { _, _ in String(repeating: "x", count: OAuthDiscovery.maxBytes + 1) }
    router.get("/small") { _, _ in #"{"resource": "x"}"# }
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    // A client of the test's own, shut down after it.
    let http = HTTPClient(eventLoopGroupProvider: .singleton)
    try await app.test(.live) { client in
        let port = try #require(client.port)
        let fetch = OAuthDiscovery.httpFetch(client: http)
        let small = try await fetch("http://127.0.0.1:\(port)/small")
        #expect(small.status == 200 && small.body == Array(#"{"resource": "x"}"#.utf8))
        await #expect(throws: OAuthDiscoveryError(description: "http://127.0.0.1:\(port)/large sent more than 64 KiB")) {
            try await fetch("http://127.0.0.1:\(port)/large")
        }
        #expect(try await fetch("http://127.0.0.1:\(port)/missing").status == 404)
    }
    try await http.shutdown()
}
