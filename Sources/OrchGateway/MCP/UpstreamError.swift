import Hummingbird
import OrchPolicy

/// Why an upstream failed or ended: a domain error of the upstream layer. Routes map it to an HTTP
/// status in one place (`GatewayError(_:)`); transports never choose a status.
struct UpstreamError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        /// The process could not start (command missing, bad cwd) or the remote was unreachable.
        case couldNotStart
        /// The process exited, or the remote session or stream ended.
        case exited
        /// No answer within the deadline.
        case timedOut
        /// The upstream broke the framing or a bound: a line or event too large, too much output
        /// nobody reads, input it does not read.
        case flooded
        /// A remote answered with something the gateway refuses: an HTTP error, a redirect, an
        /// endpoint on another origin.
        case refused
        /// The gateway ended it (DELETE, idle, reload, shutdown).
        case stopped
        /// A per-user server's secret of the caller is missing or unusable: it was never started.
        case missingSecret
        /// The server sent a message the gateway cannot forward (nested too deep, a repeated key,
        /// not JSON); the session goes on.
        case unforwardable
        /// The caller has no working connected account at an `oauth` server (`refusal` says why).
        case notConnected
    }

    let kind: Kind
    /// What clients, the REST API and the audit log may be told.
    let message: String
    /// The whole story, for the gateway's own log only: it may name the server's command, cwd,
    /// host or a URL (whose query may hold a secret).
    let detail: String
    /// For `notConnected`: whose account, why, and where to connect it.
    var refusal: AccountRefusal?

    init(kind: Kind, message: String, detail: String? = nil) {
        self.kind = kind
        self.message = message
        self.detail = detail ?? message
    }

    var description: String { message }

    /// `detail` names what failed (a command, a cwd, a host); clients are told only that it did.
    static func couldNotStart(_ detail: String) -> Self {
        .init(kind: .couldNotStart, message: "the server could not be started or reached", detail: detail)
    }
    static func exited(_ message: String = "the server exited") -> Self { .init(kind: .exited, message: message) }
    static func timedOut(_ message: String) -> Self { .init(kind: .timedOut, message: message) }
    static func flooded(_ message: String) -> Self { .init(kind: .flooded, message: message) }
    static func refused(_ message: String, detail: String? = nil) -> Self { .init(kind: .refused, message: message, detail: detail) }
    static func stopped(_ message: String) -> Self { .init(kind: .stopped, message: message) }
    static func missingSecret(_ problem: UserSecrets.Problem) -> Self { .init(kind: .missingSecret, message: problem.description) }
    static func unforwardable(_ message: String) -> Self { .init(kind: .unforwardable, message: message) }
    static func notConnected(_ refusal: AccountRefusal) -> Self {
        var error = Self(kind: .notConnected, message: refusal.message, detail: refusal.description)
        error.refusal = refusal
        return error
    }

    /// The metric label of the kind.
    var label: String {
        switch kind {
        case .couldNotStart: "could_not_start"
        case .exited: "exited"
        case .timedOut: "timed_out"
        case .flooded: "flooded"
        case .refused: "refused"
        case .stopped: "stopped"
        case .missingSecret: "missing_secret"
        case .unforwardable: "unforwardable"
        case .notConnected: "not_connected"
        }
    }
}

extension GatewayError {
    /// The HTTP answer for an upstream failure: 504 for a timeout, 502 otherwise.
    init(_ error: UpstreamError, server: String) {
        switch error.kind {
        case .timedOut: self = .timeout("the server \(server) did not answer in time: \(error.message)")
        default: self = .upstreamUnavailable("the server \(server) is unavailable: \(error.message)")
        }
    }
}
