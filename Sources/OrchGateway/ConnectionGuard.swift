import NIOCore
import NIOHTTPTypes
import OrchPolicy
import Synchronization

/// Open connections per client address, for `maxConnectionsPerClient`.
final class ClientConnections: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    /// Counts a new connection from `address`; false (and not counted) past `limit`.
    func open(_ address: String, limit: Int) -> Bool {
        counts.withLock { counts in
            let held = counts[address, default: 0]
            guard held < limit else { return false }
            counts[address] = held + 1
            return true
        }
    }

    func close(_ address: String) {
        counts.withLock { counts in
            let held = counts[address, default: 1] - 1
            counts[address] = held > 0 ? held : nil
        }
    }

    func count(_ address: String) -> Int { counts.withLock { $0[address, default: 0] } }
}

/// Keeps sockets that send nothing useful from holding the gateway's connections: a client
/// address holds at most `maxConnectionsPerClient` connections (more are closed at once), and a
/// new connection must deliver a complete request head within `firstRequestSeconds`, so neither
/// idle sockets nor a slowly dribbled head (slowloris) can hold a connection for long.
final class ConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let gateway: Gateway
    private let address: String?
    private var counted = false
    private var firstRequest: Scheduled<Void>?

    init(gateway: Gateway, remote: SocketAddress?) {
        self.gateway = gateway
        self.address = remote?.ipAddress
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard !counted, firstRequest == nil else { return }
        let limits = gateway.store.policy?.settings.limits ?? Limits()
        if let address {
            guard gateway.connections.open(address, limit: limits.maxConnectionsPerClient) else {
                gateway.metrics.connectionRefused("per_client")
                context.close(promise: nil)
                return
            }
            counted = true
        }
        let gateway = self.gateway
        let channel = context.channel
        let timer = context.eventLoop.scheduleTask(in: .seconds(Int64(limits.firstRequestSeconds))) {
            gateway.metrics.connectionRefused("first_request_timeout")
            channel.close(promise: nil)
        }
        firstRequest = timer
        // The close future, not channelInactive: a handler before this one may not pass that on.
        let counted = self.counted, address = self.address
        channel.closeFuture.whenComplete { _ in
            timer.cancel()
            if counted, let address { gateway.connections.close(address) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data), let timer = firstRequest {
            timer.cancel()
            firstRequest = nil
        }
        context.fireChannelRead(data)
    }

}
