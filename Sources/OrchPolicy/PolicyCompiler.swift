public import Foundation
import Glibc
import OrchJSON

/// What a compile needs from the outside world, so that tests can pin it.
public struct CompileOptions: Sendable {
    /// Values for `${env:NAME}`.
    public var environment: [String: String]
    /// The clock for expiry warnings (tests in the file carry their own `at`).
    public var now: Date
    /// Warnings become errors.
    public var strict: Bool

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, now: Date = Date(), strict: Bool = false) {
        self.environment = environment
        self.now = now
        self.strict = strict
    }
}

/// The outcome of a compile: a policy when there are no errors, and every diagnostic.
public struct CompileResult: Sendable {
    public let policy: Policy?
    public let diagnostics: [Diagnostic]
    public let digest: String

    public var ok: Bool { policy != nil }
    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
}

/// orch.json bytes → `Policy`. `orch check` and the gateway's reload run exactly this function.
public enum PolicyCompiler {
    /// `digest`, when the caller has hashed the bytes already (a reload, to see whether they
    /// changed), is used as it is.
    public static func compile(_ bytes: [UInt8], digest: String? = nil, options: CompileOptions = CompileOptions()) -> CompileResult {
        // The digest is worked out beside the parse (a large file takes milliseconds to hash).
        let hashing = Background { digest ?? Token.digest(of: bytes) }
        let decoded = JSONNode.parse(bytes) { root in
            var decoder = DocumentDecoder(environment: options.environment)
            let document = decoder.decode(root)
            return (document, decoder)
        }
        let document: Document, decoder: DocumentDecoder
        switch decoded {
        case .success(let result):
            (document, decoder) = result
        case .failure(let error):
            let message = JSONMistakes.explain(bytes, line: error.line, column: error.column) ?? error.message
            let d = Diagnostic(.error, path: "", line: error.line, column: error.column, message: message)
            return CompileResult(policy: nil, diagnostics: [d], digest: hashing.value)
        }
        var linker = PolicyLinker(document: document, digest: hashing.value, log: decoder.log, now: options.now, brokenServers: decoder.brokenServers)
        let policy = linker.link()
        // Errors in the order they were found (shape, then references, then tests), then warnings.
        var diagnostics = linker.log.all.filter { $0.severity == .error } + linker.log.all.filter { $0.severity == .warning }
        if options.strict {
            diagnostics = diagnostics.map { var d = $0; d.severity = .error; return d }
        }
        // Each problem with a path gets its place in the file (read again only when there is one).
        if diagnostics.contains(where: { $0.line == nil && !$0.path.isEmpty }) {
            let positions = PathPositions(bytes)
            diagnostics = diagnostics.map { $0.located(in: positions) }
        }
        let failed = diagnostics.contains { $0.severity == .error }
        return CompileResult(policy: failed ? nil : policy, diagnostics: diagnostics, digest: hashing.value)
    }

    /// Reads and compiles a file. A file that cannot be read is an error of its own kind, kept apart
    /// from an invalid file.
    public static func compile(file path: String, options: CompileOptions = CompileOptions()) throws(PolicyFileError) -> CompileResult {
        compile(try PolicyFileError.read(path), options: options)
    }
}

/// orch.json could not be read at all (as opposed to read and found invalid).
public struct PolicyFileError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }

    /// The bytes of orch.json (or another file the commands and the gateway read whole): a
    /// regular file of at most `limit` bytes (JSON's own size limit). A FIFO, a device or a
    /// directory is refused without blocking, and nothing past the limit is read.
    public static func read(_ path: String) throws(PolicyFileError) -> [UInt8] {
        try read(path, limit: JSONParseLimits().maxBytes)
    }

    /// The bytes of a regular file of at most `limit` bytes.
    public static func read(_ path: String, limit: Int) throws(PolicyFileError) -> [UInt8] {
        // O_NONBLOCK: opening a FIFO with no writer must not wait; it changes nothing for a
        // regular file.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw PolicyFileError(path: path, reason: errno == ENOENT ? "no such file" : "cannot be read") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw PolicyFileError(path: path, reason: "cannot be read") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw PolicyFileError(path: path, reason: "is \(Self.kind(info.st_mode)), not a regular file: only a regular file (or a symlink to one) is read")
        }
        guard info.st_size <= limit else { throw PolicyFileError(path: path, reason: Self.tooLarge(limit)) }
        var bytes: [UInt8] = []
        var capacity = max(Int(info.st_size), 0) + 1  // one byte more: the end shows in the same read
        while true {
            var status = 0
            let room = min(capacity, limit + 1 - bytes.count)
            let chunk = [UInt8](unsafeUninitializedCapacity: room) { buffer, count in
                status = Glibc.read(fd, buffer.baseAddress, room)
                count = max(status, 0)
            }
            if status < 0 {
                if errno == EINTR { continue }
                throw PolicyFileError(path: path, reason: "cannot be read")
            }
            if chunk.isEmpty { break }
            if bytes.isEmpty { bytes = chunk } else { bytes += chunk }
            // A file that grows while it is read stops at the limit.
            if bytes.count > limit { throw PolicyFileError(path: path, reason: Self.tooLarge(limit)) }
            capacity = 1 << 16
        }
        return bytes
    }

    static func tooLarge(_ limit: Int) -> String {
        limit % (1 << 20) == 0 ? "is larger than \(limit >> 20) MiB" : "is larger than \(limit) bytes"
    }

    static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFIFO: "a FIFO"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFDIR: "a directory"
        case S_IFSOCK: "a socket"
        default: "a special file"
        }
    }
}
