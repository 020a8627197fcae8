/// Finds the first bracket that nests deeper than a limit, before the real parser sees the input.
///
/// It only tracks strings (so brackets inside them do not count) and positions; everything else is
/// left to the parser. Columns count characters: UTF-8 continuation bytes do not advance them.
struct JSONDepthScanner {
    static func firstViolation(in bytes: UnsafeRawBufferPointer, maxDepth: Int) -> JSONParseError? {
        // One pass over every byte of every input (a large orch.json is megabytes): only depth
        // and strings are tracked here; the line and column are worked out for a violation alone.
        var depth = 0
        var offset = 0
        let count = bytes.count
        while offset < count {
            switch bytes[offset] {
            case UInt8(ascii: "\""):
                // Skip the string: to the next quote that no backslash escapes.
                offset += 1
                while offset < count {
                    let byte = bytes[offset]
                    if byte == UInt8(ascii: "\"") { break }
                    offset += byte == UInt8(ascii: "\\") ? 2 : 1
                }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > maxDepth {
                    let (line, column) = lineAndColumn(of: offset, in: bytes)
                    return JSONParseError(line: line, column: column, position: offset, message: "nesting deeper than \(maxDepth) levels")
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            default:
                break
            }
            offset += 1
        }
        return nil
    }

    /// 1-based line and character column of the byte at `offset`.
    private static func lineAndColumn(of offset: Int, in bytes: UnsafeRawBufferPointer) -> (Int, Int) {
        var line = 1
        var column = 0
        for byte in bytes[..<(offset + 1)] {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 0
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return (line, column)
    }
}
