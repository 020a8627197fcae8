import AsyncHTTPClient
import Logging
import NIOCore
import NIOPosix
import OrchPolicy

/// A caller's connected account as an upstream uses it: the token for each request, and whether
/// the stored account works now.
struct UpstreamAccount: Sendable {
    let credential: UpstreamCredential
    let usable: @Sendable () -> Result<Void, AccountRefusal>
}

/// Starts upstreams: a server's process, or a connection to its remote URL.
struct UpstreamFactory: Sendable {
    let logger: Logger
    let metrics: GatewayMetrics
    var grace = StopGrace()

    /// The gateway's own HTTP client for remote servers: redirects are never followed (a redirect
    /// would carry the server's configured secret headers to wherever it points), connecting is
    /// bounded and not retried (a server that refuses the connection is a 502 at once, not a
    /// timeout), and reads are bounded by each request's deadline instead.
    static let remoteClient: HTTPClient = {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: nil))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
    }()

    /// `eventLoop`: where a stdio server's pipes live (the HTTP connection's loop that opened the
    /// session, so its requests and its pipes share a thread); any loop when nil.
    /// `account`: the caller's connected account, for an `oauth` server (which is never reached
    /// without one); while no token can be had for it, the gateway answers in the server's place
    /// (`AccountUpstream`), or with `waits` false the upstream fails with why.
    func make(
        _ spec: ServerSpec, label: String, eventLoop: (any EventLoop)? = nil, account: UpstreamAccount? = nil, waits: Bool = true
    ) async throws(UpstreamError) -> any Upstream {
        switch spec.transport {
        case .stdio(let command, let args, let env, let cwd):
            do {
                return try await StdioUpstream.launch(command: command, args: args, env: env, cwd: cwd, label: label, logger: logger, grace: grace,
                                                   eventLoop: eventLoop ?? MultiThreadedEventLoopGroup.singleton.next())
            } catch {
                logger.error("cannot start \(label): \(error.detail)")
                metrics.upstreamFailure(server: label, reason: error)
                throw error
            }
        case .remote(let url, let kind, let headers):
            let logger = self.logger
            let remote = { @Sendable in
                RemoteUpstream(url: url, kind: kind, headers: headers, label: label, logger: logger, client: Self.remoteClient, credential: account?.credential)
            }
            guard spec.oauth != nil else { return remote() }
            guard let account else { throw .refused("\(label) takes each user's connected account, and connected accounts are off") }
            // A token now (refreshed if it must be), or the gateway answers in the server's place.
            if case .failure(let refusal) = await account.credential.token(nil) {
                guard waits else { throw .notConnected(refusal) }
                return AccountUpstream(label: label, usable: account.usable, makeRemote: remote)
            }
            return remote()
        }
    }
}
