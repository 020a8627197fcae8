/// Finds the first bracket that nests deeper than a limit, before the real parser sees the input.
///
/// It only tracks strings (so brackets inside them do not count) and positions; everything else is
/// left to the parser. Columns count characters: UTF-8 continuation bytes do not advance them.
struct JSONDepthScanner {
    static func firstViolation(in bytes: UnsafeRawBufferPointer, maxDepth: Int) -> JSONParseError? {
        var depth = 0
        var inString = false
        var escaped = false
        var line = 1
        var column = 0
        for (offset, byte) in bytes.enumerated() {
            if byte & 0xC0 != 0x80 { column += 1 }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > maxDepth {
                    return JSONParseError(
                        line: line, column: column, position: offset,
                        message: "nesting deeper than \(maxDepth) levels")
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: "\n"):
                line += 1
                column = 0
            default:
                break
            }
        }
        return nil
    }
}
