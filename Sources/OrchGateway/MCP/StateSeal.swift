import Crypto
import Foundation
import OrchJSON

/// AES-256-GCM under orch.json's `gateway.stateKey`, for what the gateway hands a client to bring
/// back: relayed questions' `requestState` (`RequestStateSeal`) and legacy session ids
/// (`SessionSeal`). A client can neither read nor change what is sealed; replicas that share the
/// key open each other's. The first key seals and every listed one opens, so that a new key can be
/// rolled out ahead of the old one's removal; without a key, one random key of this process's.
///
/// A sealed text is `PURPOSE` `KEY.` `BOX`: the purpose (authenticated with the box, so that one
/// kind is never taken for another), eight hex digits naming the key that sealed it (a digest, not
/// the key: a replica without that key can say so), and the box in base64url.
struct StateSeal: Sendable {
    private struct Key: Sendable {
        let key: SymmetricKey
        /// The first 4 bytes of the key's SHA-256, hex.
        let name: String
    }

    /// The key that seals, then the others that still open.
    private let keys: [Key]

    /// `keys` are `gateway.stateKey`'s, each 32 bytes in base64 (as the compiler checked them);
    /// none: a random key of this process's.
    /// With `use`, each key is derived for it (HKDF-SHA256, `use` as the info), so that what is
    /// sealed for one use (stored connections) never opens as another's, or under the key itself.
    init(keys: [String], derivedFor use: String? = nil) {
        var decoded = keys.compactMap { Data(base64Encoded: $0) }.filter { $0.count == 32 }.map { SymmetricKey(data: $0) }
        if decoded.isEmpty { decoded = [SymmetricKey(size: .bits256)] }
        if let use {
            decoded = decoded.map { HKDF<SHA256>.deriveKey(inputKeyMaterial: $0, info: Data(use.utf8), outputByteCount: 32) }
        }
        self.keys = decoded.map { key in
            let digest = key.withUnsafeBytes { SHA256.hash(data: Data($0)) }
            return Key(key: key, name: digest.prefix(4).map { String(format: "%02x", $0) }.joined())
        }
    }

    /// What opening a sealed text found.
    enum Opening: Equatable {
        case opened([UInt8])
        /// Sealed with a key this gateway does not have (by its name): another replica's `stateKey`.
        case foreignKey(String)
        /// Not a sealed text of this purpose, or changed since it was sealed.
        case broken
    }

    /// `payload` sealed; `context` is authenticated with the purpose (what it is bound to, such as
    /// the user and server of a stored connection) but not written: opening needs the same.
    func seal(_ payload: [UInt8], purpose: String, boundTo context: String = "") -> String {
        let key = keys[0]
        // Sealing with a fresh random nonce cannot fail.
        let box = try! AES.GCM.seal(payload, using: key.key, authenticating: Data((purpose + context).utf8))
        return purpose + key.name + "." + Self.base64url(box.combined!)
    }

    func open(_ text: String, purpose: String, boundTo context: String = "") -> Opening {
        guard text.hasPrefix(purpose) else { return .broken }
        let rest = text.utf8.dropFirst(purpose.utf8.count)
        guard rest.count > 9, rest[rest.index(rest.startIndex, offsetBy: 8)] == UInt8(ascii: ".") else { return .broken }
        let name = String(decoding: rest.prefix(8), as: UTF8.self)
        guard let key = keys.first(where: { $0.name == name }) else { return .foreignKey(name) }
        guard let data = Self.data(base64url: rest.dropFirst(9)),
            let box = try? AES.GCM.SealedBox(combined: data),
            let plain = try? AES.GCM.open(box, using: key.key, authenticating: Data((purpose + context).utf8))
        else { return .broken }
        return .opened([UInt8](plain))
    }

    /// `data` in base64url without padding: the base64 bytes mapped one by one (a `String`
    /// search-and-replace costs several microseconds here).
    static func base64url(_ data: Data) -> String {
        var bytes = [UInt8](data.base64EncodedData())
        while bytes.last == UInt8(ascii: "=") { bytes.removeLast() }
        for index in bytes.indices {
            switch bytes[index] {
            case UInt8(ascii: "+"): bytes[index] = UInt8(ascii: "-")
            case UInt8(ascii: "/"): bytes[index] = UInt8(ascii: "_")
            default: break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes of base64url `text` (unpadded); nil for text that is not base64url. Decoded here
    /// by a table: mapping the text to base64 for Foundation cost more than the AES-GCM open.
    static func data(base64url text: some Collection<UInt8>) -> Data? {
        var out = [UInt8]()
        out.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        let valid = base64urlValues.withUnsafeBufferPointer { table in
            for byte in text {
                let value = table[Int(byte)]
                guard value < 64 else { return false }
                accumulator = accumulator << 6 | UInt32(value)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                }
            }
            return true
        }
        // What is left must be padding bits of zero, fewer than a byte's.
        guard valid, bits < 6, accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return Data(out)
    }

    /// Each byte's value in base64url; 255 for a byte that is none of its 64 characters.
    private static let base64urlValues: [UInt8] = {
        var table = [UInt8](repeating: 255, count: 256)
        for (index, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8.enumerated() {
            table[Int(character)] = UInt8(index)
        }
        return table
    }()
}
