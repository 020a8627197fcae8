import Foundation
import Logging
import NIOCore
import NIOExtras
import NIOPosix
import OrchPolicy
import Synchronization

/// How long a stopping server gets at each step: after its stdin closes, then after SIGTERM to its
/// process group; then the group gets SIGKILL.
struct StopGrace: Sendable {
    var afterClose: Duration = .seconds(1)
    var afterTerm: Duration = .seconds(2)
}

/// One MCP server process for one session: newline-delimited JSON on its stdin and stdout, its
/// stderr logged with the server's name. Both pipes are NIO channels on the shared event loops, so
/// a session costs no thread. Started with the server's own env plus a minimal PATH/HOME, never
/// the gateway's other variables.
final class StdioUpstream: Upstream {
    static let maxLineBytes = 16 << 20
    /// Bytes written to stdin that the process has not taken yet, past which it is judged not to
    /// read its input and the session ends.
    static let maxUnreadInput = 32 << 20

    let label: String
    private let child: ChildProcess
    private let channel: any Channel
    private let stderrChannel: any Channel
    private let sink: EventSink
    private let grace: StopGrace
    private let unreadInput = Atomic<Int>(0)
    private let stopping = Mutex<StopState>(.running)

    private enum StopState {
        case running
        case stopping([CheckedContinuation<Void, Never>])
        case stopped
    }

    private init(label: String, child: ChildProcess, channel: any Channel, stderrChannel: any Channel, sink: EventSink, grace: StopGrace) {
        self.label = label
        self.child = child
        self.channel = channel
        self.stderrChannel = stderrChannel
        self.sink = sink
        self.grace = grace
    }

    var pid: Int32? { child.pid }

    /// Starts the server. Its output is not read until `start`.
    static func launch(
        command: String, args: [String], env: [NameValue], cwd: String?, label: String, logger: Logger, grace: StopGrace = StopGrace(),
        eventLoop loop: any EventLoop
    ) async throws(UpstreamError) -> StdioUpstream {
        let gatewayEnvironment = ProcessInfo.processInfo.environment
        var environment: [String: String] = [:]
        for name in ["PATH", "HOME"] { environment[name] = gatewayEnvironment[name] }
        for pair in env { environment[pair.name] = pair.value }
        let executable = try ChildProcess.resolve(command, path: environment["PATH"] ?? "/usr/bin:/bin")
        let child = try ChildProcess.spawn(executable: executable, arguments: args, environment: environment, cwd: cwd)

        let sink = EventSink()
        do {
            let channel = try await NIOPipeBootstrap(group: loop)
                .channelOption(.autoRead, value: false)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: maxLineBytes))
                        try channel.pipeline.syncOperations.addHandler(MessageHandler(sink: sink))
                    }
                }
                .takingOwnershipOfDescriptors(input: child.stdout, output: child.stdin).get()
            let stderrChannel = try await NIOPipeBootstrap(group: loop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(StderrLogHandler(label: label, logger: logger))
                    }
                }
                .takingOwnershipOfDescriptor(input: child.stderr).get()
            return StdioUpstream(label: label, child: child, channel: channel, stderrChannel: stderrChannel, sink: sink, grace: grace)
        } catch {
            child.signalGroup(SIGKILL)
            _ = child.reap()
            throw .couldNotStart("cannot attach to the process's pipes: \(error)")
        }
    }

    func start(_ events: UpstreamEvents) {
        sink.set(events)
        channel.setOption(.autoRead, value: true).whenFailure { [sink] _ in sink.closed(.exited()) }
    }

    /// Writes one message as one line. Newlines can only be whitespace in JSON text (inside strings
    /// they are escaped), so turning them into spaces keeps every other byte as the client sent it.
    func send(_ message: [UInt8]) {
        var buffer = channel.allocator.buffer(capacity: message.count + 1)
        if message.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
            buffer.writeBytes(message.lazy.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 })
        } else {
            buffer.writeBytes(message)
        }
        buffer.writeInteger(UInt8(0x0A))
        let size = buffer.readableBytes
        if unreadInput.add(size, ordering: .relaxed).newValue > Self.maxUnreadInput {
            sink.closed(.flooded("the server does not read its input (more than \(Self.maxUnreadInput >> 20) MiB waiting)"))
            return
        }
        channel.writeAndFlush(buffer).whenComplete { _ in self.unreadInput.subtract(size, ordering: .relaxed) }
    }

    func setReading(_ on: Bool) {
        channel.setOption(.autoRead, value: on).whenFailure { _ in }
    }

    /// Stops the process group: close stdin, SIGTERM, SIGKILL, with the grace periods between.
    func stop() async {
        let first = stopping.withLock { state -> Bool in
            guard case .running = state else { return false }
            state = .stopping([])
            return true
        }
        if !first {
            await waitUntilStopped()
            return
        }
        sink.silence()
        try? await channel.close(mode: .output).get()
        var exited = await poll(for: grace.afterClose) { child.reap() && !child.groupIsAlive }
        if !exited {
            child.signalGroup(SIGTERM)
            exited = await poll(for: grace.afterTerm) { child.reap() && !child.groupIsAlive }
        }
        if !exited {
            child.signalGroup(SIGKILL)
            _ = await poll(for: .seconds(2)) { child.reap() }
        }
        try? await channel.close().get()
        try? await stderrChannel.close().get()
        let waiters = stopping.withLock { state -> [CheckedContinuation<Void, Never>] in
            defer { state = .stopped }
            if case .stopping(let waiters) = state { return waiters }
            return []
        }
        for waiter in waiters { waiter.resume() }
    }

    private func waitUntilStopped() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = stopping.withLock { state -> Bool in
                if case .stopping(var waiters) = state {
                    waiters.append(waiter)
                    state = .stopping(waiters)
                    return false
                }
                return true
            }
            if done { waiter.resume() }
        }
    }

    /// Checks `condition` every 10 ms for up to `limit`; true once it holds.
    private func poll(for limit: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }
}

/// Passes each line of the server's stdout on; ends the upstream on EOF, a broken line or a line
/// over the limit.
private final class MessageHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let sink: EventSink

    init(sink: EventSink) { self.sink = sink }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        guard line.readableBytes > 0 else { return }
        sink.receive(Array(line.readableBytesView))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is ByteToMessageDecoderError.PayloadTooLargeError {
            sink.closed(.flooded("the server sent a message over \(StdioUpstream.maxLineBytes >> 20) MiB"))
        } else if error is NIOExtrasErrors.LeftOverBytesError {
            sink.closed(.exited("the server closed its output in the middle of a message"))
        } else {
            sink.closed(.exited("the server's output failed: \(error)"))
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        sink.closed(.exited())
        context.fireChannelInactive()
    }
}

/// Logs the server's stderr a line at a time, cutting lines at 8 KiB so a chatty server can
/// neither grow the gateway's memory nor block on a full pipe.
private final class StderrLogHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    static let maxLine = 8 * 1024
    let label: String
    let logger: Logger
    private var pending: [UInt8] = []

    init(label: String, logger: Logger) {
        self.label = label
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        while let byte = buffer.readInteger(as: UInt8.self) {
            if byte == 0x0A {
                flush()
            } else if pending.count < Self.maxLine {
                pending.append(byte)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        flush()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func flush() {
        guard !pending.isEmpty else { return }
        logger.info("\(String(decoding: pending, as: UTF8.self))", metadata: ["server": "\(label)"])
        pending.removeAll(keepingCapacity: true)
    }
}
