import NIOCore
import NIOHTTP1
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
/// connection with no request in progress must deliver a complete request head within
/// `requestHeadSeconds` (of connecting, or of its last response's end), so neither idle sockets
/// nor slowly dribbled heads (slowloris) can hold a connection for long. A request in progress,
/// a long SSE stream included, is never cut.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let gateway: Gateway
    private let address: String?
    private var started = false
    /// Requests whose head arrived and whose response has not ended.
    private var inProgress = 0
    /// When the next request head is due; nil while a request is in progress.
    private var headDue: NIODeadline?
    /// The one timer that enforces `headDue`.
    private var headTimer: Scheduled<Void>?

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
        guard !started else { return }
        started = true
        let limits = gateway.store.policy?.settings.limits ?? Limits()
        var counted = false
        if let address {
            guard gateway.connections.open(address, limit: limits.maxConnectionsPerClient) else {
                gateway.metrics.connectionRefused("per_client")
                context.close(promise: nil)
                return
            }
            counted = true
        }
        let gateway = self.gateway, address = self.address
        // The close future, not channelInactive: a handler after this one does not pass that on.
        context.channel.closeFuture.whenComplete { _ in
            if counted, let address { gateway.connections.close(address) }
        }
        armHeadDeadline(context)
    }

    private func armHeadDeadline(_ context: ChannelHandlerContext) {
        let seconds = gateway.store.policy?.settings.limits.requestHeadSeconds ?? Limits().requestHeadSeconds
        headDue = .now() + .seconds(Int64(seconds))
        if headTimer == nil { scheduleHeadTimer(context) }
    }

    /// A busy connection ends a request many times a second: rather than moving the timer each
    /// time, it fires when it was due and then looks at when the next head is due now.
    private func scheduleHeadTimer(_ context: ChannelHandlerContext) {
        guard let due = headDue else { return }
        headTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: due) { [self] in
            headTimer = nil
            guard let due = headDue else { return }  // a request is in progress
            if NIODeadline.now() >= due {
                gateway.metrics.connectionRefused("request_head_timeout")
                context.channel.close(promise: nil)
            } else {
                scheduleHeadTimer(context)
            }
        }
    }

    /// The channel closed (its pipeline is torn down): no deadline is left behind.
    func handlerRemoved(context: ChannelHandlerContext) {
        headTimer?.cancel()
        headTimer = nil
        headDue = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            inProgress += 1
            headDue = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            inProgress = max(0, inProgress - 1)
            if inProgress == 0 && context.channel.isActive { armHeadDeadline(context) }
        }
        context.write(data, promise: promise)
    }
}
