import Foundation
import OrchJSON

/// A user's connected account at one `oauth` server: the tokens the authorization server issued
/// to them, as stored. Every token is a secret: none is ever logged, audited or shown.
public struct StoredConnection: Sendable, Equatable {
    public var accessToken: String
    public var refreshToken: String?
    /// When the access token expires (seconds since 1970); nil when the token response said not.
    public var expiresAt: Int64?
    /// The scopes granted, as the token response gave them (space-separated), when it did.
    public var scope: String?
    /// The authorization server's issuer.
    public var issuer: String
    /// When the user connected, and when the tokens were last refreshed (seconds since 1970).
    public var connectedAt: Int64
    public var refreshedAt: Int64?
    /// Why a refresh failed, once one has: the connection is broken until the user connects again.
    public var broken: String?

    public init(accessToken: String, refreshToken: String?, expiresAt: Int64?, scope: String?, issuer: String, connectedAt: Int64) {
        self.accessToken = accessToken
        self.refreshToken = refreshToken
        self.expiresAt = expiresAt
        self.scope = scope
        self.issuer = issuer
        self.connectedAt = connectedAt
    }

    var json: JSONValue {
        [
            "accessToken": .string(accessToken), "refreshToken": .optional(refreshToken), "expiresAt": expiresAt.map(JSONValue.integer) ?? .null,
            "scope": .optional(scope), "issuer": .string(issuer), "connectedAt": .integer(connectedAt),
            "refreshedAt": refreshedAt.map(JSONValue.integer) ?? .null, "broken": .optional(broken),
        ]
    }

    init?(json: JSONValue) {
        guard case .string(let access)? = json["accessToken"], case .string(let issuer)? = json["issuer"],
            case .integer(let connected)? = json["connectedAt"]
        else { return nil }
        self.init(accessToken: access, refreshToken: json["refreshToken"]?.stringValue, expiresAt: json["expiresAt"]?.integerValue,
                  scope: json["scope"]?.stringValue, issuer: issuer, connectedAt: connected)
        refreshedAt = json["refreshedAt"]?.integerValue
        broken = json["broken"]?.stringValue
    }
}

/// Users' connected accounts with no database: one file per user and server,
/// `FOLDER/USER/ORG__SERVER`, mode 0600 in a folder of mode 0700, written through a temporary file
/// renamed over it (a reader sees the old tokens or the new, never half). Each file is one line,
/// AES-256-GCM under a key derived from `gateway.stateKey` for this use (HKDF), with the user and
/// `ORG/SERVER` authenticated with it: a file copied into another user's folder, or to another
/// server's name, does not open. Replicas that share the folder and the key share the accounts.
public struct ConnectionStore: Sendable {
    public let folder: String
    private let seal: StateSeal

    /// What reading a user's file found.
    public enum Reading: Sendable, Equatable {
        case none
        case connection(StoredConnection)
        /// A file that does not open: sealed under another `stateKey` (its key's name), or changed,
        /// copied from elsewhere, or not one of these files. The user counts as not connected.
        case unreadable(String)
    }

    /// `folder` as the policy gives it (`gateway.connections`), relative to `base` (orch.json's
    /// folder) unless absolute; `keys` are `gateway.stateKey`'s (none: a random key of this
    /// process's, which opens nothing another process wrote).
    public init(folder: String, relativeTo base: String, keys: [String]) {
        self.folder = folder.hasPrefix("/") ? folder : URL(fileURLWithPath: base).appendingPathComponent(folder).path
        seal = StateSeal(keys: keys, derivedFor: "mcp-orch connections")
    }

    static let purpose = "orchc1."

    /// The file of `user`'s account at `server` (`ORG/SERVER`).
    public func path(user: String, server: String) -> String {
        folder + "/" + user + "/" + server.replacingOccurrences(of: "/", with: "__")
    }

    public func read(user: String, server: String) -> Reading {
        guard let text = StateFiles.read(path(user: user, server: server)) else { return .none }
        switch seal.open(text, purpose: Self.purpose, boundTo: Self.binding(user, server)) {
        case .opened(let bytes):
            guard let value = try? JSONValue.parse(bytes), let connection = StoredConnection(json: value) else {
                return .unreadable("it opens but holds no connection")
            }
            return .connection(connection)
        case .foreignKey(let name):
            return .unreadable("it was sealed with another gateway.stateKey (key \(name))")
        case .broken:
            return .unreadable("it does not open: changed, copied from another user or server, or not a connection file")
        }
    }

    /// A connected account's state, as the dashboard and `orch explain` show it.
    public enum State: Sendable, Equatable, CustomStringConvertible {
        case notConnected
        case connected
        /// The access token has expired and no refresh token is stored: the user connects again.
        case expired
        case broken(String)
        case unreadable(String)

        public var description: String {
            switch self {
            case .notConnected: "not connected"
            case .connected: "connected"
            case .expired: "expired (no refresh token): the user connects again"
            case .broken(let why): "broken (\(why)): the user connects again"
            case .unreadable(let why): "not usable: \(why)"
            }
        }
    }

    /// The state of `user`'s account at `server` at `now` (seconds since 1970). A token that has
    /// expired but can be refreshed is connected: the next call refreshes it.
    public func state(user: String, server: String, at now: Int64) -> State {
        switch read(user: user, server: server) {
        case .none: return .notConnected
        case .unreadable(let why): return .unreadable(why)
        case .connection(let connection):
            if let broken = connection.broken { return .broken(broken) }
            if let expires = connection.expiresAt, expires <= now, connection.refreshToken == nil { return .expired }
            return .connected
        }
    }

    /// Stores `connection` as `user`'s account at `server`, replacing what was there.
    public func write(_ connection: StoredConnection, user: String, server: String) throws(ConnectionStoreError) {
        let sealed = seal.seal(Array(connection.json.compact.utf8), purpose: Self.purpose, boundTo: Self.binding(user, server))
        try StateFiles.write(sealed + "\n", to: path(user: user, server: server))
    }

    /// Forgets `user`'s account at `server` (nothing stored is nothing to do).
    public func remove(user: String, server: String) throws(ConnectionStoreError) {
        try StateFiles.remove(path(user: user, server: server))
    }

    /// Whether a file can be written in the folder: made if missing, then a file made and removed.
    public func checkWritable() -> ConnectionStoreError? { StateFiles.checkWritable(folder) }

    /// What the seal authenticates besides the purpose: the file's user and server.
    private static func binding(_ user: String, _ server: String) -> String { user + "\n" + server }
}

/// A state file (a connected account, a pending approval) that could not be written or removed.
public typealias ConnectionStoreError = StateFileError
