/// Finds the first bracket that nests deeper than a limit, before the real parser sees the input,
/// and, when asked, where a large document can be cut in two for two parsers (`Split`).
///
/// It only tracks strings (so brackets inside them do not count) and positions; everything else is
/// left to the parser. Columns count characters: UTF-8 continuation bytes do not advance them.
struct JSONDepthScanner {
    /// The largest object directly under the top-level object (a file's `users`), cut between
    /// two of its members near the middle: `key` (its raw bytes, escape-free), the comma between
    /// the halves, and its closing brace.
    struct Split {
        let key: Range<Int>
        let comma: Int
        let close: Int
    }

    static func scan(_ bytes: UnsafeRawBufferPointer, maxDepth: Int, findSplit: Bool) -> (violation: JSONParseError?, split: Split?) {
        // One pass over every byte of every input (a large orch.json is megabytes): only depth
        // and strings are tracked here; the line and column are worked out for a violation alone.
        var depth = 0
        var offset = 0
        let count = bytes.count
        // For the split: the last string at depth 1 (a member's key), the value being read at
        // depth 2 with its commas, and the largest such object so far.
        var key: Range<Int>? = nil
        var open: (key: Range<Int>, start: Int)? = nil
        var commas: [Int] = []
        var best: (key: Range<Int>, start: Int, close: Int, commas: [Int])? = nil
        while offset < count {
            switch bytes[offset] {
            case UInt8(ascii: "\""):
                // Skip the string: to the next quote that no backslash escapes.
                let start = offset + 1
                var escaped = false
                offset += 1
                while offset < count {
                    let byte = bytes[offset]
                    if byte == UInt8(ascii: "\"") { break }
                    if byte == UInt8(ascii: "\\") {
                        escaped = true
                        offset += 1
                    }
                    offset += 1
                }
                if findSplit && depth == 1 { key = escaped ? nil : start..<min(offset, count) }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > maxDepth {
                    let (line, column) = lineAndColumn(of: offset, in: bytes)
                    return (JSONParseError(line: line, column: column, position: offset, message: "nesting deeper than \(maxDepth) levels"), nil)
                }
                if findSplit && depth == 2 {
                    open = bytes[offset] == UInt8(ascii: "{") ? key.map { ($0, offset) } : nil
                    commas.removeAll(keepingCapacity: true)
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if findSplit && depth == 2, let member = open {
                    if offset - member.start > (best.map { $0.close - $0.start } ?? 0) {
                        best = (member.key, member.start, offset, commas)
                    }
                    open = nil
                }
                depth -= 1
            case UInt8(ascii: ","):
                if findSplit && depth == 2 && open != nil { commas.append(offset) }
            default:
                break
            }
            offset += 1
        }
        guard let best, !best.commas.isEmpty else { return (nil, nil) }
        // The member boundary nearest the middle of the object's bytes.
        let middle = (best.start + best.close) / 2
        let comma = best.commas.min { abs($0 - middle) < abs($1 - middle) }!
        return (nil, Split(key: best.key, comma: comma, close: best.close))
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
