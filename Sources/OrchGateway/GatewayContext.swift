public import Foundation
public import Hummingbird
public import NIOCore
public import OrchPolicy

/// Who is calling, once authenticated: the policy snapshot that authenticated them (used for the
/// whole request, so a reload mid-request changes nothing for it), their user, and the key or
/// single sign-on token they showed.
public struct Caller: Sendable {
    public let policy: Policy
    public let user: UserID
    /// The key, when the caller showed one; a token's caller has no key scope.
    public let key: KeyID?
    public let credential: Credential
    /// When a token's caller stops being one (`exp`); nil for a key, whose expiry is the policy's.
    public let expires: Date?

    public init(policy: Policy, user: UserID, key: KeyID) {
        self.policy = policy
        self.user = user
        self.key = key
        self.credential = .key(policy.key(key).spec.hash)
        self.expires = nil
    }

    public init(policy: Policy, user: UserID, issuer: String, subject: String, claim: String, expires: Date) {
        self.policy = policy
        self.user = user
        self.key = nil
        self.credential = .token(issuer: issuer, subject: subject, claim: claim)
        self.expires = expires
    }

    public var userName: String { policy.user(user).name }
    /// The key's id, for a key's caller.
    public var keyName: String? { key.map { policy.key($0).spec.id } }
    /// How the caller signed in, for messages: `key ID` or `ISSUER sign-in`.
    public var signIn: String { keyName.map { "key \($0)" } ?? "\(credential.issuer ?? "") sign-in" }

    /// The servers of the caller's orgs its key may connect to at `now`.
    func reachableServers(at now: Date) -> [ServerID] {
        policy.user(user).memberships.flatMap { policy.org($0.org).servers }.filter { server in
            policy.decide(user: user, server: server, tool: nil, key: key, at: now).allowed
        }
    }
}

public struct GatewayContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var caller: Caller?
    /// Set by `AuthMiddleware` on an MCP POST over `perUser.requestsPerMinute`: the endpoint
    /// answers it with the JSON-RPC error once it has read the message's id.
    var limited: Limiter.Refusal?
    /// The connection, so that long-lived streams notice at once when the client goes away.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The peer's address, for the audit log. Formatted when asked for, since few requests are
    /// audited.
    public var remote: String {
        channel.remoteAddress.flatMap { address in
            address.ipAddress.map { ip in address.port.map { "\(ip):\($0)" } ?? ip }
        } ?? "-"
    }

    /// The caller, set by `AuthMiddleware` on every authenticated route.
    public func requireCaller() throws -> Caller {
        guard let caller else { throw GatewayError.unauthorized("missing bearer token") }
        return caller
    }
}
