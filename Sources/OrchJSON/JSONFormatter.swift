/// The one layout `orch fmt` writes: two-space indent, one member a line with keys in the order
/// written, an array of scalars on one line when that line fits in `width` columns (else one item
/// a line), empty arrays and objects as `[]` and `{}`, and a newline at the end. Strings and
/// numbers are written exactly as they were (escapes, `1.0`, `1e3`), so only the whitespace
/// changes, and formatting a formatted document changes nothing.
public enum JSONFormatter {
    /// The widest line an array of scalars may be kept on.
    public static let width = 100

    /// The document in the canonical layout. A document `JSONValue.parse` refuses is refused with
    /// the same error.
    public static func format(_ bytes: [UInt8]) throws(JSONParseError) -> [UInt8] {
        _ = try JSONValue.parse(bytes)
        var out = ""
        write(try JSONSyntax.parse(bytes), indent: 0, lineSoFar: 0, trailing: 0, into: &out)
        out += "\n"
        return Array(out.utf8)
    }

    /// Writes `value`, whose line already holds `lineSoFar` characters and is followed by
    /// `trailing` more (a comma).
    private static func write(_ value: JSONSyntax, indent: Int, lineSoFar: Int, trailing: Int, into out: inout String) {
        switch value.kind {
        case .scalar(let text):
            out += text
        case .array(let items):
            if items.isEmpty { return out += "[]" }
            if items.allSatisfy(\.isScalar) {
                let line = "[" + items.map { if case .scalar(let text) = $0.kind { text } else { "" } }.joined(separator: ", ") + "]"
                if lineSoFar + line.count + trailing <= width { return out += line }
            }
            let inner = String(repeating: " ", count: indent + 2)
            out += "[\n"
            for (i, item) in items.enumerated() {
                let comma = i < items.count - 1 ? 1 : 0
                out += inner
                write(item, indent: indent + 2, lineSoFar: inner.count, trailing: comma, into: &out)
                out += comma == 1 ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "]"
        case .object(let members):
            if members.isEmpty { return out += "{}" }
            let inner = String(repeating: " ", count: indent + 2)
            out += "{\n"
            for (i, member) in members.enumerated() {
                let comma = i < members.count - 1 ? 1 : 0
                let head = inner + member.rawKey + ": "
                out += head
                write(member.value, indent: indent + 2, lineSoFar: head.count, trailing: comma, into: &out)
                out += comma == 1 ? ",\n" : "\n"
            }
            out += String(repeating: " ", count: indent) + "}"
        }
    }
}
