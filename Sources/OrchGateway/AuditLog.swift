public import Foundation
import Glibc
import OrchJSON
public import OrchPolicy
import Synchronization

/// What an audit record says was done.
public enum AuditDecision: String, Sendable, CaseIterable {
    case allow
    case deny
    /// A changed or new pinned tool or prompt, let through under `gateway.pinning: warn`.
    case warn
    /// A session ended.
    case end
    /// A server left out of an aggregated list because it failed to answer.
    case error
    /// Records not written because a client sent too many refused requests.
    case suppressed
}

/// One audit record: a decision that matters. Never holds a token, hash or secret.
public struct AuditRecord: Sendable {
    public var policy: String?
    public var user: String?
    public var key: String?
    /// The `auth.oidc` issuer of a caller who signed in with a token (for a key's caller, `key`).
    public var issuer: String?
    public var remote: String
    public var org: String?
    public var server: String?
    public var session: String?
    public var method: String
    /// The tool of a tool decision (also in `kind` and `target`).
    public var tool: String?
    /// `tool`, `prompt` or `resource`, for a decision on one item.
    public var kind: String?
    /// The item decided on: a tool or prompt name, a resource URI.
    public var target: String?
    public var decision: AuditDecision
    public var reason: String
    public var status: Int
    public var ms: Double

    public init(
        policy: String?, user: String? = nil, key: String? = nil, issuer: String? = nil, remote: String, org: String? = nil,
        server: String? = nil, session: String? = nil, method: String, item: Item? = nil,
        decision: AuditDecision, reason: String, status: Int, ms: Double
    ) {
        self.policy = policy
        self.user = user
        self.key = key
        self.issuer = issuer
        self.remote = remote
        self.org = org
        self.server = server
        self.session = session
        self.method = method
        self.tool = item?.kind == .tool ? item?.name : nil
        self.kind = item?.kind.description
        self.target = item?.name
        self.decision = decision
        self.reason = reason
        self.status = status
        self.ms = ms
    }

    /// The longest a field may be in a record (UTF-8 bytes; the reason may be twice as long).
    /// Paths, origins, server and tool names come from clients: longer ones are cut.
    static let fieldLimit = 256

    /// The record as one JSON line.
    func line(at time: Date) -> [UInt8] {
        let limit = Self.fieldLimit
        var writer = JSONLineWriter()
        writer.string("ts", AuditLog.timestamp(time))
        writer.string("policy", policy)
        writer.string("user", user, limit: limit)
        writer.string("key", key, limit: limit)
        writer.string("issuer", issuer, limit: limit)
        writer.string("remote", remote, limit: limit)
        writer.string("org", org, limit: limit)
        writer.string("server", server, limit: limit)
        writer.string("session", session, limit: limit)
        writer.string("method", method, limit: limit)
        writer.string("tool", tool, limit: limit)
        writer.string("kind", kind, limit: limit)
        writer.string("target", target, limit: limit)
        writer.string("decision", decision.rawValue, limit: limit)
        writer.string("reason", reason, limit: 2 * limit)
        writer.integer("status", Int64(status))
        writer.milliseconds("ms", ms)
        return writer.line()
    }
}

/// Appends one JSON line per record to a file (reopened on SIGHUP, for log rotation) or to stdout.
/// `write` returns once the line is handed to the kernel, so a record exists before its response.
public final class AuditLog: Sendable {
    public let destination: String
    private let fd: Mutex<Int32>
    /// Called after a write fails, with errno and how many writes have failed so far.
    private let failureHandler = Mutex<(@Sendable (Int32, Int) -> Void)?>(nil)
    private let failures = Atomic<Int>(0)

    /// `destination` is `-` for stdout or a file path, created if missing and appended to.
    public init(destination: String) throws {
        self.destination = destination
        fd = Mutex(try AuditLog.open(destination))
    }

    deinit {
        fd.withLock { if $0 > 2 { close($0) } }
    }

