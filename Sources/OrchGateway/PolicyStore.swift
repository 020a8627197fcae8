public import Foundation
public import OrchPolicy
import Synchronization

/// Holds the running policy. Readers take the current one in a single short lock (never waiting on
/// a compile, which happens before `install`); a new policy replaces the old one whole.
public final class PolicyStore: Sendable {
    public struct ReloadStatus: Sendable {
        public let at: Date
        public let ok: Bool
        public let diagnostics: [Diagnostic]
    }

    public struct Snapshot: Sendable {
        public var policy: Policy?
        public var loadedAt: Date?
        public var lastReload: ReloadStatus?
    }

    /// The orch.json this store is loaded from.
    public let source: String
    private let state = Mutex(Snapshot())
    private let listeners = Mutex<[@Sendable (PolicyChange) -> Void]>([])

    public init(source: String) {
        self.source = source
    }

    public var policy: Policy? { state.withLock { $0.policy } }
    public var snapshot: Snapshot { state.withLock { $0 } }

    /// Records a compile. A result with a policy replaces the running one and listeners hear which
    /// keys and grants went away; a failed one only becomes `lastReload`, the old policy stays.
    @discardableResult
    public func install(_ result: CompileResult, at time: Date = Date()) -> Bool {
        let status = ReloadStatus(at: time, ok: result.ok, diagnostics: result.diagnostics)
        guard let new = result.policy else {
            state.withLock { $0.lastReload = status }
            return false
        }
        let old = state.withLock { snapshot -> Policy? in
            let old = snapshot.policy
            snapshot.policy = new
            snapshot.loadedAt = time
            snapshot.lastReload = status
            return old
        }
        let change = PolicyChange(old: old, new: new, at: time)
        for listener in listeners.withLock({ $0 }) { listener(change) }
        return true
    }

    /// Records a reload that found the running policy's own file: the file on disk is fine again,
    /// so an earlier failure no longer stands. True when that cleared a failure.
    @discardableResult
    public func recordUnchanged(at time: Date = Date()) -> Bool {
        state.withLock { snapshot in
            guard snapshot.lastReload?.ok == false else { return false }
            snapshot.lastReload = ReloadStatus(at: time, ok: true, diagnostics: [])
            return true
        }
    }

    /// Records a reload that could not even read the file.
    public func recordFailure(_ diagnostic: Diagnostic, at time: Date = Date()) {
        state.withLock { $0.lastReload = ReloadStatus(at: time, ok: false, diagnostics: [diagnostic]) }
    }

    /// Called after every successful swap, on the reloading task.
    public func onChange(_ listener: @escaping @Sendable (PolicyChange) -> Void) {
        listeners.withLock { $0.append(listener) }
    }
}

/// One swap of policies, as listeners see it.
public struct PolicyChange: Sendable {
    public let old: Policy?
    public let new: Policy
    public let at: Date

    /// Hashes of keys that authenticated under the old policy and no longer do: removed, expired,
    /// or their user removed or disabled.
    public var revokedKeys: [KeyHash] {
        guard let old else { return [] }
        return old.keys.compactMap { key in
            let user = old.user(key.user)
            let wasValid = !user.spec.disabled && !key.isExpired(at: at)
            return wasValid && !survives(key: key.spec.hash, user: user.name) ? key.spec.hash : nil
        }
    }

    /// Whether a live session opened with key `hash` by `user` on `org/server` keeps its
    /// permission under the new policy.
    public func survives(key hash: KeyHash, user: String, org: String, server: String) -> Bool {
        survives(.key(hash), user: user, org: org, server: server)
    }

    /// Whether a live session opened with `credential` by `user` on `org/server` keeps its
    /// permission under the new policy.
    public func survives(_ credential: Credential, user: String, org: String, server: String) -> Bool {
        guard let (userID, key) = credential.resolve(in: new, user: user, at: at), let serverID = new.server(org: org, name: server) else {
            return false
        }
        return new.decide(user: userID, server: serverID, tool: nil, key: key, at: at).allowed
    }

    /// What a swap does to a live session opened with `credential` by `user` on `org/server`.
    public enum SessionEffect: Sendable, Equatable {
        /// The session must end, for this reason.
        case ends(String)
        /// The session goes on; what it may see of these kinds changed.
        case changes([ItemKind])
        case none
    }

    public func effect(onSessionOf credential: Credential, user: String, org: String, server: String) -> SessionEffect {
        guard let (newUser, newKey) = credential.resolve(in: new, user: user, at: at) else {
            if case .key = credential { return .ends("its key was removed, expired or disabled by a policy reload") }
            return .ends("its user \(user) was removed, disabled or no longer signs in so, by a policy reload")
        }
        guard survives(credential, user: user, org: org, server: server) else { return .ends("permission removed by a policy reload") }
        guard let old, let (oldUser, oldKey) = credential.resolve(in: old), let oldServer = old.server(org: org, name: server),
            let newServer = new.server(org: org, name: server)
        else { return .changes(ItemKind.allCases) }
        if old.server(oldServer).spec.transport != new.server(newServer).spec.transport {
            return .ends("the server's definition changed in a policy reload")
        }
        let changed = ItemKind.allCases.filter { kind in
            old.basis(of: kind, user: oldUser, server: oldServer, key: oldKey) != new.basis(of: kind, user: newUser, server: newServer, key: newKey)
        }
        return changed.isEmpty ? .none : .changes(changed)
    }

    private func survives(key hash: KeyHash, user: String) -> Bool {
        Credential.key(hash).resolve(in: new, user: user, at: at) != nil
    }
}
