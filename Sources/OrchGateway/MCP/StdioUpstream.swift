import Foundation
import Logging
import OrchPolicy
import Synchronization

/// One MCP server process for one session: newline-delimited JSON on its stdin and stdout, its
/// stderr logged with the server's name. Started with the server's own env plus a minimal
/// PATH/HOME, never the gateway's other variables.
final class StdioUpstream: Upstream {
    static let maxLineBytes = 16 << 20

    let messages: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let process: Process
    private let stdin: FileHandle
    private let writes = DispatchQueue(label: "orch.stdio.write")
    private let stopped = Atomic<Bool>(false)
    /// Lines waiting on the write queue.
    private let queuedWrites = Mutex<Int>(0)
    let label: String

    init(command: String, args: [String], env: [NameValue], cwd: String?, label: String, logger: Logger) throws {
        self.label = label
        let gatewayEnvironment = ProcessInfo.processInfo.environment
        var environment: [String: String] = [:]
        for name in ["PATH", "HOME"] { environment[name] = gatewayEnvironment[name] }
        for pair in env { environment[pair.name] = pair.value }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.resolve(command, path: environment["PATH"] ?? "/usr/bin:/bin"))
        process.arguments = args
        process.environment = environment
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        (messages, continuation) = AsyncStream.makeStream(of: [UInt8].self, bufferingPolicy: .unbounded)
        self.process = process
        self.stdin = input.fileHandleForWriting
        let writeEnd = input.fileHandleForWriting.fileDescriptor
        _ = fcntl(writeEnd, F_SETFL, fcntl(writeEnd, F_GETFL) | O_NONBLOCK)
        // A server that exits must not kill the gateway with SIGPIPE on the next write.
        signal(SIGPIPE, SIG_IGN)
        let continuation = self.continuation
        process.terminationHandler = { _ in continuation.finish() }
        try process.run()

        let readStdout = Thread {
            var reader = LineReader(handle: output.fileHandleForReading, maxLine: Self.maxLineBytes)
            while let line = reader.next() {
                if line.isEmpty { continue }
                continuation.yield(line)
            }
            if reader.overflowed { logger.error("\(label): a message over \(Self.maxLineBytes) bytes; stopping the server") }
            continuation.finish()
        }
        readStdout.start()
        let readStderr = Thread {
            var reader = LineReader(handle: errors.fileHandleForReading, maxLine: 64 * 1024)
            while let line = reader.next() {
                logger.info("\(String(decoding: line, as: UTF8.self))", metadata: ["server": "\(label)"])
            }
        }
        readStderr.start()
    }

    /// The absolute path of `command`, searched in `path` when it has no slash.
    static func resolve(_ command: String, path: String) throws -> String {
        if command.contains("/") { return command }
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/\(command)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw GatewayError.upstreamUnavailable("command \(command) not found")
    }

    /// Writes one message as one line. Newlines can only be whitespace in JSON text (inside strings
    /// they are escaped), so turning them into spaces keeps every other byte as the client sent it.
    ///
    /// The pipe is non-blocking: a message that fits goes straight in from the calling task (no
    /// thread hop on the request path); when the pipe is full, or earlier writes are still
    /// queued, it waits its turn on the upstream's write queue.
    func send(_ message: [UInt8]) async {
        let line = message.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 } + [0x0A]
        let fd = stdin.fileDescriptor
        // Under the lock: either the pipe takes the whole line now, or the rest joins the queue
        // before anyone else may write, so lines never interleave.
        let rest: [UInt8]? = queuedWrites.withLock { queued in
            var offset = 0
            if queued == 0 {
                offset = line.withUnsafeBytes { buffer in
                    var offset = 0
                    while offset < buffer.count {
                        let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                        if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { break }
                    }
                    return offset
                }
            }
            if offset == line.count { return nil }
            queued += 1
            return Array(line[offset...])
        }
        guard let rest else { return }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            writes.async {
                rest.withUnsafeBytes { buffer in
                    var offset = 0
                    while offset < buffer.count {
                        let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                        if n > 0 {
                            offset += n
                        } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                            _ = poll(&descriptor, 1, 1000)
                        } else {
                            break  // the process is gone; its session ends when its stdout closes
                        }
                    }
                }
                self.queuedWrites.withLock { $0 -= 1 }
                done.resume()
            }
        }
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32? { process.processIdentifier }

    /// Stops the process: close stdin, then SIGTERM, then SIGKILL, a second apart.
    func stop() async {
        guard !stopped.exchange(true, ordering: .relaxed) else {
            // Someone else is stopping it: wait for the same outcome.
            for _ in 0..<70 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
            return
        }
        try? stdin.close()
        for signal in [SIGTERM, SIGKILL] {
            for _ in 0..<20 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
            if process.isRunning { kill(process.processIdentifier, signal) }
        }
        for _ in 0..<20 where process.isRunning { try? await Task.sleep(for: .milliseconds(50)) }
        continuation.finish()
    }
}

/// Splits a pipe into lines without holding more than `maxLine` bytes of one.
struct LineReader {
    let handle: FileHandle
    let maxLine: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private(set) var overflowed = false
    private var eof = false

    init(handle: FileHandle, maxLine: Int) {
        self.handle = handle
        self.maxLine = maxLine
    }

    mutating func next() -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = Array(buffer[start..<newline])
                start = newline + 1
                if start > 65536 { buffer.removeFirst(start); start = 0 }
                return line
            }
            if buffer.count - start > maxLine {
                overflowed = true
                return nil
            }
            if eof {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty { eof = true } else { buffer.append(contentsOf: chunk) }
        }
    }
}
