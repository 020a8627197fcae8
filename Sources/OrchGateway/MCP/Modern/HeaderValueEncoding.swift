import Foundation

/// How a client carries a value in an `Mcp-Name` or `Mcp-Param-*` header: as it is when it is
/// printable ASCII without surrounding spaces, else as `=?base64?…?=` around its UTF-8 bytes.
enum HeaderValueEncoding {
    private static let prefix = Array("=?base64?".utf8)
    private static let suffix = Array("?=".utf8)

    /// `value` as a header carries it: as it is when it is printable ASCII without a space at
    /// either end and does not itself look like the sentinel, else base64 in the sentinel.
    static func encode(_ value: String) -> String {
        let bytes = Array(value.utf8)
        let plain = bytes.allSatisfy { (0x20...0x7E).contains($0) } && bytes.first != 0x20 && bytes.last != 0x20
        let lookalike = bytes.count >= prefix.count + suffix.count && bytes.starts(with: prefix) && bytes.suffix(suffix.count).elementsEqual(suffix)
        if plain, !lookalike { return value }
        return "=?base64?" + Data(bytes).base64EncodedString() + "?="
    }

    /// The value a header carries, or nil for a malformed sentinel (bad or non-canonical base64, or
    /// bytes that are not UTF-8), so that a corrupt header never matches a body value by accident.
    static func decode(_ header: String) -> String? {
        guard header.utf8.count >= prefix.count + suffix.count, header.utf8.starts(with: prefix) else { return header }
        let bytes = Array(header.utf8)
        guard bytes.suffix(suffix.count).elementsEqual(suffix) else { return header }
        let payload = String(decoding: bytes[prefix.count..<(bytes.count - suffix.count)], as: UTF8.self)
        // Only the canonical form (what an encoder writes) is read: re-encoding must give it back.
        guard let decoded = Data(base64Encoded: payload), decoded.base64EncodedString() == payload else { return nil }
        return String(bytes: decoded, encoding: .utf8)
    }
}
