public import OrchJSON

/// One problem found in an orch.json, as data. Rendered in one place for the CLI, `--json` and the
/// gateway's `/api/v1/policy`.
public struct Diagnostic: Sendable, Hashable {
    public enum Severity: String, Sendable, Hashable {
        case error
        case warning
    }

    public var severity: Severity
    /// Dotted path with `[i]` for array items (`users.bob.keys[0].sha256`); empty for the whole file.
    public var path: String
    /// Where in the file: for a syntax error, where the parser stopped; for any other problem with
    /// a path, the place of that path (a member's key, an item's start), found after compiling.
    public var line: Int?
    public var column: Int?
    public var message: String

    public init(_ severity: Severity, path: String, line: Int? = nil, column: Int? = nil, message: String) {
        self.severity = severity
        self.path = path
        self.line = line
        self.column = column
        self.message = message
    }

    /// `FILE:LINE:COL: error: PATH: message` (`FILE:LINE:COL: error: message` for a syntax error),
    /// `FILE: error: message` for a problem of the whole file.
    public func rendered(file: String) -> String {
        if let line, let column {
            return "\(file):\(line):\(column): \(severity.rawValue): " + (path.isEmpty ? "" : "\(path): ") + message
        }
        if path.isEmpty {
            return "\(file): \(severity.rawValue): \(message)"
        }
        return "\(file): \(severity.rawValue): \(path): \(message)"
    }

    /// `{"severity","path","line","column","message"}`.
    public var json: JSONValue {
        [
            "severity": .string(severity.rawValue),
            "path": .string(path),
            "line": line.map { .integer(Int64($0)) } ?? .null,
            "column": column.map { .integer(Int64($0)) } ?? .null,
            "message": .string(message),
        ]
    }
}

/// Collects diagnostics while a document is decoded and compiled, so that every problem is
/// reported, not only the first.
struct DiagnosticLog {
    private(set) var all: [Diagnostic] = []

    var hasErrors: Bool { all.contains { $0.severity == .error } }

    mutating func error(_ path: String, _ message: String) {
        all.append(Diagnostic(.error, path: path, message: message))
    }

    mutating func warning(_ path: String, _ message: String) {
        all.append(Diagnostic(.warning, path: path, message: message))
    }

    mutating func append(_ diagnostic: Diagnostic) {
        all.append(diagnostic)
    }

    mutating func append(contentsOf other: DiagnosticLog) {
        all += other.all
    }
}
