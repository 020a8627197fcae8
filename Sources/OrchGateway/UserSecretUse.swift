import Foundation
import OrchPolicy

/// Which of a user's secrets a session of a per-user server runs with: their names (for the audit
/// log and messages) and a digest of their values (to notice a rotated or removed secret without
/// keeping the values).
struct SecretUse: Sendable, Hashable {
    let user: String
    let names: [String]
    let digest: String

    init(user: String, values: [String: String]) {
        self.user = user
        names = values.keys.sorted()
        digest = Self.digest(values)
    }

    static func digest(_ values: [String: String]) -> String {
        Hex.encode(Crypto.sha256(values.keys.sorted().map { "\($0)\u{0}\(values[$0]!)\u{0}" }.joined()))
    }

    /// What the session's secrets are now: nil while they are as the session started with them,
    /// else why it must end.
    func change(in secrets: UserSecrets) -> String? {
        switch secrets.values(user: user, names: names) {
        case .failure(let problem): "\(user)'s secret \(problem.name) is gone or unusable"
        case .success(let values): Self.digest(values) == digest ? nil : "\(user)'s secret \(names.joined(separator: ", ")) changed"
        }
    }
}

extension Gateway {
    /// The secrets folder of `policy` (`gateway.secrets`, beside orch.json).
    func userSecrets(_ policy: Policy) -> UserSecrets {
        UserSecrets(settings: policy.settings, policyPath: store.source)
    }

    /// A server as `user` runs it: a per-user server's `${user:NAME}` filled with their values, and
    /// what the session uses; the problem when a secret is missing or too open.
    func serverSpec(_ policy: Policy, _ id: ServerID, user: String) -> Result<(ServerSpec, SecretUse?), UserSecrets.Problem> {
        let spec = policy.server(id).spec
        guard !spec.userSecrets.isEmpty else { return .success((spec, nil)) }
        return userSecrets(policy).values(user: user, names: spec.userSecrets).map { values in
            redaction.remember(user: user, values: values)
            return (spec.resolved(values), SecretUse(user: user, values: values))
        }
    }

    /// After the secrets folder changed: every session that runs with a secret that changed or went
    /// away ends; the API's kept bodies (which say whose secrets are missing) are dropped.
    public func secretsChanged() {
        guard let policy = store.policy else { return }
        let secrets = userSecrets(policy)
        for session in sessions.all {
            if let use = session.secrets, let reason = use.change(in: secrets) { session.end(.stopped(reason)) }
        }
        callerBodies.removeAll()
    }
}
