/// A JSON document as written: every value with the place it starts, and numbers and strings as
/// their exact text. `JSONValue` keeps what a document means; this keeps how it is written, for
/// the formatter (which must not change `1.0` into `1` or `\u00e9` into `é`) and for finding the
/// line of a diagnostic's path.
///
/// It reads only what a strict parse accepts; callers that need Jansson's exact rules and messages
/// (duplicate keys, invalid UTF-8, number ranges) run `JSONValue.parse` first.
public struct JSONSyntax: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// A string (quotes and escapes included), a number, `true`, `false` or `null`, as written.
        case scalar(String)
        case array([JSONSyntax])
        case object([Member])
    }

    /// One member of an object.
    public struct Member: Sendable, Hashable {
        /// The key as written, quotes and escapes included.
        public let rawKey: String
        /// The key decoded.
        public let key: String
        /// Where the key's opening quote is.
        public let keyPosition: JSONPosition
        public let value: JSONSyntax
    }

    public let kind: Kind
    /// Where the value's first character is.
    public let position: JSONPosition

    /// True for a string, number, `true`, `false` or `null`.
    public var isScalar: Bool {
        if case .scalar = kind { return true }
        return false
    }

    /// Reads one JSON document; `limits.maxDepth` bounds the nesting as in `JSONValue.parse`.
    public static func parse(_ bytes: [UInt8], limits: JSONParseLimits = .default) throws(JSONParseError) -> JSONSyntax {
        var reader = JSONSyntaxReader(bytes: bytes, maxDepth: limits.maxDepth)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        if reader.offset < bytes.count { throw reader.error("end of file expected") }
        return value
    }
}

/// A place in a document's text: 1-based `line`, and 1-based `column` counted in characters
/// (UTF-8 continuation bytes do not advance it), as `JSONParseError` counts them.
public struct JSONPosition: Sendable, Hashable {
    public let line: Int
    public let column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }
}

/// The recursive-descent reader behind `JSONSyntax.parse`.
private struct JSONSyntaxReader {
    let bytes: [UInt8]
    let maxDepth: Int
    var offset = 0
    var line = 1
    var column = 1

    init(bytes: [UInt8], maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    var position: JSONPosition { JSONPosition(line: line, column: column) }

    func error(_ message: String) -> JSONParseError {
        JSONParseError(line: line, column: column, position: offset, message: message)
    }

    /// Moves past one byte, keeping the line and column.
    mutating func advance() {
        let byte = bytes[offset]
        offset += 1
        if byte == UInt8(ascii: "\n") {
            line += 1
            column = 1
        } else if byte & 0xC0 != 0x80 {
            column += 1
        }
    }

    mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): advance()
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(JSONParseError) -> JSONSyntax {
        guard offset < bytes.count else { throw error("unexpected end of file") }
        let start = position
        switch bytes[offset] {
        case UInt8(ascii: "{"):
            guard depth < maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
            advance()
            var members: [JSONSyntax.Member] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
                advance()
                return JSONSyntax(kind: .object(members), position: start)
            }
            while true {
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw error("string expected") }
                let keyPosition = position
                let (rawKey, key) = try string()
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                members.append(JSONSyntax.Member(rawKey: rawKey, key: key, keyPosition: keyPosition, value: try value(depth: depth + 1)))
                skipWhitespace()
                if try endOfList("}") { break }
            }
            return JSONSyntax(kind: .object(members), position: start)
        case UInt8(ascii: "["):
            guard depth < maxDepth else { throw error("nesting deeper than \(maxDepth) levels") }
            advance()
            var items: [JSONSyntax] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
                advance()
                return JSONSyntax(kind: .array(items), position: start)
            }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                if try endOfList("]") { break }
            }
            return JSONSyntax(kind: .array(items), position: start)
        case UInt8(ascii: "\""):
            return JSONSyntax(kind: .scalar(try string().raw), position: start)
        default:
            return JSONSyntax(kind: .scalar(try word()), position: start)
        }
    }

    /// After an item: true at the closing bracket, false at a comma; both are consumed.
    mutating func endOfList(_ close: Unicode.Scalar) throws(JSONParseError) -> Bool {
        guard offset < bytes.count else { throw error("unexpected end of file") }
        if bytes[offset] == UInt8(ascii: close) {
            advance()
            return true
        }
        try expect(",")
        return false
    }

    mutating func expect(_ character: Unicode.Scalar) throws(JSONParseError) {
        guard offset < bytes.count, bytes[offset] == UInt8(ascii: character) else { throw error("'\(character)' expected") }
        advance()
    }

    /// A number, `true`, `false` or `null`, as written.
    mutating func word() throws(JSONParseError) -> String {
        let start = offset
        while offset < bytes.count {
            let byte = bytes[offset]
            let isWordByte = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "E")
            guard isWordByte else { break }
            advance()
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        guard ["true", "false", "null"].contains(text) || Self.isNumber(text.utf8) else {
            offset = start
            throw error("'\(Unicode.Scalar(bytes[start]))' is not the start of a value")
        }
        return text
    }

    /// RFC 8259's number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    static func isNumber(_ text: String.UTF8View) -> Bool {
        var bytes = text[...]
        func digits() -> Int {
            let count = bytes.prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        if bytes.first == UInt8(ascii: "0") { bytes = bytes.dropFirst() } else if digits() == 0 { return false }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            if digits() == 0 { return false }
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            if digits() == 0 { return false }
        }
        return bytes.isEmpty
    }

    /// A string at the opening quote: its text as written and its value.
    mutating func string() throws(JSONParseError) -> (raw: String, value: String) {
        let start = offset
        advance()
        var value = String.UnicodeScalarView()
        var run = offset  // the start of the bytes since the last escape, copied as they are
        func flush(_ end: Int) {
            value.append(contentsOf: String(decoding: bytes[run..<end], as: UTF8.self).unicodeScalars)
        }
        while true {
            guard offset < bytes.count else { throw error("unterminated string") }
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                flush(offset)
                advance()
                return (String(decoding: bytes[start..<offset], as: UTF8.self), String(value))
            }
            if byte < 0x20 { throw error("control character in a string") }
            guard byte == UInt8(ascii: "\\") else {
                advance()
                continue
            }
            flush(offset)
            advance()
            guard offset < bytes.count else { throw error("unterminated string") }
            let escape = bytes[offset]
            advance()
            switch escape {
            case UInt8(ascii: "\""): value.append("\"")
            case UInt8(ascii: "\\"): value.append("\\")
            case UInt8(ascii: "/"): value.append("/")
            case UInt8(ascii: "b"): value.append("\u{08}")
            case UInt8(ascii: "f"): value.append("\u{0C}")
            case UInt8(ascii: "n"): value.append("\n")
            case UInt8(ascii: "r"): value.append("\r")
            case UInt8(ascii: "t"): value.append("\t")
            case UInt8(ascii: "u"):
                var code = try hex4()
                if (0xD800..<0xDC00).contains(code), offset + 1 < bytes.count,
                    bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u")
                {
                    advance()
                    advance()
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("invalid Unicode surrogate pair") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid Unicode escape") }
                value.append(scalar)
            default:
                throw error("invalid escape")
            }
            run = offset
        }
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard offset < bytes.count, let digit = Self.hexValue(bytes[offset]) else { throw error("invalid Unicode escape") }
            code = code << 4 | digit
            advance()
        }
        return code
    }

    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}
