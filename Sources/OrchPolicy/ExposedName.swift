import Foundation

/// The names tools and prompts take on the aggregated endpoints: `PREFIX__NAME` on
/// `/orgs/{org}/mcp`, `ORG__PREFIX__NAME` on `/mcp`, where PREFIX is the server's `prefix` (by
/// default its name).
///
/// A name depends only on its org, server and upstream name, never on the other tools present, so
/// it does not change when servers or tools come and go. It always matches `^[a-zA-Z0-9_-]{1,64}$`
/// (what Claude Desktop and model APIs accept): an upstream name with other characters has each
/// of them replaced by `_` and gets `-` and six hex digits of its SHA-256 appended, so that `a.b`
/// and `a_b` stay apart; a name that would pass 64 characters is cut to fit, with the same suffix.
/// Routing back goes through a table (`ExposedNames`), never by splitting the name.
public enum ExposedName {
    public static let maxLength = 64
    public static let separator = "__"
    private static let suffixLength = 7  // "-" and six hex digits

    /// `PREFIX__NAME`, or `ORG__PREFIX__NAME` when `org` is given; nil when the prefix alone
    /// leaves no room for a name.
    public static func make(org: String? = nil, prefix: String, name: String) -> String? {
        let head = (org.map { $0 + separator } ?? "") + prefix + separator
        let room = maxLength - head.utf8.count
        var mapped = ""
        mapped.reserveCapacity(name.utf8.count)
        var changed = name.isEmpty
        for byte in name.utf8 {
            if isAllowed(byte) {
                mapped.unicodeScalars.append(Unicode.Scalar(byte))
            } else if byte & 0xC0 != 0x80 {  // one `_` per character, not per UTF-8 byte
                mapped += "_"
                changed = true
            } else {
                changed = true
            }
        }
        if !changed && mapped.utf8.count <= room { return head + mapped }
        guard room > suffixLength else { return nil }
        let hex = Hex.encode(Crypto.sha256(name)).prefix(6)
        return head + mapped.prefix(room - suffixLength) + "-" + hex
    }

    /// Whether `text` may be a whole exposed name.
    public static func isValid(_ text: String) -> Bool {
        (1...maxLength).contains(text.utf8.count) && text.utf8.allSatisfy(isAllowed)
    }

    /// A server's `prefix`: allowed characters, no `__` (it separates the parts), neither starting
    /// nor ending with `_` (which would run into the separator).
    public static func prefixProblem(_ prefix: String) -> String? {
        if prefix.isEmpty || prefix.utf8.count > 32 { return "must be 1 to 32 characters" }
        if !prefix.utf8.allSatisfy(isAllowed) { return "may hold only a-z, A-Z, 0-9, '_' and '-'" }
        if prefix.contains(separator) { return "may not contain \"__\", which separates the parts of an exposed name" }
        if prefix.hasPrefix("_") || prefix.hasSuffix("_") { return "may not start or end with '_'" }
        return nil
    }

    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"), UInt8(ascii: "-"):
            return true
        default:
            return false
        }
    }
}

/// The routing table of one aggregated session: exposed name → (server, upstream name), built as
/// lists come in. A second upstream name that maps to a name already taken (only possible through
/// a hash collision of the suffix) is kept apart with a longer suffix, never dropped.
public struct ExposedNames: Sendable {
    /// A server (`ORG/SERVER`, which a reload does not renumber) and an upstream name.
    public struct Origin: Sendable, Hashable {
        public let server: String
        public let name: String

        public init(server: String, name: String) {
            self.server = server
            self.name = name
        }
    }

    private var origins: [String: Origin] = [:]
    private var exposed: [Origin: String] = [:]

    public init() {}

    /// The exposed name of `name` on `server`, recorded for routing; nil when it cannot be exposed
    /// (the prefix leaves no room).
    public mutating func expose(_ name: String, server: String, org: String?, prefix: String) -> String? {
        let origin = Origin(server: server, name: name)
        if let known = exposed[origin] { return known }
        guard var candidate = ExposedName.make(org: org, prefix: prefix, name: name) else { return nil }
        var attempt = 1
        while let taken = origins[candidate], taken != origin {
            // Distinct upstream names that meet: give this one a suffix of its own, deterministic
            // in its name and the attempt.
            guard let next = ExposedName.make(org: org, prefix: prefix, name: name + "#\(attempt)") else { return nil }
            candidate = next
            attempt += 1
        }
        origins[candidate] = origin
        exposed[origin] = candidate
        return candidate
    }

    /// Where a call to `exposedName` goes.
    public func origin(of exposedName: String) -> Origin? { origins[exposedName] }

    public var count: Int { origins.count }
}

/// Resource URIs and URI templates on the aggregated endpoints: `orch:PREFIX/ENCODED` on
/// `/orgs/{org}/mcp` and `orch:ORG/PREFIX/ENCODED` on `/mcp`, where ENCODED is the server's own
/// URI with every character but RFC 3986's unreserved ones percent-encoded. The result is a valid
/// URI naming the server, and reading it back is percent-decoding what follows the prefix. In a
/// template, `{…}` expressions are kept as they are, so a client expands them in place.
public enum ExposedURI {
    public static func make(org: String? = nil, prefix: String, uri: String, template: Bool = false) -> String {
        var out = "orch:" + (org.map { $0 + "/" } ?? "") + prefix + "/"
        var inExpression = false
        for byte in uri.utf8 {
            if template && byte == UInt8(ascii: "{") { inExpression = true }
            if inExpression || isUnreserved(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
            if template && byte == UInt8(ascii: "}") { inExpression = false }
        }
        return out
    }

    /// `text` with every character but RFC 3986's unreserved ones percent-encoded (uppercase hex),
    /// as a URI carries a value.
    public static func percentEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            if isUnreserved(byte) {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// The org (on `/mcp`), prefix and server URI an exposed URI names; nil for any other URI.
    public static func parse(_ exposed: String, withOrg: Bool) -> (org: String?, prefix: String, uri: String)? {
        guard exposed.hasPrefix("orch:") else { return nil }
        let parts = exposed.dropFirst(5).split(separator: "/", maxSplits: withOrg ? 2 : 1, omittingEmptySubsequences: false)
        guard parts.count == (withOrg ? 3 : 2), parts.dropLast().allSatisfy({ !$0.isEmpty }) else { return nil }
        guard let uri = String(parts[parts.count - 1]).removingPercentEncoding else { return nil }
        return (withOrg ? String(parts[0]) : nil, String(parts[parts.count - 2]), uri)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
