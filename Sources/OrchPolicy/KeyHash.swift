import Foundation

/// The SHA-256 of an API token: what orch.json stores and what the key index is keyed by.
public struct KeyHash: Sendable, Hashable, CustomStringConvertible {
    // 32 bytes held inline so a lookup allocates nothing.
    private let words: (UInt64, UInt64, UInt64, UInt64)

    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32)
        var w: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &w) { $0.copyBytes(from: bytes) }
        words = w
    }

    /// The hash of a token (its UTF-8 bytes).
    public init(token: String) {
        var w: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var token = token
        token.withUTF8 { text in
            withUnsafeMutableBytes(of: &w) { Crypto.sha256(UnsafeRawBufferPointer(text), into: $0) }
        }
        words = w
    }

    /// Parses 64 lowercase hex characters.
    public init?(hex: String) {
        // Read in place, without a copy: a large file has tens of thousands of keys.
        var hex = hex
        var w: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let valid = hex.withUTF8 { text in
            guard text.count == 64 else { return false }
            return withUnsafeMutableBytes(of: &w) { out in
                for i in 0..<32 {
                    guard let high = KeyHash.nibble(text[2 * i]), let low = KeyHash.nibble(text[2 * i + 1]) else { return false }
                    out[i] = high << 4 | low
                }
                return true
            }
        }
        guard valid else { return nil }
        words = w
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    public var bytes: [UInt8] {
        withUnsafeBytes(of: words) { Array($0) }
    }

    public var hex: String { Hex.encode(bytes) }

    /// The first 8 hex characters: enough to tell keys apart in a listing, never the whole hash.
    public var shortHex: String { String(hex.prefix(8)) }

    public var description: String { "sha256:\(shortHex)…" }

    public static func == (lhs: KeyHash, rhs: KeyHash) -> Bool {
        withUnsafeBytes(of: lhs.words) { a in withUnsafeBytes(of: rhs.words) { b in Crypto.constantTimeEqual(a, b) } }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
    }
}

public enum Hex {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// API tokens: `orch_` + 43 base64url characters from 32 random bytes.
public enum Token {
    public static let prefix = "orch_"

    public static func mint() -> String {
        prefix + base64URL(Crypto.randomBytes(32))
    }

    /// The policy digest of a file's bytes: `sha256:` + hex.
    public static func digest(of bytes: [UInt8]) -> String {
        "sha256:" + Hex.encode(Crypto.sha256(bytes))
    }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
