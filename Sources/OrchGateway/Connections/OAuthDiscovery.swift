import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrchJSON
import OrchPolicy
import Synchronization

/// An authorization server as its metadata describes it (RFC 8414, or OpenID Connect discovery):
/// what a user's connect flow needs.
struct AuthorizationServer: Sendable, Equatable {
    let issuer: String
    let authorizationEndpoint: String
    let tokenEndpoint: String
    /// RFC 7009; nil when it has none (Disconnect then only forgets the tokens).
    let revocationEndpoint: String?
    let scopesSupported: [String]?
    /// RFC 9207: its authorization responses carry `iss`.
    let sendsIssuer: Bool
}

/// Where the users of one `oauth` server connect: the resource their tokens are for, the
/// authorization server, and the scopes to ask for.
struct ConnectionTarget: Sendable, Equatable {
    let resource: String
    let authorizationServer: AuthorizationServer
    let scopes: [String]
}

struct OAuthDiscoveryError: Error, Sendable, Equatable, CustomStringConvertible {
    let description: String
}

/// A document as fetched: its HTTP status and its body (at most `OAuthDiscovery.maxBytes`, else the
/// fetch fails).
struct FetchedDocument: Sendable, Equatable {
    let status: Int
    let body: [UInt8]
}

/// How the gateway finds where a server's users sign in: the server's protected-resource metadata
/// (RFC 9728; its `resource` must be the server's, §3.3), unless `oauth` pins both the resource and
/// the authorization server, then the authorization server's metadata (RFC 8414, then OpenID
/// Connect discovery, at the URLs the MCP specification lists in its order; its `issuer` must be the
/// one asked for, RFC 8414 §3.3). The server must support PKCE with S256 (a server that does not say
/// so is refused, as MCP clients refuse it); `offline_access` is asked for when it is offered (some
/// servers issue refresh tokens only then). Every URL it hands a browser or the gateway is https
/// (http only on loopback).
enum OAuthDiscovery {
    typealias Fetch = @Sendable (_ url: String) async throws -> FetchedDocument

    /// A metadata document larger than this is refused.
    static let maxBytes = 64 << 10

    static func target(serverURL: String, oauth: OAuthSpec, fetch: Fetch) async throws(OAuthDiscoveryError) -> ConnectionTarget {
        var resource = oauth.resource
        var issuer = oauth.authorizationServer
        if resource == nil || issuer == nil {
            let metadata = try await protectedResource(serverURL, fetch: fetch)
            resource = resource ?? metadata.resource
            if issuer == nil {
                guard let named = metadata.authorizationServers.first else {
                    throw OAuthDiscoveryError(description: "the protected-resource metadata of \(serverURL) names no authorization_servers")
                }
                issuer = named
            }
        }
        guard let resource, let issuer else { preconditionFailure("both set above") }
        let server = try await authorizationServer(issuer, fetch: fetch)
        var scopes = oauth.scopes
        if server.scopesSupported?.contains("offline_access") == true, !scopes.contains("offline_access") { scopes.append("offline_access") }
        return ConnectionTarget(resource: resource, authorizationServer: server, scopes: scopes)
    }

    /// The protected-resource metadata URLs of a server, in the order they are tried, each with the
    /// resource identifier its document must name: the path-inserted one, then (for a URL with a
    /// path) the root one, which describes the origin.
    static func protectedResourceURLs(_ serverURL: String) -> [(url: String, resource: String)] {
        guard let (origin, path) = split(serverURL) else { return [] }
        let wellKnown = origin + "/.well-known/oauth-protected-resource"
        return path.isEmpty ? [(wellKnown, origin)] : [(wellKnown + path, serverURL), (wellKnown, origin)]
    }

    /// The metadata URLs of an authorization server (issuer), in the order they are tried.
    static func authorizationServerURLs(_ issuer: String) -> [String] {
        guard let (origin, path) = split(issuer) else { return [] }
        if path.isEmpty { return [origin + "/.well-known/oauth-authorization-server", origin + "/.well-known/openid-configuration"] }
        return [origin + "/.well-known/oauth-authorization-server" + path, origin + "/.well-known/openid-configuration" + path,
                origin + path + "/.well-known/openid-configuration"]
    }

    struct ProtectedResource: Sendable, Equatable {
        let resource: String
        let authorizationServers: [String]
    }

    static func protectedResource(_ serverURL: String, fetch: Fetch) async throws(OAuthDiscoveryError) -> ProtectedResource {
        let candidates = protectedResourceURLs(serverURL)
        for (url, identifier) in candidates {
            guard let document = try await json(url, fetch: fetch) else { continue }
            guard case .string(let resource)? = document["resource"] else {
                throw OAuthDiscoveryError(description: "the protected-resource metadata at \(url) has no resource")
            }
            // RFC 9728 §3.3: the metadata must be the resource's it was asked for (the server's own
            // URL is taken from the origin's document too).
            guard [identifier, serverURL].contains(where: { same(resource, $0) }) else {
                throw OAuthDiscoveryError(description: "the protected-resource metadata at \(url) is for \(resource), not \(serverURL)")
            }
            var servers: [String] = []
            for case .string(let server) in document["authorization_servers"]?.arrayValue ?? [] {
                guard GatewaySettings.isSecureURL(server) else {
                    throw OAuthDiscoveryError(description: "the protected-resource metadata at \(url) names an authorization server that is not https: \(server)")
                }
                servers.append(server)
            }
            return ProtectedResource(resource: resource, authorizationServers: servers)
        }
        throw OAuthDiscoveryError(description: "\(serverURL) publishes no protected-resource metadata (RFC 9728) at "
            + candidates.map(\.url).joined(separator: " or ") + ": set its oauth.authorizationServer and oauth.resource")
    }

