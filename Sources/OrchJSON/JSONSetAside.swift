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
    public init?(_ bytes: [UInt8], limits: JSONParseLimits, keys: [String], at path: [String]) {
        guard bytes.count <= limits.maxBytes, let top = JSONMemberScanner.members(in: bytes) else { return nil }
        var members = top
        for step in path {
            guard let named = JSONMemberScanner.only(step, in: members, bytes), bytes[named.value.lowerBound] == UInt8(ascii: "{"),
                let inner = JSONMemberScanner.members(in: bytes, within: named.value)
            else { return nil }
            members = inner
        }
        guard let cuts = JSONMemberScanner.memberRemovals(keys, at: [], in: bytes, top: members), !cuts.isEmpty else { return nil }
        // The values set aside, by their place among the object's members.
        var asideValues = [JSONValue?](repeating: nil, count: members.count)
        let depth = limits.maxDepth - path.count - 1
        for (index, member) in members.enumerated() where keys.contains(where: { JSONMemberScanner.isNamed(member, $0, in: bytes) }) {
            guard let value = Self.read(bytes[member.value], limits: limits, maxDepth: depth) else { return nil }
            asideValues[index] = value
        }
        guard case .object(var document)? = try? JSONValue.parse(JSONMemberScanner.applying(cuts, to: bytes), limits: limits),
            let placed = Self.placing(asideValues, keys: keys, among: members, in: bytes, into: &document, at: path[...])
        else { return nil }
        (self.value, self.top, self.cuts) = (.object(placed), top, cuts)
    }

    /// `document` with the set-aside values back in their places in the object at `path`; nil when
    /// that object is not there, or holds a set-aside key already (written with escapes, so the
    /// scanner did not cut it: the whole document repeats the key).
    private static func placing(
        _ aside: [JSONValue?], keys: [String], among members: [JSONMemberScanner.Member], in bytes: [UInt8],
        into document: inout JSONObject, at path: ArraySlice<String>
    ) -> JSONObject? {
        guard let step = path.first else {
            guard document.count + aside.count(where: { $0 != nil }) == members.count, !keys.contains(where: { document[$0] != nil }) else { return nil }
            var (names, values) = ([String](), [JSONValue]())
            names.reserveCapacity(members.count)
            values.reserveCapacity(members.count)
            var rest = 0
            for index in members.indices {
                if let value = aside[index] {
                    names.append(String(decoding: bytes[members[index].name], as: UTF8.self))
                    values.append(value)
                } else {
                    names.append(document.keys[rest])
                    values.append(document.values[rest])
                    rest += 1
                }
            }
            return JSONObject(uniqueKeys: names, values: values)
        }
        guard case .object(var inner)? = document[step] else { return nil }
        document[step] = .null  // so that `inner` is the only reference and changes in place
        guard let placed = placing(aside, keys: keys, among: members, in: bytes, into: &inner, at: path.dropFirst()) else { return nil }
        document[step] = .object(placed)
        return document
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
