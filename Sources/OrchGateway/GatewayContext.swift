public import Hummingbird
public import NIOCore
public import OrchPolicy

/// Who is calling, once authenticated: the policy snapshot that authenticated them (used for the
/// whole request, so a reload mid-request changes nothing for it), their user and key.
public struct Caller: Sendable {
    public let policy: Policy
    public let user: UserID
    public let key: KeyID

    public var userName: String { policy.user(user).name }
    public var keyName: String { policy.key(key).spec.id }
}

public struct GatewayContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var caller: Caller?
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
