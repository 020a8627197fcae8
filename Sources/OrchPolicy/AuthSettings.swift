public import Foundation

/// orch.json's `auth`: single sign-on with OIDC identity providers (docs/guide/single-sign-on.md).
/// Tokens they issue are accepted beside orch keys; each maps to exactly one user of the file.
public struct AuthSettings: Sendable, Hashable {
    /// The URL tokens must name in `aud` (RFC 8707 resource indicator); nil: `publicURL`.
    public var resource: String?
    public var issuers: [OIDCIssuer] = []

    public init() {}
}

/// One identity provider of `auth.oidc`.
public struct OIDCIssuer: Sendable, Hashable {
    /// Where the keys that sign its tokens come from.
    public enum KeySource: Sendable, Hashable {
        /// The `jwks_uri` of the issuer's discovery document (`ISSUER/.well-known/openid-configuration`).
        case discovery
        case url(String)
        /// A JWKS file, relative to orch.json's folder.
        case file(String)
    }

    /// The key in `auth.oidc`: what users' `identities` name (`NAME:VALUE`).
    public var name: String
    public var path: String
    /// The exact `iss` of its tokens.
    public var issuer: String
    /// What a token's `aud` must contain one of; nil: the resource.
    public var audiences: [String]?
    public var keys: KeySource = .discovery
    /// The claim that names the user: matched against users' `email` when it is `email`, and
    /// against `identities` entries of this issuer always.
    public var userClaim = "email"
    /// The email domains this issuer may assert (lowercase), when `userClaim` is `email`: a token
    /// with an email elsewhere names no user. nil: any domain.
    public var emailDomains: [String]?
    /// Scopes a token must carry (403 `insufficient_scope` naming the first missing one).
    public var scopes: [String] = []
    /// For the dashboard's sign-in only; the secret came through `${env:…}`.
    public var client: Client?

    public struct Client: Sendable, Hashable {
        public var id: String
        public var secret: String?

        public init(id: String, secret: String?) {
            self.id = id
            self.secret = secret
        }
    }
}

/// A user's identity at an issuer: `identities: ["ISSUER:VALUE"]`.
extension OIDCIssuer {
    /// Whether this issuer may assert `email`: its domain (after the last `@`, any case) is one
    /// of `emailDomains`, or the issuer names none.
    public func mayAssert(email: String) -> Bool {
        guard let domains = emailDomains else { return true }
        guard let at = email.lastIndex(of: "@") else { return false }
        return domains.contains(email[email.index(after: at)...].lowercased())
    }
}

public struct UserIdentity: Sendable, Hashable, CustomStringConvertible {
    public var issuer: String
    public var value: String

    public var description: String { "\(issuer):\(value)" }
}
