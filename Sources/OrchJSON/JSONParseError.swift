/// Why a document did not parse, and where: `line` and `column` are 1-based, `column` counts
/// characters, `position` counts bytes from the start.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var position: Int
    public var message: String
    /// The parser met a number it cannot hold (an integer past Int64, a real past Double).
    var isNumberOutOfRange = false

    public init(line: Int, column: Int, position: Int, message: String) {
        self.line = line
        self.column = column
        self.position = position
        self.message = message
    }

    public var description: String { "\(line):\(column): \(message)" }
}

/// Bounds on what a parse will accept, so that no input can make it work or allocate without end.
public struct JSONParseLimits: Sendable, Hashable {
    /// Largest accepted input, in bytes.
    public var maxBytes: Int
    /// Deepest accepted nesting of arrays and objects.
    public var maxDepth: Int
    /// Integers past Int64 and reals past Double are kept as written (`JSONValue.number`) instead
    /// of refused.
    public var exactNumbers: Bool

    public init(maxBytes: Int = 64 << 20, maxDepth: Int = 64, exactNumbers: Bool = false) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.exactNumbers = exactNumbers
    }

    public static let `default` = JSONParseLimits()
}