    private static func open(_ destination: String) throws -> Int32 {
        if destination == "-" { return STDOUT_FILENO }
        let fd = Glibc.open(destination, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO, userInfo: [NSLocalizedDescriptionKey: "cannot open audit log \(destination)"])
        }
        return fd
    }

    public func write(_ record: AuditRecord, at time: Date = Date()) {
        let line = record.line(at: time)
        let error: Int32? = fd.withLock { fd in
            line.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 { return errno }
                    if n == 0 { return EIO }
                    offset += n
                }
                return nil
            }
        }
        if let error {
            let count = failures.add(1, ordering: .relaxed).newValue
            failureHandler.withLock { $0 }?(error, count)
        }
        feed.append(line)
    }

    /// The latest records and their live tail, for the dashboard's audit page.
    public let feed = AuditFeed()

    /// Audit writes that failed (a full disk, a removed file system).
    public var failedWrites: Int { failures.load(ordering: .relaxed) }

    /// Sets what happens when a write fails: the gateway counts it and logs some.
    public func onFailure(_ handler: @escaping @Sendable (_ errno: Int32, _ count: Int) -> Void) {
        failureHandler.withLock { $0 = handler }
    }

    /// Reopens the file (after logrotate moved it). Keeps writing to the old one if that fails.
    public func reopen() {
        guard destination != "-", let new = try? AuditLog.open(destination) else { return }
        fd.withLock { fd in
            close(fd)
            fd = new
        }
    }

    /// The RFC 3339 time with milliseconds; the part up to the second is formatted once a second.
    static func timestamp(_ date: Date) -> String {
        let milliseconds = Int((date.timeIntervalSince1970 * 1000).rounded(.down))
        let second = milliseconds / 1000
        let base = lastSecond.withLock { cached -> Substring in
            if cached.second != second { cached = (second, Timestamp.format(date).dropLast()) }
            return cached.base
        }
        let millis = milliseconds % 1000
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return base + ".\(ms)Z"
    }

    private static let lastSecond = Mutex<(second: Int, base: Substring)>((-1, ""))
}

/// Bounds the audit records of refused unauthenticated requests (a missing or wrong token, a
/// forbidden origin) per client address, so that nobody without a token can grow the log at will:
/// at most `limit` records per address in each `window`; the rest are counted, and the next
/// window's first record from that address is preceded by one that says how many were left out.
final class AuditThrottle: Sendable {
    private struct Client {
        var windowStart: ContinuousClock.Instant
        var written = 0
        var suppressed = 0
    }

    let limit: Int
    let window: Duration
    /// Addresses tracked at once; past it the table starts afresh (a flood from many addresses
    /// is bounded by the limit times the addresses, which the connection limits bound).
    let capacity: Int
    private let clients = Mutex<[String: Client]>([:])

    init(limit: Int = 20, window: Duration = .seconds(10), capacity: Int = 10_000) {
        self.limit = limit
        self.window = window
        self.capacity = capacity
    }

    enum Verdict: Equatable {
        /// Write the record; first, if `suppressed > 0`, a summary of that many left out.
        case write(suppressed: Int)
        case suppress
    }

    func admit(_ remote: String, now: ContinuousClock.Instant = .now) -> Verdict {
        let address = Self.address(remote)
        return clients.withLock { clients in
            if clients[address] == nil && clients.count >= capacity { clients.removeAll(keepingCapacity: true) }
            var client = clients[address] ?? Client(windowStart: now)
            var carried = 0
            if now - client.windowStart >= window {
                carried = client.suppressed
                client = Client(windowStart: now)
            }
            defer { clients[address] = client }
            guard client.written < limit else {
                client.suppressed += 1
                return .suppress
            }
            client.written += 1
            return .write(suppressed: carried)
        }
    }

    /// The address part of `HOST:PORT` (IPv6 addresses hold colons of their own).
    static func address(_ remote: String) -> String {
        guard let colon = remote.lastIndex(of: ":") else { return remote }
        return String(remote[..<colon])
    }
}

/// The last records written (JSON lines, newest last) and whoever follows new ones: what the
/// dashboard shows of the audit log without reading the file back. Bounded; a follower that does
/// not keep up loses records rather than holding the writer.
public final class AuditFeed: Sendable {
    private struct State {
        var lines: [[UInt8]] = []
        var start = 0
        var followers: [Int: AsyncStream<[UInt8]>.Continuation] = [:]
        var nextFollower = 0
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int = 1000) {
        self.capacity = capacity
    }

    func append(_ line: [UInt8]) {
        let followers = state.withLock { state -> [AsyncStream<[UInt8]>.Continuation] in
            if state.lines.count < capacity {
                state.lines.append(line)
            } else {
                state.lines[state.start] = line
                state.start = (state.start + 1) % capacity
            }
            return Array(state.followers.values)
        }
        for follower in followers { follower.yield(line) }
    }

    /// The records kept, oldest first.
    public var recent: [[UInt8]] {
        state.withLock { Array($0.lines[$0.start...] + $0.lines[..<$0.start]) }
    }

    /// Ends every follower's stream (at shutdown, so that no live tail holds the server open).
    public func finishAll() {
        let followers = state.withLock { state -> [AsyncStream<[UInt8]>.Continuation] in
            defer { state.followers = [:] }
            return Array(state.followers.values)
        }
        for follower in followers { follower.finish() }
    }

    /// New records as they are written, until the stream is dropped.
    public func follow() -> AsyncStream<[UInt8]> {
        let (stream, continuation) = AsyncStream<[UInt8]>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let id = state.withLock { state -> Int in
            state.nextFollower += 1
            state.followers[state.nextFollower] = continuation
            return state.nextFollower
        }
        continuation.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.followers.removeValue(forKey: id) } }
        return stream
    }
}
