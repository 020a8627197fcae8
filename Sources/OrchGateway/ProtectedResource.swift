import Foundation
import Hummingbird
import NIOCore
import OrchAuth
import OrchJSON
import OrchPolicy

/// OAuth 2.0 protected-resource metadata (RFC 9728) for MCP clients that run the sign-in
/// themselves: served, without authentication, only when orch.json has `auth.oidc` issuers (some
/// clients ignore a static token once a server advertises OAuth), and named in every 401's
/// `WWW-Authenticate` then.
extension Gateway {
    static let protectedResourcePath = "/.well-known/oauth-protected-resource"

    /// The resource tokens must be issued for: `auth.resource`, else the public URL.
    func resource(for policy: Policy) -> String {
        policy.auth.resource ?? publicURL(for: policy)
    }

    /// `GET /.well-known/oauth-protected-resource` and the same with an endpoint's path after it.
    func addProtectedResourceRoutes(to router: Router<GatewayContext>) {
        let answer: @Sendable (Request, GatewayContext) throws -> Response = { _, _ in
            guard let policy = self.store.policy, !policy.auth.issuers.isEmpty else { throw GatewayError.notFound() }
            let scopes = policy.auth.issuers.flatMap(\.scopes).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            return Response.json([
                "resource": .string(self.resource(for: policy)),
                "authorization_servers": .strings(policy.auth.issuers.map(\.issuer)),
                "scopes_supported": .strings(scopes),
                "bearer_methods_supported": ["header"],
            ])
        }
        router.get(RouterPath(Self.protectedResourcePath), use: answer)
        router.get(RouterPath(Self.protectedResourcePath + "/**"), use: answer)
    }

    /// The `WWW-Authenticate` of a 401 for a request to `path`: with `auth.oidc`, where the
    /// metadata is, and `error="invalid_token"` when a token was sent; of a 403 for a token that
    /// lacks `scope`, `error="insufficient_scope"` naming it.
    func challenge(_ policy: Policy?, path: String, tokenSent: Bool, scope: String? = nil) -> String {
        guard let policy, !policy.auth.issuers.isEmpty else { return "Bearer realm=\"orch\"" }
        let endpoint = path.hasSuffix("/mcp") || path.hasSuffix("/sse") ? path : ""
        var value = "Bearer realm=\"orch\", resource_metadata=\"\(publicURL(for: policy))\(Self.protectedResourcePath)\(endpoint)\""
        if let scope {
            value += ", error=\"insufficient_scope\", scope=\"\(scope)\""
        } else if tokenSent {
            value += ", error=\"invalid_token\""
        }
        return value
    }
}
