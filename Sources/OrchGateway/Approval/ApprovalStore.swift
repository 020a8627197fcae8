import Foundation
import OrchJSON
import OrchPolicy

/// Calls waiting for a role's approval, and the decisions on them, with no database: one sealed
/// file per call in `FOLDER/pending/ID`, and its decision in `FOLDER/decisions/ID` (`StateFiles`),
/// under a key derived from `gateway.stateKey` for this use, each bound to its id. Every replica
/// that shares the folder and the key sees every pending call (an approver on any of them may
/// decide it), and the replica holding the call sees the decision. The 2026-07-28 approval states
/// taken are recorded there too, so that each is taken once whichever replica a retry reaches.
struct ApprovalStore: Sendable {
    let folder: String
    private let seal: StateSeal

    /// A call waiting: who called what, which role must approve, and until when. The arguments only
    /// as the question's summary (redactions applied).
    struct Pending: Sendable, Equatable {
        let id: String
        let org: String
        /// `ORG/SERVER`.
        let server: String
        let tool: String
        let role: String
        let caller: String
        let summary: String
        /// Seconds since 1970.
        let created: Int64
        let expires: Int64

        var json: JSONValue {
            ["id": .string(id), "org": .string(org), "server": .string(server), "tool": .string(tool), "role": .string(role),
             "caller": .string(caller), "summary": .string(summary), "created": .integer(created), "expires": .integer(expires)]
        }

        init(id: String, org: String, server: String, tool: String, role: String, caller: String, summary: String, created: Int64, expires: Int64) {
            (self.id, self.org, self.server, self.tool, self.role, self.caller, self.summary) = (id, org, server, tool, role, caller, summary)
            (self.created, self.expires) = (created, expires)
        }

        init?(json: JSONValue) {
            guard case .string(let id)? = json["id"], case .string(let org)? = json["org"], case .string(let server)? = json["server"],
                case .string(let tool)? = json["tool"], case .string(let role)? = json["role"], case .string(let caller)? = json["caller"],
                case .string(let summary)? = json["summary"], case .integer(let created)? = json["created"], case .integer(let expires)? = json["expires"]
            else { return nil }
            self.init(id: id, org: org, server: server, tool: tool, role: role, caller: caller, summary: summary, created: created, expires: expires)
        }
    }

    struct Decision: Sendable, Equatable {
        let approved: Bool
        /// The approver's user name.
        let by: String
        let at: Int64
    }

    /// `folder` as the policy gives it (`gateway.approvals`), relative to `base` unless absolute.
    init(folder: String, relativeTo base: String, keys: [String]) {
        self.folder = folder.hasPrefix("/") ? folder : URL(fileURLWithPath: base).appendingPathComponent(folder).path
        seal = StateSeal(keys: keys, derivedFor: "mcp-orch approvals")
    }

    static let pendingPurpose = "orchap1."
    static let decisionPurpose = "orchad1."

    /// A new call's id: 128 random bits, hex (also its file's name).
    static func newID() -> String { (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined() }

    static func isID(_ text: String) -> Bool { text.utf8.count == 32 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }

    private func pendingPath(_ id: String) -> String { folder + "/pending/" + id }
    private func decisionPath(_ id: String) -> String { folder + "/decisions/" + id }

    func add(_ pending: Pending) throws(StateFileError) {
        try StateFiles.write(seal.seal(Array(pending.json.compact.utf8), purpose: Self.pendingPurpose, boundTo: pending.id) + "\n", to: pendingPath(pending.id))
    }

    /// The waiting call `id`, when its file opens.
    func pending(_ id: String) -> Pending? {
        guard Self.isID(id), let text = StateFiles.read(pendingPath(id)),
            case .opened(let bytes) = seal.open(text, purpose: Self.pendingPurpose, boundTo: id),
            let value = try? JSONValue.parse(bytes), let pending = Pending(json: value), pending.id == id
        else { return nil }
        return pending
    }

    /// Every waiting call not yet decided nor expired at `now`, oldest first.
    func pending(at now: Int64) -> [Pending] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder + "/pending")) ?? []
        return names.filter(Self.isID).compactMap(pending).filter { $0.expires > now && decision($0.id) == nil }.sorted { $0.created < $1.created }
    }

    /// Records the decision on `id`; the first one stands (a second is refused).
    func decide(_ id: String, _ decision: Decision) throws(StateFileError) {
        guard self.decision(id) == nil else { throw StateFileError(path: decisionPath(id), reason: "already decided") }
        let payload: JSONValue = ["approved": .bool(decision.approved), "by": .string(decision.by), "at": .integer(decision.at)]
        try StateFiles.write(seal.seal(Array(payload.compact.utf8), purpose: Self.decisionPurpose, boundTo: id) + "\n", to: decisionPath(id))
    }

    func decision(_ id: String) -> Decision? {
        guard Self.isID(id), let text = StateFiles.read(decisionPath(id)),
            case .opened(let bytes) = seal.open(text, purpose: Self.decisionPurpose, boundTo: id),
            let value = try? JSONValue.parse(bytes), case .bool(let approved)? = value["approved"], case .string(let by)? = value["by"],
            case .integer(let at)? = value["at"]
        else { return nil }
        return Decision(approved: approved, by: by, at: at)
    }

    /// True the first time `state` (a 2026-07-28 approval's `requestState`) is taken by any replica
    /// sharing the folder: a file named by the state's digest is made exclusively in
    /// `FOLDER/used/`, holding when the state expires; spent ones are swept now and then.
    func firstUse(_ state: String, expires: Int64, now: Int64) -> Bool {
        let used = folder + "/used"
        if StateFiles.makeFolder(used) != nil { return false }
        if UInt8.random(in: 0...63) == 0 { sweep(used, now: now) }
        let name = Hex.encode(Crypto.sha256(Array(state.utf8)))
        let fd = open(used + "/" + name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }  // taken already (EEXIST), or not writable: never twice
        let text = Array("\(expires)\n".utf8)
        _ = text.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        return true
    }

    /// Removes the used-state files whose states have expired.
    private func sweep(_ used: String, now: Int64) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: used)) ?? [] {
            let path = used + "/" + name
            if let text = StateFiles.read(path), let expires = Int64(text), expires < now { try? StateFiles.remove(path) }
        }
    }

    /// The call is over (decided, timed out, or its caller went away): both files go.
    func remove(_ id: String) {
        try? StateFiles.remove(pendingPath(id))
        try? StateFiles.remove(decisionPath(id))
    }
}
