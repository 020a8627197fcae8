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
    init(keys: [String]) {
        var decoded = keys.compactMap { Data(base64Encoded: $0) }.filter { $0.count == 32 }.map { SymmetricKey(data: $0) }
        if decoded.isEmpty { decoded = [SymmetricKey(size: .bits256)] }
        self.keys = decoded.map { key in
            let digest = key.withUnsafeBytes { SHA256.hash(data: Data($0)) }
            return Key(key: key, name: digest.prefix(4).map { String(format: "%02x", $0) }.joined())
        }
    }

    /// What opening a sealed text found.
    enum Opening: Equatable {
        case opened(JSONValue)
        /// Sealed with a key this gateway does not have (by its name): another replica's `stateKey`.
        case foreignKey(String)
        /// Not a sealed text of this purpose, or changed since it was sealed.
        case broken
    }

    func seal(_ payload: JSONValue, purpose: String) -> String {
        let key = keys[0]
        // Sealing with a fresh random nonce cannot fail.
        let box = try! AES.GCM.seal(Data(payload.compact.utf8), using: key.key, authenticating: Data(purpose.utf8))
        return purpose + key.name + "." + Self.base64url(box.combined!)
    }

    func open(_ text: String, purpose: String) -> Opening {
        guard text.hasPrefix(purpose) else { return .broken }
        let rest = text.utf8.dropFirst(purpose.utf8.count)
        guard rest.count > 9, rest[rest.index(rest.startIndex, offsetBy: 8)] == UInt8(ascii: ".") else { return .broken }
        let name = String(decoding: rest.prefix(8), as: UTF8.self)
        guard let key = keys.first(where: { $0.name == name }) else { return .foreignKey(name) }
        guard let data = Self.data(base64url: String(decoding: rest.dropFirst(9), as: UTF8.self)),
            let box = try? AES.GCM.SealedBox(combined: data),
            let plain = try? AES.GCM.open(box, using: key.key, authenticating: Data(purpose.utf8)),
            let payload = try? JSONValue.parse([UInt8](plain))
        else { return .broken }
        return .opened(payload)
    }

    static func base64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func data(base64url text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
