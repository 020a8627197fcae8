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
    /// The document's top-level members, as `JSONMemberScanner.members(in:)` reads them.
    public let top: [JSONMemberScanner.Member]
    /// The edits that take the set-aside members (and their commas) out of the bytes.
    public let cuts: [JSONMemberScanner.Edit]

    /// - Parameters:
    ///   - keys: the names of the members to set aside (none present is nil: nothing to gain).
    ///   - path: the top-level member names that lead to their object, one level each.
    ///
    /// When the set-aside members are all of their object's (a 2026-07-28 `_meta` that holds the
    /// envelope alone), the object goes too: the cuts take its member out of the one above, and
    /// the rest has no such member (nor one to parse).
    public init?(_ bytes: [UInt8], limits: JSONParseLimits, keys: [String], at path: [String]) {
        guard bytes.count <= limits.maxBytes, keys.count <= 64, let (levels, place) = JSONMemberScanner.members(in: bytes, along: path) else {
            return nil
        }
        // The object's members, and its place among its parent's (`parent`).
        let (top, members) = (levels[0], levels[path.count])
        let parent = levels[path.isEmpty ? 0 : path.count - 1]
        // The members that are keys (each at most once): their places, names and values.
        var (places, names, values) = ([Int](), [String](), [JSONValue]())
        places.reserveCapacity(keys.count)
        names.reserveCapacity(keys.count)
        values.reserveCapacity(keys.count)
        var seen: UInt64 = 0
        let depth = limits.maxDepth - path.count - 1
        for (index, member) in members.enumerated() {
            guard let key = keys.firstIndex(where: { JSONMemberScanner.isNamed(member, $0, in: bytes) }) else { continue }
            guard seen & (1 << key) == 0, let value = Self.read(bytes[member.value], limits: limits, maxDepth: depth) else { return nil }
            seen |= 1 << key
            places.append(index)
            names.append(keys[key])
            values.append(value)
        }
        guard !places.isEmpty else { return nil }
        let whole = !path.isEmpty && places.count == members.count
        let cuts: [JSONMemberScanner.Edit]
        if whole {
            cuts = [JSONMemberScanner.removal(of: place...place, from: parent)]
        } else {
            var cut = [Bool](repeating: false, count: members.count)
            for index in places { cut[index] = true }
            cuts = JSONMemberScanner.removals(cutting: cut, from: members)
        }
        guard case .object(var document)? = try? JSONValue.parse(JSONMemberScanner.applying(cuts, to: bytes), limits: limits) else { return nil }
        let placed: Bool
        if whole {
            let object = JSONValue.object(JSONObject(uniqueKeys: names, values: values))
            placed = Self.inserting(object, named: path[path.count - 1], at: place, among: parent.count, into: &document, at: path.dropLast())
        } else {
            placed = Self.placing(places, names: names, values: values, among: members.count, into: &document, at: path[...])
        }
        guard placed else { return nil }
        (self.value, self.top, self.cuts) = (.object(document), top, cuts)
    }

    /// `document` with the set-aside values (`names`, `values`, at `places` among `count` members)
    /// back in their places in the object at `path`; false when that object is not there, or holds
    /// a set-aside key already (written with escapes, so the scanner did not cut it: the whole
    /// document repeats the key).
    private static func placing(
        _ places: [Int], names: [String], values: [JSONValue], among count: Int, into document: inout JSONObject, at path: ArraySlice<String>
    ) -> Bool {
        guard let step = path.first else {
            guard document.count + places.count == count, !names.contains(where: { document[$0] != nil }) else { return false }
            var (allNames, allValues) = ([String](), [JSONValue]())
            allNames.reserveCapacity(count)
            allValues.reserveCapacity(count)
            var (rest, aside) = (0, 0)
            for index in 0..<count {
                if aside < places.count, places[aside] == index {
                    allNames.append(names[aside])
                    allValues.append(values[aside])
                    aside += 1
                } else {
                    allNames.append(document.keys[rest])
                    allValues.append(document.values[rest])
                    rest += 1
                }
            }
            document = JSONObject(uniqueKeys: allNames, values: allValues)
            return true
        }
        return document.changingObject(under: step) { placing(places, names: names, values: values, among: count, into: &$0, at: path.dropFirst()) }
    }

    /// `document` with `value` under `name` at `place` (among `count` members) in the object at
    /// `path`; false when that object is not there or has the name already (written with escapes).
    private static func inserting(
        _ value: JSONValue, named name: String, at place: Int, among count: Int, into document: inout JSONObject, at path: ArraySlice<String>
    ) -> Bool {
        guard let step = path.first else {
            guard document.count + 1 == count, document[name] == nil else { return false }
            document.insert(value, forKey: name, at: place)
            return true
        }
        return document.changingObject(under: step) { inserting(value, named: name, at: place, among: count, into: &$0, at: path.dropFirst()) }
    }

    /// A set-aside value from its bytes: a string of printable ASCII without escapes and an empty
    /// object directly, anything else parsed (nested within `maxDepth`); nil when it does not parse.
    private static func read(_ slice: ArraySlice<UInt8>, limits: JSONParseLimits, maxDepth: Int) -> JSONValue? {
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
