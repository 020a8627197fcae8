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
        // The members that are keys (each at most once), in their order.
        var aside: [Aside] = []
        aside.reserveCapacity(keys.count)
        var seen: UInt64 = 0
        let depth = limits.maxDepth - path.count - 1
        for (index, member) in members.enumerated() {
            guard let key = keys.firstIndex(where: { JSONMemberScanner.isNamed(member, $0, in: bytes) }) else { continue }
            guard seen & (1 << key) == 0, let value = Self.read(bytes[member.value], limits: limits, maxDepth: depth) else { return nil }
            seen |= 1 << key
            aside.append((index, keys[key], value))
        }
        guard !aside.isEmpty else { return nil }
        let whole = !path.isEmpty && aside.count == members.count
        let cuts: [JSONMemberScanner.Edit]
        if whole {
            cuts = [JSONMemberScanner.removal(of: place...place, from: parent)]
        } else {
            var cut = [Bool](repeating: false, count: members.count)
            for member in aside { cut[member.place] = true }
            cuts = JSONMemberScanner.removals(cutting: cut, from: members)
        }
        guard case .object(var document)? = try? JSONValue.parse(JSONMemberScanner.applying(cuts, to: bytes), limits: limits) else { return nil }
        let placed: Bool
        if whole {
            let object = JSONValue.object(JSONObject(uniqueKeys: aside.map(\.name), values: aside.map(\.value)))
            placed = Self.placing(CollectionOfOne((place, path[path.count - 1], object)), among: parent.count, into: &document, at: path.dropLast())
        } else {
            placed = Self.placing(aside, among: members.count, into: &document, at: path[...])
        }
        guard placed else { return nil }
        (self.value, self.top, self.cuts) = (.object(document), top, cuts)
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
