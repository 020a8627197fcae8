import NIOCore
import NIOPosix

/// Runs a task's jobs on one NIO event loop. An MCP request handler prefers the event loop of its
/// HTTP connection, where its session's stdio pipes also live: the write to the server, the wake-up
/// on its reply and the write of the response then happen on one thread, with no hop between the
/// event loops and the concurrency pool.
final class EventLoopExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

extension EventLoopExecutor {
    /// The loops of the shared event loop group, which serves the gateway's connections.
    private static let sharedLoops: Set<ObjectIdentifier> = Set(MultiThreadedEventLoopGroup.singleton.makeIterator().map { ObjectIdentifier($0) })

    /// `loop` when it is one of the shared group's loops (a live connection); nil otherwise (an
    /// in-memory test channel), when the default executor and any loop serve as well.
    static func shared(_ loop: any EventLoop) -> (any EventLoop)? {
        sharedLoops.contains(ObjectIdentifier(loop)) ? loop : nil
    }

    /// Runs `body` on `loop` when it is a shared loop, else where it is.
    static func run<T: Sendable>(on loop: any EventLoop, _ body: () async throws -> T) async throws -> T {
        guard let loop = shared(loop) else { return try await body() }
        return try await withTaskExecutorPreference(EventLoopExecutor(loop)) { try await body() }
    }
}
