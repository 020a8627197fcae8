import Crypto
import Foundation
import OrchJSON

/// Seals the `requestState` the gateway gives a 2026-07-28 client when it relays a handshake-era
/// server's question (`HeldCall`), sealed (`StateSeal`) over what the state is bound to, so that a
/// client can neither read nor change it, nor use another's.
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

    let sealer: StateSeal
    static let purpose = "orch1."

    init(_ sealer: StateSeal) { self.sealer = sealer }

    /// `keys` as `StateSeal(keys:)` takes them.
    init(keys: [String]) { self.init(StateSeal(keys: keys)) }

    func seal(_ binding: Binding) -> String {
        let payload: JSONValue = [
            "u": .string(binding.user), "k": .string(binding.credential), "s": .string(binding.server), "m": .string(binding.method),
            "h": .string(binding.call), "c": .string(binding.heldCall), "q": .string(binding.question), "x": .integer(binding.expires),
        ]
        return sealer.seal(Array(payload.compact.utf8), purpose: Self.purpose)
    }

    /// The binding `state` was sealed with; nil for a state the gateway did not make with this key,
    /// or one changed since.
    func open(_ state: String) -> Binding? {
        guard case .opened(let plain) = sealer.open(state, purpose: Self.purpose), let payload = try? JSONValue.parse(plain) else { return nil }
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
}
