/// A document read with some members of one of its objects set aside: those members are cut out of
/// the bytes, the rest is parsed, and each set-aside value is read from its own bytes (a plain string
/// or an empty object directly, anything else by the parser). The value is the document exactly as
/// `JSONValue.parse` reads it whole, members in their places; the cuts are what a reader without
/// those members is sent. Where the two readings could differ, there is none (`init` gives nil)
/// and the caller parses the document whole, so errors are always the whole document's: a step of
/// the path not found exactly once as an object under its plain name, a set-aside key written more
/// than once (or also with escapes), a rest or a value that does not parse.
///
/// It is for documents whose set-aside members are long and the rest short: a 2026-07-28 request's
/// envelope in `params._meta` is most of its bytes, and a forwarded request goes without it.
public struct JSONSetAside: Sendable {
    /// The whole document, as `JSONValue.parse(_:limits:)` reads it.
    public let value: JSONValue
    /// The range of the document's top-level `id` value (a JSON-RPC message's, which a forwarder
    /// replaces), when exactly one member is so named as written.
    public let id: Range<Int>?
    /// The edits that take the set-aside members (and their commas) out of the bytes.
    public let cuts: [JSONMemberScanner.Edit]

    /// - Parameters:
    ///   - keys: the names of the members to set aside (none present is nil: nothing to gain).
    ///   - path: the top-level member names that lead to their object, one level each (at least one).
    ///
    /// When the set-aside members are all of their object's (a 2026-07-28 `_meta` that holds the
    /// envelope alone), the object goes too: the cuts take its member out of the one above, and
    /// the rest has no such member. The document is read in one pass that keeps only what this
    /// needs (no level's members are listed); an object with more than 64 members at the path's
    /// end is not read so.
    public init?(_ bytes: [UInt8], limits: JSONParseLimits, keys: [String], at path: [String]) {
        guard !path.isEmpty, bytes.count <= limits.maxBytes, keys.count <= 64 else { return nil }
        var reading = Reading(keys: keys, path: path, limits: limits)
        guard bytes.withUnsafeBufferPointer({ reading.read($0) }), !reading.names.isEmpty else { return nil }
        let whole = reading.kept == 0
        let cuts = whole ? reading.removal.map { [$0] } : reading.edits
        guard let cuts, case .object(var document)? = try? JSONValue.parse(JSONMemberScanner.applying(cuts, to: bytes), limits: limits) else { return nil }
        let placed: Bool
        if whole {
            let object = JSONValue.object(JSONObject(uniqueKeys: reading.names, values: reading.values))
            placed = Self.placing(CollectionOfOne((reading.place, path[path.count - 1], object)), among: reading.parentCount, into: &document,
                                  at: path.dropLast())
        } else {
            var aside: [Aside] = []
            for place in 0..<64 where reading.places & (1 << place) != 0 {
                aside.append((place, reading.names[aside.count], reading.values[aside.count]))
            }
            placed = Self.placing(aside, among: reading.kept + reading.names.count, into: &document, at: path[...])
        }
        guard placed else { return nil }
        (value, id, self.cuts) = (.object(document), reading.ids == 1 ? reading.id : nil, cuts)
    }

    /// The document read once, in place, keeping only what the set-aside needs of each level: no
    /// level's members are listed.
    private struct Reading {
        let keys: [String]
        let path: [String]
        let limits: JSONParseLimits
        /// The top-level members named `id`, and the value of the last.
        var ids = 0
        var id: Range<Int>?
        /// The set-aside members of the object at the end of the path: their places among its
        /// members (one bit each; a place past 63 is not read), names and values, in order.
        var places: UInt64 = 0
        var names: [String] = []
        var values: [JSONValue] = []
        /// How many of its members stay, and the edits that take the others out with their commas.
        var kept = 0
        var edits: [JSONMemberScanner.Edit] = []
        /// The object's place among its parent's members, their count, and the edit that takes it
        /// out of its parent with a comma.
        var place = 0
        var parentCount = 0
        var removal: JSONMemberScanner.Edit?

        mutating func read(_ buffer: UnsafeBufferPointer<UInt8>) -> Bool {
            let scan = JSONMemberScanner.Scan(bytes: buffer)
            var start = 0
            scan.skipWhitespace(&start, end: buffer.count)
            guard start < buffer.count, buffer[start] == UInt8(ascii: "{") else { return false }
            return object(scan, at: start, depth: 0) != nil
        }

