public import Foundation
import Glibc
import OrchJSON
import OrchPolicy
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
    public var tool: String?
    public var decision: String
    public var reason: String
    public var status: Int
    public var ms: Double

    public init(
        policy: String?, user: String? = nil, key: String? = nil, remote: String, org: String? = nil,
        server: String? = nil, session: String? = nil, method: String, tool: String? = nil,
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
        self.tool = tool
        self.decision = decision
        self.reason = reason
        self.status = status
        self.ms = ms
    }

    func json(at time: Date) -> JSONValue {
        [
            "ts": .string(AuditLog.timestamp(time)), "policy": .optional(policy), "user": .optional(user),
            "key": .optional(key), "remote": .string(remote), "org": .optional(org), "server": .optional(server),
            "session": .optional(session), "method": .string(method), "tool": .optional(tool),
            "decision": .string(decision), "reason": .string(reason), "status": .integer(Int64(status)),
            "ms": .real((ms * 1000).rounded() / 1000),
        ]
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
        let line = Array((record.json(at: time).compact(realDigits: 12) + "\n").utf8)
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

    static func timestamp(_ date: Date) -> String {
        let base = Timestamp.format(date)
        let millis = Int((date.timeIntervalSince1970 * 1000).rounded(.down)) % 1000
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return base.dropLast() + ".\(ms)Z"
    }
}
