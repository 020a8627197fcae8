public import Foundation
import Glibc
import OrchJSON
public import OrchPolicy
import Synchronization

/// One audit record: a decision that matters. Never holds a token, hash or secret.
public struct AuditRecord: Sendable {
    public var policy: String?
    public var user: String?
    public var key: String?
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
    public var decision: String
    public var reason: String
    public var status: Int
    public var ms: Double

    public init(
        policy: String?, user: String? = nil, key: String? = nil, remote: String, org: String? = nil,
        server: String? = nil, session: String? = nil, method: String, item: Item? = nil,
        decision: String, reason: String, status: Int, ms: Double
    ) {
        self.policy = policy
        self.user = user
        self.key = key
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

    /// The record as one JSON line.
    func line(at time: Date) -> [UInt8] {
        var writer = JSONLineWriter()
        writer.string("ts", AuditLog.timestamp(time))
        writer.string("policy", policy)
        writer.string("user", user)
        writer.string("key", key)
        writer.string("remote", remote)
        writer.string("org", org)
        writer.string("server", server)
        writer.string("session", session)
        writer.string("method", method)
        writer.string("tool", tool)
        writer.string("kind", kind)
        writer.string("target", target)
        writer.string("decision", decision)
        writer.string("reason", reason)
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
        fd.withLock { fd in
            line.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    offset += n
                }
            }
        }
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
