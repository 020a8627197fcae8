public import Foundation
public import OrchPolicy

/// How a caller proved who they are: what a session is bound to, and what the audit log names.
public enum Credential: Hashable, Sendable {
    /// An orch key, by its hash.
    case key(KeyHash)
    /// A token of an `auth.oidc` issuer: the issuer's name, the token's `sub`, and the value of the
    /// issuer's `userClaim` that named the user.
    case token(issuer: String, subject: String, claim: String)

    /// The issuer's name, for a token.
    public var issuer: String? {
        if case .token(let issuer, _, _) = self { issuer } else { nil }
    }

    /// The user (and key) this credential names in `policy`, if that is still the user `name`,
    /// enabled, and (for a key) unexpired at `time`; nil otherwise. A key names its user; a token's
    /// claim is matched again under `policy`'s users and issuers.
    public func resolve(in policy: Policy, user name: String, at time: Date) -> (user: UserID, key: KeyID?)? {
        guard let (user, key) = resolve(in: policy) else { return nil }
        let spec = policy.user(user)
        guard spec.name == name, !spec.spec.disabled, !(key.map { policy.key($0).isExpired(at: time) } ?? false) else { return nil }
        return (user, key)
    }

    /// The user (and key) this credential names in `policy`, without checking who or whether enabled.
    public func resolve(in policy: Policy) -> (user: UserID, key: KeyID?)? {
        switch self {
        case .key(let hash):
            guard let key = policy.key(hash: hash) else { return nil }
            return (policy.key(key).user, key)
        case .token(let issuer, _, let claim):
            guard let user = policy.user(issuer: issuer, claim: claim) else { return nil }
            return (user, nil)
        }
    }
}
