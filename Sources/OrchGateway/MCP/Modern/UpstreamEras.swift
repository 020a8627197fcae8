import Logging
import OrchJSON
import OrchPolicy
import Synchronization

/// The MCP era each server speaks, as orch.json says (`"protocol"`) or, for `auto`, as the first
/// session to it found out by asking (`server/discover`): remembered per server definition, so a
/// server is asked once, and again only after a reload changes its entry.
final class UpstreamEras: Sendable {
    /// What a session speaks to its server in.
    enum Era: Sendable, Equatable {
        /// The handshake era: `initialize`, then requests on the session.
        case legacy
        /// 2026-07-28: each request carries its envelope; `discover` is the server's answer to
        /// `server/discover` (its capabilities, instructions and identity).
        case modern(discover: JSONObject)
    }

    private let known = Mutex<[ServerSpec: Era]>([:])
    /// Servers whose answer to `server/discover` was neither a 2026-07-28 result nor an error: logged once.
    private let oddAnswers = Mutex<Set<String>>([])

    /// The era to use for `spec` without asking: nil when it must be asked (`auto`, not known yet).
    func era(of spec: ServerSpec) -> Era? {
        switch spec.upstreamProtocol {
        case .legacy: return .legacy
        case .modern, .auto:
            // The HTTP+SSE transport is of the handshake era only.
            if case .remote(_, .sse, _) = spec.transport { return .legacy }
            return known.withLock { $0[spec] }
        }
    }

    func remember(_ era: Era, for spec: ServerSpec) {
        known.withLock { $0[spec] = era }
    }

    /// After a reload: entries of definitions no longer in the policy go.
    func keep(only policy: Policy) {
        let specs = Set(policy.servers.map(\.spec))
        known.withLock { known in known = known.filter { specs.contains($0.key) } }
    }

    /// Reads a server's answer to the gateway's `server/discover`: a result that offers 2026-07-28
    /// makes it modern; an error (a handshake-era server's "method not found") makes it legacy; any
    /// other answer makes it legacy too and is logged once per server (`path`).
    func read(discoverReply reply: JSONValue?, path: String, logger: Logger) -> Era {
        if case .object(let result)? = reply?["result"] {
            if result["supportedVersions"]?.arrayValue?.contains(.string(ModernProtocol.version)) == true {
                return .modern(discover: result)
            }
        } else if reply?["error"] != nil {
            return .legacy
        }
        if oddAnswers.withLock({ $0.insert(path).inserted }) {
            logger.warning("server \(path) answered server/discover with no 2026-07-28 result and no error: it is spoken to in the handshake era")
        }
        return .legacy
    }
}
