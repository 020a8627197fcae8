public import Foundation

public struct UserID: Sendable, Hashable { public let index: Int }
public struct OrgID: Sendable, Hashable { public let index: Int }
public struct ServerID: Sendable, Hashable { public let index: Int }
public struct RoleID: Sendable, Hashable { public let index: Int }
public struct KeyID: Sendable, Hashable { public let index: Int }

/// A compiled orch.json: immutable, shared by every request, replaced whole on reload.
///
/// Everything a decision needs is resolved to indexes at compile time: which rules of each role
/// touch each server, which roles each user holds in each org, and a hash index of key digests.
public final class Policy: Sendable {
    public struct Role: Sendable {
        public let spec: RoleSpec
        public var name: String { spec.name }
    }

    public struct Org: Sendable {
        public let spec: OrgSpec
        public let servers: [ServerID]
        let serverIndex: [String: ServerID]
        public var name: String { spec.name }
    }

    public struct Server: Sendable {
        public let id: ServerID
        public let org: OrgID
        public let spec: ServerSpec
        // Hot fields, copied out of `spec` so a decision reads nothing else.
        let disabled: Bool
        /// The tools, prompts and resources filters, by `ItemKind.rawValue`.
        let filters: [NameFilter]
        /// For each role (by index), the rules whose server glob matches this server.
        let rulesByRole: [RoleRules]
        public var name: String { spec.name }

        init(id: ServerID, org: OrgID, spec: ServerSpec, rulesByRole: [RoleRules]) {
            self.id = id
            self.org = org
            self.spec = spec
            self.disabled = spec.disabled
            self.filters = ItemKind.allCases.map(spec.filter)
            self.rulesByRole = rulesByRole
        }
    }

    /// The rules of one role that touch one server: indexes into the role's `allow` and `deny`,
    /// with each rule's item glob beside it.
    struct RoleRules: Sendable {
        struct Entry: Sendable {
            let index: Int
            /// nil for a whole-server rule.
            let item: ItemGlob?

            /// As an allow rule: a whole-server rule, or one of the same kind that matches.
            func allows(_ kind: ItemKind, _ name: String) -> Bool {
                item?.matches(kind, name) ?? true
            }

            /// As a deny rule: a whole-server rule (`SERVER` or `SERVER:*`), or one of the same
            /// kind that matches.
            func denies(_ kind: ItemKind, _ name: String) -> Bool {
                deniesWholeServer || item!.matches(kind, name)
            }

            /// `SERVER` or `SERVER:*` as a deny rule: every kind, and connecting at all.
            var deniesWholeServer: Bool {
                guard let item else { return true }
                return item.kind == .tool && item.glob.matchesEverything
            }

            /// As a deny rule: denies every item of `kind`.
            func deniesEvery(_ kind: ItemKind) -> Bool {
                deniesWholeServer || (item!.kind == kind && item!.glob.matchesEverything)
            }

            /// As an allow rule: grants some item of `kind`.
            func grantsSome(_ kind: ItemKind) -> Bool { item.map { $0.kind == kind } ?? true }
        }

        var allow: [Entry] = []
        var deny: [Entry] = []

        /// The rules that decide items of `kind`: allow rules of the whole server or of that kind,
        /// deny rules of the whole server (`SERVER`, `SERVER:*`) or of that kind.
        func deciding(_ kind: ItemKind) -> (allow: [Entry], deny: [Entry]) {
            (allow.filter { $0.grantsSome(kind) }, deny.filter { $0.deniesWholeServer || $0.item?.kind == kind })
        }
    }

    public struct User: Sendable {
        public let spec: UserSpec
        public let keys: [KeyID]
        public let memberships: [Membership]
        let disabled: Bool
        public var name: String { spec.name }

        init(spec: UserSpec, keys: [KeyID], memberships: [Membership]) {
            self.spec = spec
            self.keys = keys
            self.memberships = memberships
            self.disabled = spec.disabled
        }

        func grants(in org: OrgID) -> [RoleGrant] {
            for m in memberships where m.org == org { return m.grants }
            return []
        }
    }

    /// The roles a user holds in one org.
    public struct Membership: Sendable {
        public let org: OrgID
        public let grants: [RoleGrant]
    }

    /// One role held, directly (`team == nil`) or through a team of the org.
    public struct RoleGrant: Sendable, Hashable {
        public let role: RoleID
        public let team: String?
    }

    public struct Key: Sendable {
        public let id: KeyID
        public let user: UserID
        public let spec: KeySpec
        let expires: Date?
        let scope: [ScopeGlob]?

        init(id: KeyID, user: UserID, spec: KeySpec) {
            self.id = id
            self.user = user
            self.spec = spec
            self.expires = spec.expires
            self.scope = spec.scope
        }

        public func isExpired(at time: Date) -> Bool {
            expires.map { time >= $0 } ?? false
        }
    }

    public let digest: String
    public let settings: GatewaySettings
    public let roles: [Role]
    public let orgs: [Org]
    public let servers: [Server]
    public let users: [User]
    public let keys: [Key]
    public let testCount: Int
    let userIndex: [String: UserID]
    let orgIndex: [String: OrgID]
    let roleIndex: [String: RoleID]
    let keyIndex: [KeyHash: KeyID]
    /// `auth`: the OIDC issuers whose tokens are accepted beside keys.
    public let auth: AuthSettings
    /// Users by issuer and the value of its `userClaim`: from `identities`, and from `email` for
    /// issuers that match on it (lowercased).
    let identityIndex: [String: [String: UserID]]
    /// The values of the environment variables the file's `${env:…}` references put in: the
    /// gateway's log redacts each of them.
    public let secretValues: Set<String>

