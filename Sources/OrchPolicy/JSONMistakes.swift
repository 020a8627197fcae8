/// Clearer words for the syntax errors people make most when they write JSON by hand: a comment, a
/// trailing comma, single quotes. The parser only says what it expected near which character.
enum JSONMistakes {
    /// The message for a syntax error at `line`:`column` (1-based, the column in characters) of
    /// `bytes`, when it is one of those mistakes; nil otherwise.
    static func explain(_ bytes: [UInt8], line: Int, column: Int) -> String? {
        guard let at = offset(bytes, line: line, column: column), at < bytes.count else { return nil }
        let c = bytes[at]
        let next = at + 1 < bytes.count ? bytes[at + 1] : 0
        if c == UInt8(ascii: "/"), next == UInt8(ascii: "/") || next == UInt8(ascii: "*") {
            return "comments are not allowed in JSON: remove the \(next == UInt8(ascii: "/") ? "// …" : "/* … */") (a \"description\" field can hold a note)"
        }
        if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
            var before = at - 1
            while before >= 0, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[before]) { before -= 1 }
            if before >= 0, bytes[before] == UInt8(ascii: ",") {
                return "trailing comma before '\(Character(Unicode.Scalar(c)))': JSON allows no comma after the last \(c == UInt8(ascii: "}") ? "member" : "item")"
            }
        }
        if c == UInt8(ascii: "'") {
            return "strings use double quotes in JSON (\"like this\"), not single quotes"
        }
        return nil
    }

    /// The byte offset of a 1-based line and character column.
    static func offset(_ bytes: [UInt8], line: Int, column: Int) -> Int? {
        var index = 0, currentLine = 1
        while currentLine < line {
            guard let newline = bytes[index...].firstIndex(of: 0x0A) else { return nil }
            index = newline + 1
            currentLine += 1
        }
        var characters = 1
        while characters < column, index < bytes.count {
            index += 1
            // A UTF-8 continuation byte belongs to the character before it.
            while index < bytes.count, bytes[index] & 0xC0 == 0x80 { index += 1 }
            characters += 1
        }
        return index
    }
}
