import Foundation

/// How a client carries a value in an `Mcp-Name` or `Mcp-Param-*` header: as it is when it is
/// printable ASCII without surrounding spaces, else as `=?base64?…?=` around its UTF-8 bytes.
enum HeaderValueEncoding {
    private static let prefix = Array("=?base64?".utf8)
    private static let suffix = Array("?=".utf8)

    /// The value a header carries, or nil for a malformed sentinel (bad or non-canonical base64, or
    /// bytes that are not UTF-8), so that a corrupt header never matches a body value by accident.
    static func decode(_ header: String) -> String? {
        let bytes = Array(header.utf8)
        guard bytes.count >= prefix.count + suffix.count, bytes.starts(with: prefix), bytes.suffix(suffix.count).elementsEqual(suffix) else {
            return header
        }
        let payload = String(decoding: bytes[prefix.count..<(bytes.count - suffix.count)], as: UTF8.self)
        // Only the canonical form (what an encoder writes) is read: re-encoding must give it back.
        guard let decoded = Data(base64Encoded: payload), decoded.base64EncodedString() == payload else { return nil }
        return String(bytes: decoded, encoding: .utf8)
    }
}