    init(
        digest: String, settings: GatewaySettings, roles: [Role], orgs: [Org], servers: [Server], users: [User],
        keys: [Key], testCount: Int, userIndex: [String: UserID], orgIndex: [String: OrgID], roleIndex: [String: RoleID],
        keyIndex: [KeyHash: KeyID], auth: AuthSettings = AuthSettings(), identityIndex: [String: [String: UserID]] = [:],
        secretValues: Set<String> = []
    ) {
        self.secretValues = secretValues
        self.digest = digest
        self.settings = settings
        self.roles = roles
        self.orgs = orgs
        self.servers = servers
        self.users = users
        self.keys = keys
        self.testCount = testCount
        self.userIndex = userIndex
        self.orgIndex = orgIndex
        self.roleIndex = roleIndex
        self.keyIndex = keyIndex
        self.auth = auth
        self.identityIndex = identityIndex
    }

    // MARK: lookups

    public func user(named name: String) -> UserID? { userIndex[name] }

    /// ` (did you mean "bob"?)` when a user's name is close to `name`, else empty: for the CLI's
    /// "no user" messages.
    public func userSuggestion(for name: String) -> String {
        Name.didYouMean(name, among: users.map(\.name))
    }
    public func org(named name: String) -> OrgID? { orgIndex[name] }

    /// Whether `user` holds role `role` in org `org`, directly or through a team (a disabled user
    /// holds nothing).
    public func holds(_ user: UserID, role: String, in org: String) -> Bool {
        guard let orgID = self.org(named: org), let roleID = self.role(named: role), !users[user.index].disabled else { return false }
        return users[user.index].grants(in: orgID).contains { $0.role == roleID }
    }
    public func role(named name: String) -> RoleID? { roleIndex[name] }

    public func server(org: String, name: String) -> ServerID? {
        orgIndex[org].flatMap { orgs[$0.index].serverIndex[name] }
    }

    public func server(_ id: ServerID) -> Server { servers[id.index] }
    public func user(_ id: UserID) -> User { users[id.index] }
    public func key(_ id: KeyID) -> Key { keys[id.index] }
    public func org(_ id: OrgID) -> Org { orgs[id.index] }

    /// A server's `limits`, read in place: every `tools/call` asks, and a copy of the whole
    /// `Server` costs more than the answer.
    public func limits(of id: ServerID) -> ServerLimits { servers[id.index].spec.limits }
    /// A server's `timeoutSeconds`, read in place (on every call).
    public func timeoutSeconds(of id: ServerID) -> Int? { servers[id.index].spec.timeoutSeconds }

    // What every call reads of its server's spec, read in place: `server(id).spec` would copy the
    // whole spec across the module boundary, field by field.

    /// A server's `overrides.tools`.
    public func toolOverrides(of id: ServerID) -> ToolOverrides { servers[id.index].spec.overrides }

    /// What `name`, as a client writes it in `tools/call` to `server`, stands for under the
    /// server's overrides: read in place, on every call (a server without overrides answers at once).
    public func toolCall(_ name: String, server: ServerID) -> ToolOverrides.Call {
        servers[server.index].spec.overrides.call(name)
    }

    /// A server's `approve` rules for `tool` (the caller's first), read in place: asked on every
    /// call, and none for most servers.
    public func approvals(tool: String, server: ServerID) -> [ApprovalRule] {
        servers[server.index].spec.approve.isEmpty ? [] : servers[server.index].spec.approvals(tool: tool)
    }

    /// Whether a server's calls carry each user's connected account (`oauth`), read in place.
    public func usesConnectedAccounts(_ server: ServerID) -> Bool { servers[server.index].spec.oauth != nil }


    /// `ORG/SERVER` of a server.
    public func serverPath(_ id: ServerID) -> String {
        let server = servers[id.index]
        return "\(orgs[server.org.index].name)/\(server.name)"
    }

    /// The key a bearer token belongs to: one SHA-256 and one hash probe.
    public func key(forToken token: String) -> KeyID? {
        keyIndex[KeyHash(token: token)]
    }

    /// The issuer of `auth.oidc` named `name`.
    public func issuer(named name: String) -> OIDCIssuer? { auth.issuers.first { $0.name == name } }

    /// The user a verified token of `issuer` names by the value of its `userClaim` (an email
    /// matches case-insensitively); nil for none. Exactly one user can match: the compiler refuses
    /// a value two users claim.
    public func user(issuer: String, claim value: String) -> UserID? {
        guard let index = identityIndex[issuer] else { return nil }
        return index[value] ?? (self.issuer(named: issuer)?.userClaim == "email" ? index[value.lowercased()] : nil)
    }

    /// Every user's id, in file order.
    public var userIDs: [UserID] { users.indices.map { UserID(index: $0) } }
    /// Every server's id, in file order.
    public var serverIDs: [ServerID] { servers.indices.map { ServerID(index: $0) } }

    /// The key with this hash.
    public func key(hash: KeyHash) -> KeyID? { keyIndex[hash] }

    /// The key of a user by its id.
    public func key(user: UserID, id: String) -> KeyID? {
        users[user.index].keys.first { keys[$0.index].spec.id == id }
    }

    public var counts: (orgs: Int, users: Int, keys: Int, servers: Int, tests: Int) {
        (orgs.count, users.count, keys.count, servers.count, testCount)
    }
}
