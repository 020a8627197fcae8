/// The numbers of a document that Jansson cannot hold (integers past Int64, reals past Double),
/// kept as written. Before the parse each one is put in quotes, so that Jansson reads a string;
/// after it, the strings that were such numbers (found by their place among the document's string
/// values, object keys aside, in the order written) become `JSONValue.number` again. Writing goes
/// the other way: a value holding a `.number` is written here, with Jansson's text for every other
/// scalar, in the same layout as Jansson's.
struct JSONNumberLiterals {
    /// The document with each such number in quotes.
    let quoted: [UInt8]
    /// Each number's text, by the index of its string among the string values of `quoted`.
    private let literals: [Int: String]
    /// Where each opening quote was put into `quoted`, in order.
    private let insertions: [Int]

    /// Nil when the document has no number out of range (its parse failed for another reason).
    init?(_ bytes: UnsafeRawBufferPointer) {
        var quoted: [UInt8] = []
        quoted.reserveCapacity(bytes.count + 16)
        var literals: [Int: String] = [:]
        var insertions: [Int] = []
        var objects: [Bool] = []  // per open container: is it an object
        var expectingKey = false
        var strings = 0
        var offset = 0
        while offset < bytes.count {
            let byte = bytes[offset]
            switch byte {
            case UInt8(ascii: "\""):
                let start = offset
                offset += 1
                while offset < bytes.count, bytes[offset] != UInt8(ascii: "\"") {
                    offset += bytes[offset] == UInt8(ascii: "\\") ? 2 : 1
                }
                offset = min(offset + 1, bytes.count)
                quoted.append(contentsOf: bytes[start..<offset])
                if expectingKey { expectingKey = false } else { strings += 1 }
                continue
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = offset
                while offset < bytes.count, Self.isNumberByte(bytes[offset]) { offset += 1 }
                let text = String(decoding: bytes[start..<offset], as: UTF8.self)
                if !expectingKey, Self.isOutOfRange(text) {
                    literals[strings] = text
                    strings += 1
                    insertions.append(quoted.count)
                    quoted.append(UInt8(ascii: "\""))
                    quoted.append(contentsOf: text.utf8)
                    quoted.append(UInt8(ascii: "\""))
                } else {
                    quoted.append(contentsOf: bytes[start..<offset])
                }
                continue
            case UInt8(ascii: "{"):
                objects.append(true)
                expectingKey = true
            case UInt8(ascii: "["):
                objects.append(false)
                expectingKey = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = objects.popLast()
                expectingKey = false
            case UInt8(ascii: ","):
                expectingKey = objects.last == true
            case UInt8(ascii: ":"):
                expectingKey = false
            default:
                break
            }
            quoted.append(byte)
            offset += 1
        }
        guard !literals.isEmpty else { return nil }
        self.quoted = quoted
        self.literals = literals
        self.insertions = insertions
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"),
            UInt8(ascii: "E"):
            true
        default: false
        }
    }

    /// A well-formed number that Jansson refuses as too large; anything malformed is left for
    /// Jansson to report.
    private static func isOutOfRange(_ text: String) -> Bool {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }) else {
            let digits = text.utf8.drop { $0 == UInt8(ascii: "-") }
            let wellFormed = !digits.isEmpty && text.utf8.filter({ $0 == UInt8(ascii: "-") }).count <= 1
                && digits.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
                && (digits.first != UInt8(ascii: "0") || digits.count == 1)
            return wellFormed && Int64(text) == nil
        }
        return Double(text)?.isInfinite == true
    }

    /// The parsed value with the quoted numbers turned back into numbers.
    func restore(_ value: JSONValue) -> JSONValue {
        var index = 0
        return restore(value, &index)
    }

    private func restore(_ value: JSONValue, _ index: inout Int) -> JSONValue {
        switch value {
        case .string:
            defer { index += 1 }
            return literals[index].map(JSONValue.number) ?? value
        case .array(let items):
            var restored: [JSONValue] = []
            restored.reserveCapacity(items.count)
            for item in items { restored.append(restore(item, &index)) }
            return .array(restored)
        case .object(let object):
            var values: [JSONValue] = []
            values.reserveCapacity(object.count)
            for value in object.values { values.append(restore(value, &index)) }
            return .object(JSONObject(uniqueKeys: object.keys, values: values))
        default:
            return value
        }
    }

    /// An error of the quoted document placed in the original one (each pair of quotes moved
    /// what follows it by two bytes, and two columns on its line).
    func unquoted(_ error: JSONParseError) -> JSONParseError {
        var error = error
        let before = insertions.prefix { $0 < error.position }
        let lineStart = quoted[..<min(error.position, quoted.count)].lastIndex(of: UInt8(ascii: "\n")) ?? -1
        error.position -= 2 * before.count
        error.column -= 2 * before.filter { $0 > lineStart }.count
        return error
    }

    /// `value` as JSON text: compact when `indent` is nil, else indented as Jansson indents
    /// (`{`, a newline, each member `"key": value` on its own line, `}`). `scalar` gives the
    /// text of every scalar but a `.number`.
    static func write(_ value: JSONValue, indent: Int?, scalar: (JSONValue) -> String) -> String {
        var text = ""
        write(value, indent: indent, level: 0, into: &text, scalar: scalar)
        return text
    }

    private static func write(_ value: JSONValue, indent: Int?, level: Int, into text: inout String, scalar: (JSONValue) -> String) {
        func newline(_ level: Int) {
            guard let indent else { return }
            text += "\n" + String(repeating: " ", count: indent * level)
        }
        switch value {
        case .number(let literal):
            text += literal
        case .array(let items):
            guard !items.isEmpty else { return text += "[]" }
            text += "["
            for (position, item) in items.enumerated() {
                if position > 0 { text += "," }
                newline(level + 1)
                write(item, indent: indent, level: level + 1, into: &text, scalar: scalar)
            }
            newline(level)
            text += "]"
        case .object(let object):
            guard !object.isEmpty else { return text += "{}" }
            text += "{"
            for (position, member) in object.enumerated() {
                if position > 0 { text += "," }
                newline(level + 1)
                text += scalar(.string(member.key))
                text += indent == nil ? ":" : ": "
                write(member.value, indent: indent, level: level + 1, into: &text, scalar: scalar)
            }
            newline(level)
            text += "}"
        default:
            text += scalar(value)
        }
    }
}
