public import AsyncHTTPClient
public import Foundation
import NIOCore
import NIOHTTP1
public import OrchJSON
public import OrchPolicy

/// Where an issuer's JWKS comes from; the tests give their own.
public protocol KeyFetcher: Sendable {
    /// The JWKS document of `issuer`'s keys, as text; `folder` is orch.json's, for a file.
    func jwks(for issuer: OIDCIssuer, folder: String) async throws -> String
}

/// The JWKS over HTTP (its URL, or the `jwks_uri` of the issuer's discovery document) or from a
/// file beside orch.json.
public struct HTTPKeyFetcher: KeyFetcher {
    private let client: HTTPClient
    private static let limit = 1 << 20
    private static let timeout = TimeAmount.seconds(10)

    public init(client: HTTPClient = .shared) {
        self.client = client
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public func jwks(for issuer: OIDCIssuer, folder: String) async throws -> String {
        switch issuer.keys {
        case .file(let path):
            let full = path.hasPrefix("/") ? path : URL(fileURLWithPath: folder).appendingPathComponent(path).path
            guard let data = FileManager.default.contents(atPath: full) else { throw Failure(description: "cannot read \(path)") }
            return String(decoding: data, as: UTF8.self)
        case .url(let url):
            return try await get(url)
        case .discovery:
            guard let uri = try await discovery(for: issuer)["jwks_uri"]?.stringValue else {
                throw Failure(description: "the discovery document names no jwks_uri")
            }
            return try await get(uri)
        }
    }

    /// The issuer's discovery document, `ISSUER/.well-known/openid-configuration` (for its keys here,
    /// and for the dashboard's sign-in, its authorization and token endpoints).
    public func discovery(for issuer: OIDCIssuer) async throws -> JSONValue {
        let base = issuer.issuer.hasSuffix("/") ? String(issuer.issuer.dropLast()) : issuer.issuer
        guard let document = try? JSONValue.parse(try await get(base + "/.well-known/openid-configuration")) else {
            throw Failure(description: "the discovery document is not JSON")
        }
        return document
    }

    private func get(_ url: String) async throws -> String {
        let response = try await client.execute(HTTPClientRequest(url: url), timeout: Self.timeout)
        guard response.status == .ok else { throw Failure(description: "\(url) answered \(response.status.code)") }
        let body = try await response.body.collect(upTo: Self.limit)
        return String(buffer: body)
    }
}