        /// Reads the object whose brace is at `start`, level `depth` of the path (the object to set
        /// members of aside at `path.count`); the offset after its closing brace, or nil when it is
        /// not an object this reads to its end, a step is not found exactly once as an object under
        /// its plain name, or a key is written twice.
        private mutating func object(_ scan: JSONMemberScanner.Scan, at start: Int, depth: Int) -> Int? {
            let bytes = scan.bytes
            let end = bytes.count
            let isLast = depth == path.count
            let isParent = depth == path.count - 1
            let step = isLast ? nil : path[depth]
            var (count, stepFound, previousEnd, stepQuote) = (0, false, 0, -1)
            // At the last level: the keys seen, the opening quote of the run of set-aside members
            // being read, and where the last member that stays ends.
            var (seen, run, keptEnd): (UInt64, Int, Int) = (0, -1, -1)
            let after = scan.walkMembers(from: start, end: end) { name, afterName in
                let quote = name.lowerBound - 1
                guard count < 64 || !isLast else { return nil }
                if stepQuote >= 0 {
                    // The step's member is followed by this one: it goes with the comma after it.
                    removal = JSONMemberScanner.Edit(stepQuote..<quote)
                    stepQuote = -1
                }
                let value: Range<Int>
                if let step, scan.isNamed(name, step) {
                    guard !stepFound, let brace = scan.objectValue(after: afterName, end: end), let close = object(scan, at: brace, depth: depth + 1)
                    else { return nil }
                    stepFound = true
                    value = brace..<close
                    if isParent {
                        // Last or alone: with the comma before it, or by itself.
                        removal = JSONMemberScanner.Edit(count > 0 ? previousEnd..<close : quote..<close)
                        (stepQuote, place) = (quote, count)
                    }
                } else {
                    guard let range = scan.valueRange(after: afterName, end: end) else { return nil }
                    value = range
                    if depth == 0, scan.isNamed(name, "id") { (ids, id) = (ids + 1, range) }
                }
                if isLast {
                    if let key = keys.firstIndex(where: { scan.isNamed(name, $0) }) {
                        let depth = limits.maxDepth - path.count - 1
                        guard seen & (1 << key) == 0, let read = JSONSetAside.read(UnsafeBufferPointer(rebasing: bytes[value]), limits: limits, maxDepth: depth)
                        else { return nil }
                        seen |= 1 << key
                        if names.isEmpty {
                            names.reserveCapacity(keys.count)
                            values.reserveCapacity(keys.count)
                        }
                        names.append(keys[key])
                        values.append(read)
                        places |= 1 << count
                        if run < 0 { run = quote }
                    } else {
                        // A run of set-aside members before this one goes up to its name.
                        if run >= 0 { edits.append(JSONMemberScanner.Edit(run..<quote)) }
                        (run, keptEnd, kept) = (-1, value.upperBound, kept + 1)
                    }
                }
                count += 1
                previousEnd = value.upperBound
                return value
            }
            guard let after, step == nil || stepFound else { return nil }
            // A run that ends the object goes from where the last member that stays ends (with the
            // comma before it); when none stays, the object's member goes instead (`removal`).
            if isLast, run >= 0, keptEnd >= 0 { edits.append(JSONMemberScanner.Edit(keptEnd..<previousEnd)) }
            if isParent { parentCount = count }
            return after
        }
    }

    /// A member set aside: its place among its object's members, its name and its value.
    private typealias Aside = (place: Int, name: String, value: JSONValue)

    /// `document` with the members `aside` (in the order of their places, among `count` members)
    /// back in their places in the object at `path`; false when that object is not there, or holds
    /// one of their names already (written with escapes, so the scanner did not cut it: the whole
    /// document repeats the name).
    private static func placing(_ aside: some Collection<Aside>, among count: Int, into document: inout JSONObject, at path: ArraySlice<String>) -> Bool {
        guard let step = path.first else {
            guard document.count + aside.count == count, !aside.contains(where: { document[$0.name] != nil }) else { return false }
            // In the order of their places, each goes where it was: the members before it are all there.
            for member in aside { document.insert(member.value, forKey: member.name, at: member.place) }
            return true
        }
        return document.changingObject(under: step) { placing(aside, among: count, into: &$0, at: path.dropFirst()) }
    }

    /// A set-aside value from its bytes: a string of printable ASCII without escapes and an empty
    /// object directly, anything else parsed (nested within `maxDepth`); nil when it does not parse.
    private static func read(_ slice: UnsafeBufferPointer<UInt8>, limits: JSONParseLimits, maxDepth: Int) -> JSONValue? {
        if slice.count >= 2, slice.first == UInt8(ascii: "\""), slice.last == UInt8(ascii: "\"") {
            let inner = slice.dropFirst().dropLast()
            if inner.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
                return .string(String(decoding: inner, as: UTF8.self))
            }
        }
        if slice.elementsEqual("{}".utf8) { return .object([:]) }
        guard maxDepth >= 0 else { return nil }
        var nested = limits
        nested.maxDepth = maxDepth
        return try? JSONValue.parse(Array(slice), limits: nested)
    }
}
