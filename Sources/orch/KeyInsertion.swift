import OrchJSON

/// Adds a key to `users.USER.keys` by editing the file's text, not by writing the document again:
/// a file kept in git changes by the lines of the new key only, every other byte (layout, escapes,
/// number spellings) stays as it was.
///
/// The key goes after the last one of the user's `keys`, laid out like it (one line, or one member
/// a line) at its indentation. An empty `keys: []`, or a user without `keys`, gets the array, on
/// lines of its own when the user's members are on lines of their own, else on one line.
enum KeyInsertion {
    struct Failure: Error {
        let reason: String
    }

    static func insert(_ key: JSONObject, user: String, into bytes: [UInt8]) throws(Failure) -> [UInt8] {
        guard let root = try? JSONSyntax.parse(bytes), case .object(let top) = root.kind,
            let users = top.last(where: { $0.key == "users" }), case .object(let userMembers) = users.value.kind,
            let entry = userMembers.last(where: { $0.key == user }), case .object(let members) = entry.value.kind
        else { throw Failure(reason: "users.\(user) is not an object in its text") }
        let text = Text(bytes)
        // The indentation step: from the user's line to its members', else from "users" to the user.
        let userIndent = text.indent(at: text.offset(entry.keyPosition))
        var unit = "  "
        if let outer = text.indent(at: text.offset(users.keyPosition)), let userIndent, userIndent.count > outer.count, userIndent.hasPrefix(outer) {
            unit = String(userIndent.dropFirst(outer.count))
        }
        let multiline = prefersMultilineKeys(userMembers, text)

        if let keys = members.last(where: { $0.key == "keys" }) {
            guard case .array(let items) = keys.value.kind else { throw Failure(reason: "users.\(user).keys is not an array") }
            let open = text.offset(keys.value.position)
            if let last = items.last {
                let start = text.offset(last.position)
                let end = text.end(of: start)
                if let indent = text.indent(at: start) {
                    let object = render(key, indent: indent, unit: unit, multiline: text.opensALine(at: start), newline: text.newline)
                    return text.replacing(end..<end, with: "," + text.newline + indent + object)
                }
                return text.replacing(end..<end, with: ", " + render(key, indent: "", unit: unit, multiline: false, newline: text.newline))
            }
            let close = text.end(of: open) - 1
            if let indent = text.indent(at: text.offset(keys.keyPosition)) {
                let object = render(key, indent: indent + unit, unit: unit, multiline: multiline, newline: text.newline)
                return text.replacing(open + 1..<close, with: text.newline + indent + unit + object + text.newline + indent)
            }
            return text.replacing(open + 1..<close, with: " " + render(key, indent: "", unit: unit, multiline: false, newline: text.newline) + " ")
        }

        guard let last = members.last else {
            let open = text.offset(entry.value.position)
            let close = text.end(of: open) - 1
            return text.replacing(open + 1..<close, with: #" "keys": [ "# + render(key, indent: "", unit: unit, multiline: false, newline: text.newline) + " ] ")
        }
        let end = text.end(of: text.offset(last.value.position))
        if let indent = text.indent(at: text.offset(last.keyPosition)) {
            let object = render(key, indent: indent + unit, unit: unit, multiline: multiline, newline: text.newline)
            let n = text.newline
            return text.replacing(end..<end, with: "," + n + indent + #""keys": ["# + n + indent + unit + object + n + indent + "]")
        }
        return text.replacing(end..<end, with: #", "keys": [ "# + render(key, indent: "", unit: unit, multiline: false, newline: text.newline) + " ]")
    }

    /// Whether the keys already in the file are written one member a line (as `orch fmt` writes
    /// them), judged by the first user's first key; one line each if there is none.
    private static func prefersMultilineKeys(_ users: [JSONSyntax.Member], _ text: Text) -> Bool {
        for user in users {
            guard case .object(let members) = user.value.kind, let keys = members.last(where: { $0.key == "keys" }),
                case .array(let items) = keys.value.kind, let first = items.first
            else { continue }
            return text.opensALine(at: text.offset(first.position))
        }
        return false
    }

    /// `{ "id": "x", "sha256": "…" }`, or one member a line, with the closing brace at `indent`.
    static func render(_ key: JSONObject, indent: String, unit: String, multiline: Bool, newline: String) -> String {
        let members = key.map { member in JSONValue.string(member.key).compact + ": " + value(member.value) }
        if !multiline { return "{ " + members.joined(separator: ", ") + " }" }
        return "{" + newline + members.map { indent + unit + $0 }.joined(separator: "," + newline) + newline + indent + "}"
    }

    /// A key's values are strings and arrays of strings: `["a", "b"]`, as `orch fmt` writes them.
    private static func value(_ value: JSONValue) -> String {
        if case .array(let items) = value { return "[" + items.map(\.compact).joined(separator: ", ") + "]" }
        return value.compact
    }

    /// The file's bytes, with the byte offsets of `JSONSyntax`'s positions.
    struct Text {
        let bytes: [UInt8]
        /// The offset where each line starts.
        private let lineStarts: [Int]
        /// `\r\n` when the file uses it.
        let newline: String

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            var starts = [0]
            for (i, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") { starts.append(i + 1) }
            lineStarts = starts
            let firstNewline = bytes.firstIndex(of: UInt8(ascii: "\n"))
            newline = firstNewline.map { $0 > 0 && bytes[$0 - 1] == UInt8(ascii: "\r") } == true ? "\r\n" : "\n"
        }

        /// The byte offset of a position (its column counts characters, not bytes).
        func offset(_ position: JSONPosition) -> Int {
            var offset = lineStarts[position.line - 1]
            var column = 1
            while column < position.column {
                offset += 1
                if bytes[offset] & 0xC0 != 0x80 { column += 1 }
            }
            return offset
        }

        /// The whitespace before `offset` on its line, when nothing else precedes it there.
        func indent(at offset: Int) -> String? {
            var start = offset
            while start > 0, bytes[start - 1] != UInt8(ascii: "\n") {
                start -= 1
                guard bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t") else { return nil }
            }
            return String(decoding: bytes[start..<offset], as: UTF8.self)
        }

        /// Whether the `{` or `[` at `offset` ends its line: the value is written one member a line.
        func opensALine(at offset: Int) -> Bool {
            var i = offset + 1
            while i < bytes.count, bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t") { i += 1 }
            return i < bytes.count && (bytes[i] == UInt8(ascii: "\n") || bytes[i] == UInt8(ascii: "\r"))
        }

        /// The offset just past the value that starts at `offset` (the text is valid JSON).
        func end(of offset: Int) -> Int {
            var i = offset
            var depth = 0
            repeat {
                switch bytes[i] {
                case UInt8(ascii: "\""):
                    i += 1
                    while bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                default:
                    if depth == 0 {
                        // A number, true, false or null: up to the next delimiter.
                        while i + 1 < bytes.count, !Self.delimiters.contains(bytes[i + 1]) { i += 1 }
                    }
                }
                i += 1
            } while depth > 0
            return i
        }

        private static let delimiters: Set<UInt8> = Set(" \t\r\n,]}:".utf8)

        func replacing(_ range: Range<Int>, with text: String) -> [UInt8] {
            Array(bytes[..<range.lowerBound]) + Array(text.utf8) + Array(bytes[range.upperBound...])
        }
    }
}
