public import Foundation
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
    public static func compile(_ bytes: [UInt8], options: CompileOptions = CompileOptions()) -> CompileResult {
        let digest = Token.digest(of: bytes)
        let root: JSONValue
        do {
            root = try JSONValue.parse(bytes)
        } catch {
            let d = Diagnostic(.error, path: "", line: error.line, column: error.column, message: error.message)
            return CompileResult(policy: nil, diagnostics: [d], digest: digest)
        }
        var decoder = DocumentDecoder(environment: options.environment)
        let document = decoder.decode(root)
        var linker = PolicyLinker(document: document, digest: digest, log: decoder.log, now: options.now, brokenServers: decoder.brokenServers)
        let policy = linker.link()
        var diagnostics = linker.log.all
        if options.strict {
            diagnostics = diagnostics.map { var d = $0; d.severity = .error; return d }
        }
        let failed = diagnostics.contains { $0.severity == .error }
        return CompileResult(policy: failed ? nil : policy, diagnostics: diagnostics, digest: digest)
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
        guard FileManager.default.fileExists(atPath: path) else { throw PolicyFileError(path: path, reason: "no such file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PolicyFileError(path: path, reason: "cannot be read")
        }
        return [UInt8](data)
    }
}