    static func authorizationServer(_ issuer: String, fetch: Fetch) async throws(OAuthDiscoveryError) -> AuthorizationServer {
        let candidates = authorizationServerURLs(issuer)
        for url in candidates {
            guard let document = try await json(url, fetch: fetch) else { continue }
            guard case .string(let named)? = document["issuer"], same(named, issuer) else {
                throw OAuthDiscoveryError(description: "the authorization server metadata at \(url) is for issuer \(document["issuer"]?.stringValue ?? "(none)"), not \(issuer)")
            }
            func endpoint(_ key: String, required: Bool) throws(OAuthDiscoveryError) -> String? {
                guard case .string(let value)? = document[key] else {
                    if required { throw OAuthDiscoveryError(description: "the authorization server metadata at \(url) has no \(key)") }
                    return nil
                }
                guard GatewaySettings.isSecureURL(value) else {
                    throw OAuthDiscoveryError(description: "the authorization server metadata at \(url) gives \(key) \(value), which is not https")
                }
                return value
            }
            let authorization = try endpoint("authorization_endpoint", required: true)!
            let token = try endpoint("token_endpoint", required: true)!
            let revocation = try endpoint("revocation_endpoint", required: false)
            let methods = document["code_challenge_methods_supported"]?.arrayValue?.compactMap(\.stringValue) ?? []
            guard methods.contains("S256") else {
                throw OAuthDiscoveryError(description: "the authorization server \(issuer) does not say it supports PKCE with S256 (code_challenge_methods_supported: \(methods.isEmpty ? "none" : methods.joined(separator: ", ")))")
            }
            return AuthorizationServer(
                issuer: named, authorizationEndpoint: authorization, tokenEndpoint: token, revocationEndpoint: revocation,
                scopesSupported: document["scopes_supported"]?.arrayValue?.compactMap(\.stringValue),
                sendsIssuer: document["authorization_response_iss_parameter_supported"] == .bool(true))
        }
        throw OAuthDiscoveryError(description: "the authorization server \(issuer) publishes no metadata at " + candidates.joined(separator: ", "))
    }

    /// The JSON object at `url`; nil for a 404 (the next URL is tried).
    private static func json(_ url: String, fetch: Fetch) async throws(OAuthDiscoveryError) -> JSONObject? {
        let document: FetchedDocument
        do {
            document = try await fetch(url)
        } catch {
            throw OAuthDiscoveryError(description: "cannot fetch \(url): \(error)")
        }
        if document.status == 404 { return nil }
        guard document.status == 200 else { throw OAuthDiscoveryError(description: "\(url) answered \(document.status)") }
        guard case .object(let object)? = try? JSONValue.parse(document.body) else {
            throw OAuthDiscoveryError(description: "\(url) is not a JSON object")
        }
        return object
    }

    /// `url` as its origin (`scheme://host[:port]`) and its path without a trailing slash ("" for none).
    private static func split(_ url: String) -> (origin: String, path: String)? {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.percentEncodedHost else { return nil }
        let port = components.port.map { ":\($0)" } ?? ""
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        return ("\(scheme)://\(host)\(port)", path)
    }

    /// Two URLs are the same identifier when they differ at most by a trailing slash.
    private static func same(_ a: String, _ b: String) -> Bool {
        func trimmed(_ s: String) -> Substring { s.hasSuffix("/") ? s.dropLast() : Substring(s) }
        return trimmed(a) == trimmed(b)
    }

    /// Over HTTP: a GET that takes JSON, at most `maxBytes` of body, in 10 seconds.
    static func httpFetch(client: HTTPClient = .shared) -> Fetch {
        { url in
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await client.execute(request, timeout: .seconds(10))
            do {
                let body = try await response.body.collect(upTo: maxBytes)
                return FetchedDocument(status: Int(response.status.code), body: Array(buffer: body))
            } catch is NIOTooManyBytesError {
                throw OAuthDiscoveryError(description: "\(url) sent more than \(maxBytes / 1024) KiB")
            }
        }
    }
}

/// A server's discovery, kept by what it depends on: its URL and its `oauth` block.
struct ConnectionTargetKey: Hashable, Sendable {
    let url: String
    let oauth: OAuthSpec
}

/// How connected accounts reach other servers: metadata documents and token (and revocation)
/// endpoints, over HTTP unless a test sets its own.
final class OAuthTransport: Sendable {
    private let slots = Mutex<(fetch: OAuthDiscovery.Fetch, post: TokenEndpoint.Post)>((OAuthDiscovery.httpFetch(), TokenEndpoint.httpPost))

    var fetch: OAuthDiscovery.Fetch {
        get { slots.withLock { $0.fetch } }
        set { slots.withLock { $0.fetch = newValue } }
    }

    var post: TokenEndpoint.Post {
        get { slots.withLock { $0.post } }
        set { slots.withLock { $0.post = newValue } }
    }
}
