import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OrchJSON
import OrchPolicy

/// What a token endpoint issued (RFC 6749 §5.1). Every token is a secret.
struct IssuedTokens: Sendable, Equatable {
    let accessToken: String
    let tokenType: String
    /// Seconds the access token lasts, when the response says.
    let expiresIn: Int64?
    /// A refresh token, when one was issued (a rotated one replaces the old).
    let refreshToken: String?
    let scope: String?
}

/// A refusal or failure at the token endpoint, said without any token, code or verifier.
struct TokenEndpointError: Error, Sendable, Equatable, CustomStringConvertible {
    let description: String
    /// The OAuth error code when the endpoint gave one (`invalid_grant`: the code or refresh
    /// token is not good any more).
    let code: String?
}

/// An OAuth token endpoint for one client: an authorization code (with its PKCE verifier), or a
/// refresh token, for tokens. The client sends its `client_id`, and authenticates with HTTP Basic
/// when it has a secret (RFC 6749 §2.3.1). The dashboard's sign-in and connected accounts use it.
struct TokenEndpoint: Sendable {
    /// A form POST: the URL, the extra headers, the form body → status and body.
    typealias Post = @Sendable (_ url: String, _ headers: [(String, String)], _ body: String) async throws -> (status: Int, body: [UInt8])

    let url: String
    let client: OIDCIssuer.Client
    var post: Post = TokenEndpoint.httpPost

    /// A response larger than this is refused.
    static let maxBytes = 64 << 10

    func exchange(code: String, redirectURI: String, verifier: String, resource: String?) async throws(TokenEndpointError) -> IssuedTokens {
        try await request([("grant_type", "authorization_code"), ("code", code), ("redirect_uri", redirectURI), ("code_verifier", verifier)]
            + (resource.map { [("resource", $0)] } ?? []))
    }

    func refresh(_ refreshToken: String, resource: String?) async throws(TokenEndpointError) -> IssuedTokens {
        try await request([("grant_type", "refresh_token"), ("refresh_token", refreshToken)] + (resource.map { [("resource", $0)] } ?? []))
    }

    /// RFC 7009: `token` revoked at this (revocation) endpoint. A 200 is success, whatever its body.
    func revoke(_ token: String, hint: String) async throws(TokenEndpointError) {
        let answer = try await send([("token", token), ("token_type_hint", hint)])
        guard answer.status == 200 else { throw Self.refusal(answer) }
    }

    private func request(_ fields: [(String, String)]) async throws(TokenEndpointError) -> IssuedTokens {
        let answer = try await send(fields)
        let document = try? JSONValue.parse(answer.body)
        guard answer.status == 200 else { throw Self.refusal(answer) }
        guard case .string(let access)? = document?["access_token"], !access.isEmpty else {
            throw TokenEndpointError(description: "the token endpoint's answer has no access_token", code: nil)
        }
        let type = document?["token_type"]?.stringValue ?? "Bearer"
        guard type.lowercased() == "bearer" else {
            throw TokenEndpointError(description: "the token endpoint issued a \(type) token, not a Bearer one", code: nil)
        }
        let expiresIn: Int64? = switch document?["expires_in"] {
        case .integer(let seconds)?: seconds
        case .real(let seconds)?: Int64(seconds)
        case .string(let text)?: Int64(text)
        default: nil
        }
        return IssuedTokens(accessToken: access, tokenType: "Bearer", expiresIn: expiresIn, refreshToken: document?["refresh_token"]?.stringValue,
                            scope: document?["scope"]?.stringValue)
    }

    /// RFC 6749 §5.2: `error` and `error_description`, neither of which holds a token.
    private static func refusal(_ answer: (status: Int, body: [UInt8])) -> TokenEndpointError {
        let document = try? JSONValue.parse(answer.body)
        let code = document?["error"]?.stringValue
        let detail = document?["error_description"]?.stringValue.map { ": \($0)" } ?? ""
        return TokenEndpointError(description: "the token endpoint answered \(answer.status)" + (code.map { " (\($0)\(detail))" } ?? ""), code: code)
    }

    /// The form POSTed with the client's credentials.
    private func send(_ fields: [(String, String)]) async throws(TokenEndpointError) -> (status: Int, body: [UInt8]) {
        var fields = fields
        var headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
        // client_id goes in the form either way (most servers take it beside Basic, some want it).
        fields.append(("client_id", client.id))
        if let secret = client.secret {
            let pair = "\(Self.formEncode(client.id)):\(Self.formEncode(secret))"
            headers.append(("Authorization", "Basic " + Data(pair.utf8).base64EncodedString()))
        }
        let body = fields.map { "\(Self.formEncode($0.0))=\(Self.formEncode($0.1))" }.joined(separator: "&")
        do {
            return try await post(url, headers, body)
        } catch let error as TokenEndpointError {
            throw error
        } catch {
            throw TokenEndpointError(description: "cannot reach the token endpoint \(url): \(error)", code: nil)
        }
    }

    /// RFC 6749 §2.3.1 and the form encoding: everything but unreserved characters percent-encoded.
    static func formEncode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? text
    }

    /// RFC 3986's unreserved characters, ASCII only (`CharacterSet.alphanumerics` holds every
    /// script's letters, which would go out unencoded).
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    static let httpPost: Post = { url, headers, body in
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        do {
            return (Int(response.status.code), Array(buffer: try await response.body.collect(upTo: maxBytes)))
        } catch is NIOTooManyBytesError {
            throw TokenEndpointError(description: "the token endpoint \(url) sent more than \(maxBytes / 1024) KiB", code: nil)
        }
    }
}
