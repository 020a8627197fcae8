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

    public static func read(_ path: String) throws(PolicyFileError) -> [UInt8] {
        // Straight into one array: a large file is read on every check and reload.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PolicyFileError(path: path, reason: errno == ENOENT ? "no such file" : "cannot be read") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw PolicyFileError(path: path, reason: "cannot be read") }
        var bytes: [UInt8] = []
        var capacity = max(Int(info.st_size), 0) + 1  // one byte more: the end shows in the same read
        while true {
            var status = 0
            let chunk = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
                status = Glibc.read(fd, buffer.baseAddress, capacity)
                count = max(status, 0)
            }
            if status < 0 {
                if errno == EINTR { continue }
                throw PolicyFileError(path: path, reason: "cannot be read")
            }
            if chunk.isEmpty { break }
            if bytes.isEmpty { bytes = chunk } else { bytes += chunk }
            capacity = 1 << 16
        }
        return bytes
    }
}
