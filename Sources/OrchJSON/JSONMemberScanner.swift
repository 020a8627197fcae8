/// Reads members of a top-level object by name without parsing the rest of the document: for a
/// message that did not parse (nested too deep, a repeated key), to learn which request it answers.
/// It tracks only strings and brackets, with no recursion, so no depth stops it.
public enum JSONMemberScanner {
    /// The values of the top-level members named `key`, in the order written (more than one when
    /// the key is repeated). Only a string or a number is read; a key written with escapes is not
    /// matched; a document that is not an object has none.
    public static func topLevelValues(of key: String, in bytes: [UInt8]) -> [JSONValue] {
        topLevelValueRanges(of: key, in: bytes).compactMap { range in
            guard let value = try? JSONValue.parse(Array(bytes[range]), limits: JSONParseLimits(maxDepth: 0, exactNumbers: true)) else { return nil }
            switch value {
            case .string, .integer, .real, .number: return value
            default: return nil
            }
        }
    }

    /// The byte ranges of the values of the top-level members named `key` (a key written with
    /// escapes is not matched), in the order written: the whole value, brackets and quotes
    /// included. For a document already parsed, so that one member can be replaced, or something
    /// inserted into it, without encoding the rest again.
    public static func topLevelValueRanges(of key: String, in bytes: [UInt8]) -> [Range<Int>] {
        let name = Array(key.utf8)
        var found: [Range<Int>] = []
        var depth = 0
        var topIsObject = false
        var expectingKey = false
        var offset = 0
        while offset < bytes.count {
            switch bytes[offset] {
            case UInt8(ascii: "\""):
                let end = stringEnd(bytes, from: offset)
                if depth == 1, topIsObject, expectingKey {
                    expectingKey = false
                    if bytes[(offset + 1)..<end].elementsEqual(name), let range = valueRange(bytes, after: end + 1) {
                        found.append(range)
                        offset = range.upperBound
                        continue
                    }
                }
                offset = end + 1
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if depth == 0 { topIsObject = bytes[offset] == UInt8(ascii: "{") }
                depth += 1
                if depth == 1 { expectingKey = true }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                if depth == 1 { expectingKey = true }
            default:
                break
            }
            offset += 1
        }
        return found
    }

    /// `bytes` (a JSON object) without the members named in `keys` of the object found by following
    /// `path` (top-level member names, one level each; empty: the top level itself), every other byte
    /// as it was. Nil when a step of the path is not found exactly once as an object, or a key to
    /// remove is written more than once; a key that is absent is nothing to remove.
    public static func removingMembers(_ keys: [String], at path: [String], in bytes: [UInt8]) -> [UInt8]? {
        guard let step = path.first else { return removingTopLevelMembers(keys, in: bytes) }
        let ranges = topLevelValueRanges(of: step, in: bytes)
        guard ranges.count == 1, bytes[ranges[0].lowerBound] == UInt8(ascii: "{"),
            let inner = removingMembers(keys, at: Array(path.dropFirst()), in: Array(bytes[ranges[0]]))
        else { return nil }
        return Array(bytes[..<ranges[0].lowerBound]) + inner + Array(bytes[ranges[0].upperBound...])
    }

    private static func removingTopLevelMembers(_ keys: [String], in bytes: [UInt8]) -> [UInt8]? {
        guard let members = topLevelMembers(in: bytes) else { return nil }
        let names = keys.map { Array($0.utf8) }
        var removed: [Int] = []
        var kept: [Range<Int>] = []
        for member in members {
            if let index = names.firstIndex(where: { bytes[member.name].elementsEqual($0) }) {
                guard !removed.contains(index) else { return nil }
                removed.append(index)
            } else {
                kept.append((member.name.lowerBound - 1)..<member.value.upperBound)
            }
        }
        guard !removed.isEmpty else { return bytes }
        // Each kept member as it was written, joined again.
        var out: [UInt8] = [UInt8(ascii: "{")]
        for (index, member) in kept.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out += bytes[member]
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Every member of a top-level object: its name (inside the quotes) and its value, in order;
    /// nil when `bytes` is not an object this reads to its end.
    private static func topLevelMembers(in bytes: [UInt8]) -> [(name: Range<Int>, value: Range<Int>)]? {
        var offset = 0
        skipWhitespace(bytes, &offset)
        guard offset < bytes.count, bytes[offset] == UInt8(ascii: "{") else { return nil }
        offset += 1
        var members: [(name: Range<Int>, value: Range<Int>)] = []
        while true {
            skipWhitespace(bytes, &offset)
            guard offset < bytes.count else { return nil }
            if bytes[offset] == UInt8(ascii: "}"), members.isEmpty { return members }
            guard bytes[offset] == UInt8(ascii: "\"") else { return nil }
            let end = stringEnd(bytes, from: offset)
            guard end < bytes.count, let value = valueRange(bytes, after: end + 1) else { return nil }
            members.append(((offset + 1)..<end, value))
            offset = value.upperBound
            skipWhitespace(bytes, &offset)
            guard offset < bytes.count else { return nil }
            if bytes[offset] == UInt8(ascii: "}") { return members }
            guard bytes[offset] == UInt8(ascii: ",") else { return nil }
            offset += 1
        }
    }

    /// The range of the value after the colon that follows a key ending at `offset`.
    private static func valueRange(_ bytes: [UInt8], after offset: Int) -> Range<Int>? {
        var start = offset
        skipWhitespace(bytes, &start)
        guard start < bytes.count, bytes[start] == UInt8(ascii: ":") else { return nil }
        start += 1
        skipWhitespace(bytes, &start)
        guard start < bytes.count else { return nil }
        switch bytes[start] {
        case UInt8(ascii: "\""):
            let end = stringEnd(bytes, from: start)
            return end < bytes.count ? start..<(end + 1) : nil
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            var end = start
            while end < bytes.count {
                switch bytes[end] {
                case UInt8(ascii: "\""):
                    end = stringEnd(bytes, from: end)
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return start..<(end + 1) }
                default:
                    break
                }
                end += 1
            }
            return nil
        default:
            var end = start
            while end < bytes.count, !(bytes[end] == UInt8(ascii: ",") || bytes[end] == UInt8(ascii: "}") || isWhitespace(bytes[end])) {
                end += 1
            }
            return start..<end
        }
    }

    private static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

    private static func skipWhitespace(_ bytes: [UInt8], _ offset: inout Int) {
        while offset < bytes.count, isWhitespace(bytes[offset]) { offset += 1 }
    }

    /// The offset of the quote that closes the string opening at `start` (or the end of input).
    private static func stringEnd(_ bytes: [UInt8], from start: Int) -> Int {
        var offset = start + 1
        while offset < bytes.count, bytes[offset] != UInt8(ascii: "\"") {
            offset += bytes[offset] == UInt8(ascii: "\\") ? 2 : 1
        }
        return min(offset, bytes.count)
    }
}
