public import Foundation
import Logging
public import OrchJSON
public import OrchPolicy
import Synchronization

/// The running `orch.lock.json` (read beside orch.json, again whenever it changes) and what the
/// gateway has seen of each server's tools and prompts against it. Under `gateway.pinning` `warn`
/// or `enforce`, a listed tool or prompt whose definition no longer matches its pin, or that has
/// none, is logged, audited and counted once per definition; under `enforce` it is also left out
/// of lists and refused on call (docs/guide/reviewing-changes.md, "Tool pinning").
public final class PinStore: Sendable {
    private struct State {
        var lock: PinLock?
        /// The last status seen per server path and item.
        var seen: [String: [Item: PinLock.Status]] = [:]
        /// Definitions already reported, by server, item and hash.
        var reported: Set<String> = []
    }

    private let state = Mutex(State())

    public init() {}

    public var lock: PinLock? { state.withLock { $0.lock } }

    /// Reads the lock file at `path`: none is no pins; one that cannot be read keeps the pins
    /// running and throws.
    public func load(_ path: String) throws(PinLock.FileError) {
        guard FileManager.default.fileExists(atPath: path) else {
            state.withLock { $0 = State() }
            return
        }
        let data: [UInt8]
        do { data = try PolicyFileError.read(path) } catch { throw PinLock.FileError(description: error.reason) }
        let lock = try PinLock.parse(String(decoding: data, as: UTF8.self))
        state.withLock { $0 = State(lock: lock) }
    }

    /// How a listed definition of `server` stands against its pin, remembered for calls. The first
    /// time a definition does not match, `report` is called.
    func check(server: String, _ kind: ItemKind, _ entry: JSONValue, report: (PinLock.Status, String) -> Void) -> PinLock.Status {
        guard let name = entry["name"]?.stringValue else { return .new }
        let (status, first) = state.withLock { state -> (PinLock.Status, Bool) in
            let status = state.lock?.status(server: server, kind, entry) ?? .new
            state.seen[server, default: [:]][Item(kind, name)] = status
            guard status != .pinned else { return (status, false) }
            let hash = PinLock.hash(PinLock.pinned(kind, entry))
            return (status, state.reported.insert("\(server) \(kind) \(name) \(hash)").inserted)
        }
        if first { report(status, name) }
        return status
    }

    /// How a listed definition of `server` stands against its pin, only read: nothing is remembered
    /// or reported (what the REST API and the dashboard show, which leave calls as they were).
    func status(server: String, _ kind: ItemKind, _ entry: JSONValue) -> PinLock.Status {
        state.withLock { $0.lock?.status(server: server, kind, entry) ?? .new }
    }

    /// How an item known only by its name stands (a call): as last listed; else pinned when it has
    /// a pin, new when not.
    func status(server: String, _ kind: ItemKind, _ name: String) -> PinLock.Status {
        state.withLock { state in
            if let seen = state.seen[server]?[Item(kind, name)] { return seen }
            return state.lock?.servers[server]?.hashes(kind)[name] != nil ? .pinned : .new
        }
    }
}

/// `gateway.pinning` applied: what the gateway does with a listed or called tool or prompt against
/// the running pins. Made from what it needs; `CallGuard` and the reads (the REST catalog, the
/// dashboard) are given it.
struct PinCheck: Sendable {
    let store: PolicyStore
    let pins: PinStore
    let audit: AuditLog
    let metrics: GatewayMetrics
    let logger: Logger

    var mode: PinningMode { store.policy?.settings.pinning ?? .off }

    /// Checks a listed tool or prompt against its pin (reporting a mismatch once); whether a list
    /// keeps it: always but under `enforce` when it does not match.
    func admits(server: String, _ kind: ItemKind, _ entry: JSONValue) -> Bool {
        let mode = self.mode
        guard mode != .off, kind != .resource else { return true }
        let status = pins.check(server: server, kind, entry) { status, name in
            let what = "\(kind) \(name) of \(server) \(Self.text(status))"
            logger.warning("\(what) (pinning \(mode.rawValue))")
            metrics.pinMismatch(server: server, kind: kind, status: status)
            let path = server.split(separator: "/", maxSplits: 1).map(String.init)
            audit.write(AuditRecord(
                policy: store.policy?.digest, remote: "-", org: path.first, server: path.last, method: "pin check", item: Item(kind, name),
                decision: mode == .enforce ? .deny : .warn, reason: what + (mode == .enforce ? "; hidden and refused" : ""), status: 0, ms: 0))
        }
        return mode != .enforce || status == .pinned
    }

    /// Why a call of `name` is refused under `enforce`; nil when it may go on.
    func refusal(server: String, _ kind: ItemKind, _ name: String) -> String? {
        // Asked on every call: off, it costs no look at the pins.
        guard mode == .enforce, kind != .resource else { return nil }
        return refusal(server: server, kind, name, status: pins.status(server: server, kind, name))
    }

    /// Why a call of `name`, which stands as `status`, would be refused under `enforce`.
    func refusal(server: String, _ kind: ItemKind, _ name: String, status: PinLock.Status) -> String? {
        guard mode == .enforce, kind != .resource else { return nil }
        return status == .pinned ? nil : "\(kind.description.capitalized) \(name) of \(server) \(Self.text(status)): refused until it is pinned again (orch pin)"
    }

    static func text(_ status: PinLock.Status) -> String {
        switch status {
        case .pinned: "matches its pin"
        case .changed: "changed since it was pinned"
        case .new: "is not pinned"
        }
    }
}

extension Gateway {
    /// What a server lists now, its tools and prompts as it sends them: fetched through a
    /// short-lived upstream session of the gateway's own (`orch pin`). The error says why not, in
    /// the gateway log's words (the server's command or URL included: this is for its operator).
    public func currentDefinitions(_ policy: Policy, _ id: ServerID) async -> Result<(tools: [JSONValue], prompts: [JSONValue]), PinLock.FileError> {
        switch await catalogListing(policy, id) {
        case .success(let listing): .success((listing.tools, listing.prompts))
        case .failure(let error): .failure(PinLock.FileError(description: error.detail))
        }
    }
}
