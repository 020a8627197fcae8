import Crypto
import Foundation
import OrchJSON

/// What a legacy (Streamable HTTP) session id says of its session, so that any replica with the
/// `gateway.stateKey` that sealed it can re-create the session it names (`SessionRecreation`).
struct SealedSession: Sendable, Equatable {
    let user: String
    /// The key's id; nil for a sign-in.
    let keyID: String?
    /// `SessionSeal.fingerprint(_:)` of the key's hash or the sign-in's issuer and subject: a key
    /// rotated under the same id does not take the old key's ids.
    let credential: String
    /// `ORG/SERVER`, or an aggregated endpoint's path (`/orgs/ORG/mcp`, `/mcp`).
    let endpoint: String
    /// The protocol version the session negotiated.
    let version: String
    /// The client's `initialize` capabilities (only their names when the whole does not fit).
    let capabilities: JSONObject
    /// The client's `clientInfo` name and version, each cut to 64 bytes.
    let clientName: String
    let clientVersion: String
    /// Seconds since 1970.
    let issued: Int64
    let expires: Int64

    init(user: String, keyID: String?, credential: String, endpoint: String, version: String, capabilities: JSONObject,
         clientName: String, clientVersion: String, issued: Int64, expires: Int64) {
        self.user = user
        self.keyID = keyID
        self.credential = credential
        self.endpoint = endpoint
        self.version = version
        self.capabilities = capabilities
        self.clientName = Self.cut(clientName)
        self.clientVersion = Self.cut(clientVersion)
        self.issued = issued
        self.expires = expires
    }

    /// The `initialize` params a replica that re-creates the session sends its server: the
    /// session's version, the client's capabilities and its name and version.
    var initializeParams: JSONObject {
        ["protocolVersion": .string(version), "capabilities": .object(capabilities),
         "clientInfo": ["name": .string(clientName), "version": .string(clientVersion)]]
    }

    /// `text` cut to at most 64 bytes of UTF-8, at a character's boundary.
    static func cut(_ text: String) -> String {
        guard text.utf8.count > 64 else { return text }
        var cut = ""
        for character in text {
            guard cut.utf8.count + character.utf8.count <= 64 else { break }
            cut.append(character)
        }
        return cut
    }

    fileprivate var payload: JSONValue {
        var payload: JSONObject = [
            "u": .string(user), "f": .string(credential), "e": .string(endpoint), "v": .string(version),
            "c": .object(capabilities), "n": .string(clientName), "w": .string(clientVersion), "i": .integer(issued), "x": .integer(expires),
        ]
        if let keyID { payload["k"] = .string(keyID) }
        return .object(payload)
    }

    fileprivate init?(payload: JSONValue) {
        guard let user = payload["u"]?.stringValue, let credential = payload["f"]?.stringValue, let endpoint = payload["e"]?.stringValue,
            let version = payload["v"]?.stringValue, let capabilities = payload["c"]?.objectValue, let name = payload["n"]?.stringValue,
            let clientVersion = payload["w"]?.stringValue, let issued = payload["i"]?.integerValue, let expires = payload["x"]?.integerValue
        else { return nil }
        self.init(user: user, keyID: payload["k"]?.stringValue, credential: credential, endpoint: endpoint, version: version,
                  capabilities: capabilities, clientName: name, clientVersion: clientVersion, issued: issued, expires: expires)
    }

    /// The same session with only the names of the client's capabilities, or none.
    fileprivate func reduced(toNames: Bool) -> SealedSession {
        let names = toNames ? JSONObject(capabilities.map { ($0.0, JSONValue.object([:])) }) : [:]
        return SealedSession(user: user, keyID: keyID, credential: credential, endpoint: endpoint, version: version, capabilities: names,
                             clientName: clientName, clientVersion: clientVersion, issued: issued, expires: expires)
    }
}

/// Seals legacy session ids (`SealedSession`), at most `maxLength` characters, URL- and
/// header-safe (`s1.` and base64url).
struct SessionSeal: Sendable {
    let sealer: StateSeal
    static let purpose = "s1."
    static let maxLength = 512

    init(_ sealer: StateSeal) { self.sealer = sealer }

    /// The session's id; capabilities that do not fit in `maxLength` are cut to their names, and
    /// those to none.
    func seal(_ session: SealedSession) -> String {
        var id = sealer.seal(session.payload, purpose: Self.purpose)
        for toNames in [true, false] where id.utf8.count > Self.maxLength {
            id = sealer.seal(session.reduced(toNames: toNames).payload, purpose: Self.purpose)
        }
        return id
    }

    enum Opening: Equatable {
        case opened(SealedSession)
        /// Sealed with another `stateKey` (its name, `StateSeal`).
        case foreignKey(String)
        /// Not a session id of the gateway's, or changed since.
        case broken
    }

    func open(_ id: String) -> Opening {
        guard id.utf8.count <= Self.maxLength else { return .broken }
        switch sealer.open(id, purpose: Self.purpose) {
        case .opened(let payload): return SealedSession(payload: payload).map { .opened($0) } ?? .broken
        case .foreignKey(let name): return .foreignKey(name)
        case .broken: return .broken
        }
    }

    /// What a session id names its credential by: 16 characters of a digest of the key's hash, or
    /// of the sign-in's issuer and subject, so that the id says nothing of either.
    static func fingerprint(_ credential: Credential) -> String {
        let text = switch credential {
        case .key(let hash): "key \(hash)"
        case .token(let issuer, let subject, let claim): "token \(issuer)\n\(subject)\n\(claim)"
        }
        return StateSeal.base64url(Data(SHA256.hash(data: Data(text.utf8)).prefix(12)))
    }
}
