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
        topLevelValueRanges(of: [key], in: bytes)[0]
    }

    /// The ranges of the top-level members named by each of `keys`, read in one pass: the ranges
    /// of `keys[i]` are at `i`.
    public static func topLevelValueRanges(of keys: [String], in bytes: [UInt8]) -> [[Range<Int>]] {
        topLevelValueRanges(of: keys.map { Array($0.utf8) }, in: bytes, within: 0..<bytes.count)
    }

    /// The values named by `names` of the object that begins `bounds` (after any whitespace).
    private static func topLevelValueRanges(of names: [[UInt8]], in bytes: [UInt8], within bounds: Range<Int>) -> [[Range<Int>]] {
        bytes.withUnsafeBufferPointer { Scan(bytes: $0).valueRanges(of: names, within: bounds) }
    }

    /// An edit of a document: the bytes of `range` replaced by `text`.
    public struct Edit: Sendable {
        public let range: Range<Int>
        public let text: [UInt8]

        public init(_ range: Range<Int>, _ text: [UInt8] = []) {
            self.range = range
            self.text = text
        }
    }

    /// `bytes` with `edits` (whose ranges do not overlap) made, in one copy.
    public static func applying(_ edits: [Edit], to bytes: [UInt8]) -> [UInt8] {
        var inOrder = true
        for index in edits.indices.dropFirst() where edits[index - 1].range.lowerBound > edits[index].range.lowerBound { inOrder = false }
        return applying(inOrder ? edits : edits.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }), to: bytes, replacing: nil)
    }

    /// `bytes` with `edits` (in the order of their ranges, which do not overlap each other or
    /// `replaced`) made, and the bytes of `replaced` replaced by what `write` appends (at most
    /// `room` bytes are reserved for it), in one copy: what is written goes straight into it.
    /// Inlinable, so that it is specialized for its caller's edits and writer.
    @inlinable
    public static func applying(
        _ edits: some Collection<Edit>, to bytes: [UInt8], replacing replaced: Range<Int>?, room: Int = 0, with write: (inout [UInt8]) -> Void = { _ in }
    ) -> [UInt8] {
        var added = room
        for edit in edits { added += edit.text.count }
        return bytes.withUnsafeBufferPointer { buffer in
            var out: [UInt8] = []
            out.reserveCapacity(buffer.count + added)
            var position = 0
            var pending = replaced
            func copy(upTo end: Int) {
                if let range = pending, range.lowerBound <= end {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[position..<range.lowerBound]))
                    write(&out)
                    (position, pending) = (range.upperBound, nil)
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[position..<end]))
            }
            for edit in edits {
                copy(upTo: edit.range.lowerBound)
                out.append(contentsOf: edit.text)
                position = edit.range.upperBound
            }
            copy(upTo: buffer.count)
            return out
        }
    }

    /// `bytes` (a JSON object) without the members named in `keys` of the object found by following
    /// `path` (top-level member names, one level each; empty: the top level itself), every other byte
    /// as it was. Nil when a step of the path is not found exactly once as an object, or a key to
    /// remove is written more than once; a key that is absent is nothing to remove.
    public static func removingMembers(_ keys: [String], at path: [String], in bytes: [UInt8]) -> [UInt8]? {
        guard let (levels, _) = members(in: bytes, along: path), let edits = removals(of: keys, from: levels[path.count], in: bytes) else { return nil }
        return edits.isEmpty ? bytes : applying(edits, to: bytes)
    }

    /// A member of an object: the range of its name (inside the quotes) and of its value.
    public typealias Member = (name: Range<Int>, value: Range<Int>)

    /// Every member of the object that begins `bounds` (the whole document when nil), in order;
    /// nil when it is not an object this reads to its end.
    public static func members(in bytes: [UInt8], within bounds: Range<Int>? = nil) -> [Member]? {
        bytes.withUnsafeBufferPointer { buffer in
            let bounds = bounds ?? 0..<buffer.count
            guard bounds.lowerBound >= 0, bounds.upperBound <= buffer.count else { return nil }
            return Scan(bytes: buffer).members(within: bounds)
        }
    }

    /// The members of the top-level object (`levels[0]`) and of each object down `path` (top-level
    /// member names, one level each: `levels[i + 1]` are the members of the object under `path[i]`),
    /// read in one pass: a step's value is read as the object it must be rather than skipped and
    /// read again; `place` is the last step's among its parent's members. Nil where `members(in:)`
    /// and then `members(in:within:)` of each step would be, or a step is not found exactly once,
    /// as an object, under its plain name.
    static func members(in bytes: [UInt8], along path: [String]) -> (levels: [[Member]], place: Int)? {
        bytes.withUnsafeBufferPointer { buffer in
            let scan = Scan(bytes: buffer)
            var start = 0
            scan.skipWhitespace(&start, end: buffer.count)
            guard start < buffer.count, buffer[start] == UInt8(ascii: "{") else { return nil }
            var levels = [[Member]](repeating: [], count: path.count + 1)
            var place = -1
            guard scan.object(from: start, end: buffer.count, along: path[...], depth: 0, levels: &levels, place: &place) != nil else { return nil }
            return (levels, place)
        }
    }

    /// For a reply already parsed strictly (no name written twice): the range of its top-level `id`
    /// value and the offset of its top-level `result` value's first byte (nil without one), read in
    /// one pass that stops at `result` when `id` came before it (as servers write them). Nil when it
    /// is not an object this reads that far, or has no `id` as written.
    public static func idAndResult(in bytes: [UInt8]) -> (id: Range<Int>, result: Int?)? {
        bytes.withUnsafeBufferPointer { buffer -> (id: Range<Int>, result: Int?)? in
            let scan = Scan(bytes: buffer)
            let end = buffer.count
            var offset = 0
            scan.skipWhitespace(&offset, end: end)
            guard offset < end, buffer[offset] == UInt8(ascii: "{") else { return nil }
            offset += 1
            var (id, result): (Range<Int>?, Int?) = (nil, nil)
            while true {
                scan.skipWhitespace(&offset, end: end)
                guard offset < end, buffer[offset] == UInt8(ascii: "\"") else { return nil }
                let close = scan.stringEnd(from: offset, end: end)
                guard close < end else { return nil }
                let isResult = scan.isNamed((offset + 1)..<close, "result")
                guard let value = scan.valueRange(after: close + 1, end: end, stoppingAtObject: id != nil && isResult) else { return nil }
                if isResult {
                    result = value.lowerBound
                    if let id { return (id, result) }
                } else if scan.isNamed((offset + 1)..<close, "id") {
                    id = value
                }
                offset = value.upperBound
                scan.skipWhitespace(&offset, end: end)
                guard offset < end else { return nil }
                if buffer[offset] == UInt8(ascii: "}") { break }
                guard buffer[offset] == UInt8(ascii: ",") else { return nil }
                offset += 1
            }
            return id.map { ($0, result) }
        }
    }

    /// Whether `member`'s name is `key` as written (a name written with escapes is not matched).
    public static func isNamed(_ member: Member, _ key: String, in bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { Scan(bytes: $0).isNamed(member.name, key) }
    }

    /// The member of `members` named `key`, when exactly one is.
    public static func only(_ key: String, in members: [Member], _ bytes: [UInt8]) -> Member? {
        var found: Member?
        for member in members where isNamed(member, key, in: bytes) {
            guard found == nil else { return nil }
            found = member
        }
        return found
    }

    /// The edits that remove the members named in `keys` from `members` (an object's, as `members`
    /// read them), each run of them with the comma after it or, at the end, the one before. Nil
    /// when a key is written more than once.
    private static func removals(of keys: [String], from members: [Member], in bytes: [UInt8]) -> [Edit]? {
        var cut = [Bool](repeating: false, count: members.count)
        for key in keys {
            var found = false
            for (index, member) in members.enumerated() where isNamed(member, key, in: bytes) {
                guard !found else { return nil }
                (found, cut[index]) = (true, true)
            }
        }
        return removals(cutting: cut, from: members)
    }

    /// The edit that removes the members `run` of `members`, with the comma after them or, when
    /// they end the object, the one before.
    static func removal(of run: ClosedRange<Int>, from members: [Member]) -> Edit {
        let first = members[run.lowerBound].name.lowerBound - 1
        if run.upperBound + 1 < members.count { return Edit(first..<(members[run.upperBound + 1].name.lowerBound - 1)) }
        if run.lowerBound > 0 { return Edit(members[run.lowerBound - 1].value.upperBound..<members[run.upperBound].value.upperBound) }
        return Edit(first..<members[run.upperBound].value.upperBound)
    }

    /// The edits that remove the members of `members` whose place in `cut` is true, each run of
    /// them with the comma after it or, at the end, the one before.
    static func removals(cutting cut: [Bool], from members: [Member]) -> [Edit] {
        var edits: [Edit] = []
        var index = 0
        while index < members.count {
            guard cut[index] else { index += 1; continue }
            var last = index
            while last + 1 < members.count, cut[last + 1] { last += 1 }
            edits.append(removal(of: index...last, from: members))
            index = last + 1
        }
        return edits
    }

    /// The reading of one document, over its bytes in place (no copy, no bounds checks past the
    /// limits each step is given).
    struct Scan {
        let bytes: UnsafeBufferPointer<UInt8>

        /// The values named by `names` of the object that begins `bounds` (after any whitespace).
        func valueRanges(of names: [[UInt8]], within bounds: Range<Int>) -> [[Range<Int>]] {
            var found = [[Range<Int>]](repeating: [], count: names.count)
            let end = bounds.upperBound
            var depth = 0
            var topIsObject = false
            var expectingKey = false
            var offset = bounds.lowerBound
            while offset < end {
                switch bytes[offset] {
                case UInt8(ascii: "\""):
                    let close = stringEnd(from: offset, end: end)
                    if depth == 1, topIsObject, expectingKey {
                        expectingKey = false
                        let key = UnsafeBufferPointer(rebasing: bytes[(offset + 1)..<close])
                        if let index = names.firstIndex(where: { key.elementsEqual($0) }), let range = valueRange(after: close + 1, end: end) {
                            found[index].append(range)
                            offset = range.upperBound
                            continue
                        }
                    }
                    offset = close + 1
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    if depth == 0 { topIsObject = bytes[offset] == UInt8(ascii: "{") }
                    depth += 1
                    if depth == 1 { expectingKey = true }
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return found }
                case UInt8(ascii: ","):
                    if depth == 1 { expectingKey = true }
                default:
                    break
                }
                offset += 1
            }
            return found
        }

        /// Every member of the object that begins `bounds`, in order; nil when it is not an object
        /// this reads to its end.
        func members(within bounds: Range<Int>) -> [Member]? {
            var start = bounds.lowerBound
            skipWhitespace(&start, end: bounds.upperBound)
            guard start < bounds.upperBound, bytes[start] == UInt8(ascii: "{") else { return nil }
            var (levels, place) = ([[Member]](repeating: [], count: 1), -1)
            guard object(from: start, end: bounds.upperBound, along: [], depth: 0, levels: &levels, place: &place) != nil else { return nil }
            return levels[0]
        }

        /// Reads the object whose brace is at `start` (and which ends before `end`) into
        /// `levels[depth]`, and the object under `path`'s first step (which must be there once) on
        /// into the next levels, the last step's place into `place`; the offset after its closing
        /// brace, or nil.
        func object(from start: Int, end: Int, along path: ArraySlice<String>, depth: Int, levels: inout [[Member]], place: inout Int) -> Int? {
            var members: [Member] = []
            members.reserveCapacity(8)
            let step = path.first
            var stepFound = false
            let after = walkMembers(from: start, end: end) { name, afterName in
                let value: Range<Int>
                if let step, isNamed(name, step) {
                    guard !stepFound, let brace = objectValue(after: afterName, end: end) else { return nil }
                    stepFound = true
                    if path.count == 1 { place = members.count }
                    guard let close = object(from: brace, end: end, along: path.dropFirst(), depth: depth + 1, levels: &levels, place: &place) else {
                        return nil
                    }
                    value = brace..<close
                } else {
                    guard let range = valueRange(after: afterName, end: end) else { return nil }
                    value = range
                }
                members.append((name, value))
                return value
            }
            guard let after, step == nil || stepFound else { return nil }
            levels[depth] = members
            return after
        }

        /// Walks the members of the object whose brace is at `start` (and which ends before `end`):
        /// `member` is given each one's name (inside its quotes) and the offset after the name's
        /// closing quote, and gives the range of its value, or nil when the object is not one to
        /// read on. The offset after the object's closing brace, or nil.
        func walkMembers(from start: Int, end: Int, _ member: (_ name: Range<Int>, _ afterName: Int) -> Range<Int>?) -> Int? {
            var offset = start + 1
            var first = true
            while true {
                skipWhitespace(&offset, end: end)
                guard offset < end else { return nil }
                if bytes[offset] == UInt8(ascii: "}"), first { break }
                guard bytes[offset] == UInt8(ascii: "\"") else { return nil }
                let close = stringEnd(from: offset, end: end)
                guard close < end, let value = member((offset + 1)..<close, close + 1) else { return nil }
                first = false
                offset = value.upperBound
                skipWhitespace(&offset, end: end)
                guard offset < end else { return nil }
                if bytes[offset] == UInt8(ascii: "}") { break }
                guard bytes[offset] == UInt8(ascii: ",") else { return nil }
                offset += 1
            }
            return offset + 1
        }

        /// The offset of the brace of the value after the colon that follows a name ending at
        /// `offset`, when that value is an object; nil otherwise.
        func objectValue(after offset: Int, end: Int) -> Int? {
            var start = offset
            skipWhitespace(&start, end: end)
            guard start < end, bytes[start] == UInt8(ascii: ":") else { return nil }
            start += 1
            skipWhitespace(&start, end: end)
            return start < end && bytes[start] == UInt8(ascii: "{") ? start : nil
        }

        /// Whether the name at `range` is `key` as written.
        func isNamed(_ range: Range<Int>, _ key: String) -> Bool {
            let count = range.count
            guard key.utf8.count == count else { return false }
            return key.utf8.withContiguousStorageIfAvailable { name in
                // Eight bytes at a time (a 2026-07-28 envelope's keys are forty long), then the rest.
                guard let here = bytes.baseAddress, let there = name.baseAddress else { return count == 0 }
                let (mine, theirs) = (UnsafeRawPointer(here + range.lowerBound), UnsafeRawPointer(there))
                var offset = 0
                while offset + 8 <= count {
                    guard mine.loadUnaligned(fromByteOffset: offset, as: UInt64.self) == theirs.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    else { return false }
                    offset += 8
                }
                while offset < count, mine.load(fromByteOffset: offset, as: UInt8.self) == theirs.load(fromByteOffset: offset, as: UInt8.self) {
                    offset += 1
                }
                return offset == count
            } ?? UnsafeBufferPointer(rebasing: bytes[range]).elementsEqual(key.utf8)
        }

        /// The range of the value after the colon that follows a key ending at `offset`; with
        /// `stoppingAtObject`, an object's range is its first byte alone (it is not read).
        func valueRange(after offset: Int, end limit: Int, stoppingAtObject: Bool = false) -> Range<Int>? {
            var start = offset
            skipWhitespace(&start, end: limit)
            guard start < limit, bytes[start] == UInt8(ascii: ":") else { return nil }
            start += 1
            skipWhitespace(&start, end: limit)
            guard start < limit else { return nil }
            if stoppingAtObject, bytes[start] == UInt8(ascii: "{") { return start..<(start + 1) }
            switch bytes[start] {
            case UInt8(ascii: "\""):
                let end = stringEnd(from: start, end: limit)
                return end < limit ? start..<(end + 1) : nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                var end = start
                while end < limit {
                    switch bytes[end] {
                    case UInt8(ascii: "\""):
                        end = stringEnd(from: end, end: limit)
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
                while end < limit, !(bytes[end] == UInt8(ascii: ",") || bytes[end] == UInt8(ascii: "}") || Self.isWhitespace(bytes[end])) {
                    end += 1
                }
                return start..<end
            }
        }

        static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D }

        func skipWhitespace(_ offset: inout Int, end limit: Int) {
            while offset < limit, Self.isWhitespace(bytes[offset]) { offset += 1 }
        }

        /// The offset of the quote that closes the string opening at `start` (or the end of input).
        func stringEnd(from start: Int, end limit: Int) -> Int {
            var offset = start + 1
            guard let base = bytes.baseAddress else { return limit }
            let raw = UnsafeRawPointer(base)
            while offset < limit {
                // Eight bytes at a time while eight are left, to the first quote or backslash.
                while offset + 8 <= limit {
                    let marks = Self.quotesAndBackslashes(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
                    if marks != 0 {
                        offset += marks.trailingZeroBitCount >> 3
                        break
                    }
                    offset += 8
                }
                guard offset < limit else { break }
                switch bytes[offset] {
                case UInt8(ascii: "\""): return offset
                case UInt8(ascii: "\\"): offset += 2
                default: offset += 1
                }
            }
            return limit
        }

        /// A word whose lowest set bit is the high bit of the first of `word`'s bytes (in memory
        /// order) that is a quote or a backslash; zero when none is. (Bits above it may be set
        /// falsely, by the subtraction's borrow: only the lowest is read.)
        private static func quotesAndBackslashes(_ word: UInt64) -> UInt64 {
            func zeroBytes(_ x: UInt64) -> UInt64 { (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080 }
            return zeroBytes(word ^ 0x2222_2222_2222_2222) | zeroBytes(word ^ 0x5C5C_5C5C_5C5C_5C5C)
        }
    }
}
