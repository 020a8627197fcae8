import Crypto
import Foundation
import OrchJSON

/// Seals the `requestState` the gateway gives a 2026-07-28 client when it relays a handshake-era
/// server's question (`HeldCall`): AES-256-GCM over what the state is bound to, so a client can
/// neither read nor change it, nor use another's. The keys are orch.json's `gateway.stateKey`
/// (replicas that share it open each other's states; the first seals, every one opens, so that a
/// new key can be rolled out ahead of the old one's removal) or one random key per process.
struct RequestStateSeal: Sendable {
    /// What a state is bound to: who asked, where, which call, and until when.
    struct Binding: Sendable, Equatable {
        let user: String
        /// The key's or sign-in's identity, never the token.
        let credential: String
        /// `ORG/SERVER`.
        let server: String
        let method: String
        /// SHA-256 of the call's params (keys sorted; `_meta`, `inputResponses` and `requestState`
        /// left out), hex.
        let call: String
        /// The held call and the question of its that this state answers.
        let heldCall: String
        let question: String
        /// Seconds since 1970.
        let expires: Int64
    }

    /// The key that seals, then the others that still open.
    private let keys: [SymmetricKey]
    static let prefix = "orch1."

    /// `keys` are `gateway.stateKey`'s, each 32 bytes in base64 (as the compiler checked them);
    /// none: a random key of this process's.
    init(keys: [String]) {
        let decoded = keys.compactMap { Data(base64Encoded: $0) }.filter { $0.count == 32 }.map { SymmetricKey(data: $0) }
        self.keys = decoded.isEmpty ? [SymmetricKey(size: .bits256)] : decoded
    }

    func seal(_ binding: Binding) -> String {
        let payload: JSONValue = [
            "u": .string(binding.user), "k": .string(binding.credential), "s": .string(binding.server), "m": .string(binding.method),
            "h": .string(binding.call), "c": .string(binding.heldCall), "q": .string(binding.question), "x": .integer(binding.expires),
        ]
        // Sealing with a fresh random nonce cannot fail.
        let box = try! AES.GCM.seal(Data(payload.compact.utf8), using: keys[0])
        return Self.prefix + Self.base64url(box.combined!)
    }

    /// The binding `state` was sealed with; nil for a state the gateway did not make with this key,
    /// or one changed since.
    func open(_ state: String) -> Binding? {
        guard state.hasPrefix(Self.prefix), let data = Self.data(base64url: String(state.dropFirst(Self.prefix.count))),
            let box = try? AES.GCM.SealedBox(combined: data), let plain = keys.lazy.compactMap({ try? AES.GCM.open(box, using: $0) }).first,
            let payload = try? JSONValue.parse([UInt8](plain))
        else { return nil }
        guard let user = payload["u"]?.stringValue, let credential = payload["k"]?.stringValue, let server = payload["s"]?.stringValue,
            let method = payload["m"]?.stringValue, let call = payload["h"]?.stringValue, let heldCall = payload["c"]?.stringValue,
            let question = payload["q"]?.stringValue, let expires = payload["x"]?.integerValue
        else { return nil }
        return Binding(user: user, credential: credential, server: server, method: method, call: call, heldCall: heldCall,
                       question: question, expires: expires)
    }

    /// The digest a state binds a call to.
    static func digest(method: String, params: JSONObject) -> String {
        var call = params
        for key in ["_meta", "inputResponses", "requestState"] { call[key] = nil }
        let text = method + "\n" + canonical(.object(call))
        return SHA256.hash(data: Data(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// `value` as compact JSON with every object's keys sorted, so that the same call written with
    /// its keys in another order has the same digest.
    static func canonical(_ value: JSONValue) -> String {
        switch value {
        case .object(let object):
            let members = object.sorted { $0.key < $1.key }.map { JSONValue.string($0.key).compact + ":" + canonical($0.value) }
            return "{" + members.joined(separator: ",") + "}"
        case .array(let items):
            return "[" + items.map(canonical).joined(separator: ",") + "]"
        default:
            return value.compact
        }
    }

    private static func base64url(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func data(base64url text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
