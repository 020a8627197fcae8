import Crypto
import Foundation
public import OrchJSON

/// What a legacy (Streamable HTTP) session id says of its session, so that any replica with the
/// `gateway.stateKey` that sealed it can re-create the session it names (`SessionRecreation`).
public struct SealedSession: Sendable, Equatable {
    public let user: String
    /// The key's id; nil for a sign-in.
    public let keyID: String?
    /// `SessionSeal.fingerprint(_:)` of the key's hash or the sign-in's issuer and subject: a key
    /// rotated under the same id does not take the old key's ids.
    public let credential: String
    /// `ORG/SERVER`, or an aggregated endpoint's path (`/orgs/ORG/mcp`, `/mcp`).
    public let endpoint: String
    /// The protocol version the session negotiated.
    public let version: String
    /// The client's `initialize` capabilities (only their names when the whole does not fit),
    /// read from the id only when a session is re-created: checking an id needs none of it.
    public var capabilities: JSONObject { (try? JSONValue.parse(encodedCapabilities))?.objectValue ?? [:] }
    private let encodedCapabilities: [UInt8]
    /// The client's `clientInfo` name and version, each cut to 64 bytes.
    public let clientName: String
    public let clientVersion: String
    /// Seconds since 1970.
    public let issued: Int64
    public let expires: Int64

    public init(user: String, keyID: String?, credential: String, endpoint: String, version: String, capabilities: JSONObject,
         clientName: String, clientVersion: String, issued: Int64, expires: Int64) {
        self.user = user
        self.keyID = keyID
        self.credential = credential
        self.endpoint = endpoint
        self.version = version
        self.encodedCapabilities = Array(JSONValue.object(capabilities).compact.utf8)
        self.clientName = Self.cut(clientName)
        self.clientVersion = Self.cut(clientVersion)
        self.issued = issued
        self.expires = expires
    }

    /// The `initialize` params a replica that re-creates the session sends its server: the
    /// session's version, the client's capabilities and its name and version.
    public var initializeParams: JSONObject {
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

    /// The sealed bytes: a format byte, then each field as a 2-byte length and its UTF-8 (the key's
    /// id after a byte saying whether there is one), then the two times as 8 bytes each. Read
    /// without a JSON parser, so that checking an id costs little more than its AES-GCM open.
    fileprivate var payload: [UInt8] {
        var out: [UInt8] = [1]
        func put(_ bytes: some Collection<UInt8>) {
            let count = min(bytes.count, Int(UInt16.max))
            out += [UInt8(count >> 8), UInt8(count & 0xff)]
            out += bytes.prefix(count)
        }
        put(user.utf8)
        out.append(keyID == nil ? 0 : 1)
        put((keyID ?? "").utf8)
        for field in [credential, endpoint, version] { put(field.utf8) }
        put(encodedCapabilities)
        put(clientName.utf8)
        put(clientVersion.utf8)
        for time in [issued, expires] { withUnsafeBytes(of: time.bigEndian) { out += $0 } }
        return out
    }

    fileprivate init?(payload: [UInt8]) {
        var at = 1
        guard payload.first == 1 else { return nil }
        func take() -> ArraySlice<UInt8>? {
            guard at + 2 <= payload.count else { return nil }
            let count = Int(payload[at]) << 8 | Int(payload[at + 1])
            guard at + 2 + count <= payload.count else { return nil }
            defer { at += 2 + count }
            return payload[(at + 2)..<(at + 2 + count)]
        }
        func string() -> String? { take().map { String(decoding: $0, as: UTF8.self) } }
        func time() -> Int64? {
            guard at + 8 <= payload.count else { return nil }
            defer { at += 8 }
            return payload[at..<(at + 8)].reduce(0) { $0 << 8 | Int64($1) }
        }
        guard let user = string(), at < payload.count else { return nil }
        let hasKey = payload[at] == 1
        at += 1
        guard let keyID = string(), let credential = string(), let endpoint = string(), let version = string(), let capabilities = take(),
            let clientName = string(), let clientVersion = string(), let issued = time(), let expires = time(), at == payload.count
        else { return nil }
        self.user = user
        self.keyID = hasKey ? keyID : nil
        self.credential = credential
        self.endpoint = endpoint
        self.version = version
        self.encodedCapabilities = Array(capabilities)
        self.clientName = clientName
        self.clientVersion = clientVersion
        self.issued = issued
        self.expires = expires
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
public struct SessionSeal: Sendable {
    let sealer: StateSeal
    static let purpose = "s1."
    public static let maxLength = 512

    init(_ sealer: StateSeal) { self.sealer = sealer }

    /// `keys` as `gateway.stateKey` lists them (none: a random key of this process's).
    public init(keys: [String]) { self.init(StateSeal(keys: keys)) }

    /// The session's id; capabilities that do not fit in `maxLength` are cut to their names, and
    /// those to none.
    public func seal(_ session: SealedSession) -> String {
        var id = sealer.seal(session.payload, purpose: Self.purpose)
        for toNames in [true, false] where id.utf8.count > Self.maxLength {
            id = sealer.seal(session.reduced(toNames: toNames).payload, purpose: Self.purpose)
        }
        return id
    }

    public enum Opening: Sendable, Equatable {
        case opened(SealedSession)
        /// Sealed with another `stateKey` (its name, `StateSeal`).
        case foreignKey(String)
        /// Not a session id of the gateway's, or changed since.
        case broken
    }

    public func open(_ id: String) -> Opening {
        guard id.utf8.count <= Self.maxLength else { return .broken }
        switch sealer.open(id, purpose: Self.purpose) {
        case .opened(let payload): return SealedSession(payload: payload).map { .opened($0) } ?? .broken
        case .foreignKey(let name): return .foreignKey(name)
        case .broken: return .broken
        }
    }

    /// What a session id names its credential by: 16 characters of a digest of the key's hash, or
    /// of the sign-in's issuer and subject, so that the id says nothing of either.
    public static func fingerprint(_ credential: Credential) -> String {
        let text = switch credential {
        case .key(let hash): "key \(hash)"
        case .token(let issuer, let subject, let claim): "token \(issuer)\n\(subject)\n\(claim)"
        }
        return StateSeal.base64url(Data(SHA256.hash(data: Data(text.utf8)).prefix(12)))
    }
}
