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
/// address holds at most `maxConnectionsPerClient` connections (more are closed at once), and
/// what the gateway waits for must arrive in time (`ConnectionDeadlines`): a request head within
/// `requestHeadSeconds` when no request is in progress, a body at 1 KiB/s or faster after that
/// grace and in full within 60 s, and some byte every 5 s while a first head or a body is awaited
/// (told by the `IdleStateHandler` in front of the HTTP codec, which sees every byte). So neither
/// idle sockets nor slowly dribbled heads or bodies (slowloris) can hold a connection for long. A
/// request whose body has arrived, a long SSE stream included, is never cut.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let gateway: Gateway
    private let address: String?
    private var deadlines: ConnectionDeadlines?
    /// The one timer that enforces `deadlines`.
    private var timer: Scheduled<Void>?
    /// When `timer` fires.
    private var timerDue: NIODeadline?

    init(gateway: Gateway, remote: SocketAddress?) {
        self.gateway = gateway
        self.address = remote?.ipAddress
    }

    /// The rules of the running policy.
    static func rules(_ limits: Limits) -> ConnectionDeadlines.Rules {
        ConnectionDeadlines.Rules(headSeconds: Int64(limits.requestHeadSeconds))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard deadlines == nil else { return }
        let limits = gateway.store.policy?.settings.limits ?? Limits()
        deadlines = ConnectionDeadlines(rules: Self.rules(limits), connectedAt: .now())
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
        schedule(context)
    }

    /// A busy connection reads and ends requests many times a second: rather than moving the timer
    /// each time, it fires when it was due (or sooner, when a sooner deadline comes into force) and
    /// then looks at what is due now.
    private func schedule(_ context: ChannelHandlerContext) {
        guard let next = deadlines?.next?.deadline else { return }
        if let timerDue, timerDue <= next { return }
        timer?.cancel()
        timerDue = next
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: next) { [self] in
            timer = nil
            timerDue = nil
            let now = NIODeadline.now()
            if let lapse = deadlines?.lapsed(at: now) {
                close(context, lapse)
            } else {
                schedule(context)
            }
        }
    }

    private func close(_ context: ChannelHandlerContext, _ lapse: ConnectionDeadlines.Lapse) {
        gateway.metrics.connectionRefused(lapse.rawValue)
        context.channel.close(promise: nil)
    }

    /// The channel closed (its pipeline is torn down): no deadline is left behind.
    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        timerDue = nil
        deadlines = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadlines?.head(at: .now())
            schedule(context)
        case .body(let bytes):
            deadlines?.bodyBytes(bytes.readableBytes)
        case .end:
            deadlines?.bodyEnded()
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case IdleStateHandler.IdleStateEvent.read = event {
            if deadlines?.closesWhenSilent == true { close(context, .silence) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), context.channel.isActive {
            deadlines?.responseEnded(at: .now())
            schedule(context)
        }
        context.write(data, promise: promise)
    }
}
