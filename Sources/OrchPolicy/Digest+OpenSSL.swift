// Every call into OpenSSL lives in this file.
internal import COpenSSL

/// SHA-256, randomness and constant-time comparison, from OpenSSL's libcrypto.
public enum Crypto {
    /// The SHA-256 of `bytes`, 32 bytes.
    public static func sha256(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 32) { out, count in
            orch_sha256(bytes.baseAddress, bytes.count, out.baseAddress)
            count = 32
        }
    }

    /// Writes the SHA-256 of `bytes` into `out`, which must hold 32 bytes.
    public static func sha256(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 32)
        orch_sha256(bytes.baseAddress, bytes.count, out.baseAddress?.assumingMemoryBound(to: UInt8.self))
    }

    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { sha256($0) }
    }

    /// The SHA-256 of a string's UTF-8 bytes, without copying them.
    public static func sha256(_ text: String) -> [UInt8] {
        var text = text
        return text.withUTF8 { sha256(UnsafeRawBufferPointer($0)) }
    }

    /// `count` bytes from OpenSSL's CSPRNG. Traps if the generator fails: a token must never be
    /// minted from weak randomness.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: count) { out, filled in
            precondition(RAND_bytes(out.baseAddress, Int32(count)) == 1, "OpenSSL RAND_bytes failed")
            filled = count
        }
    }

    /// Compares two buffers of equal length in time independent of their contents.
    public static func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && CRYPTO_memcmp(a.baseAddress, b.baseAddress, a.count) == 0
    }
}
