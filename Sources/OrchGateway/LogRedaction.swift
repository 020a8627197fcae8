public import Logging
public import OrchPolicy
import Foundation
import Synchronization

/// The secret values the gateway knows, taken out of every log line in one place
/// (`GatewayLogHandler`), whatever the message: a server's `${env:…}` values from the running
/// policy and the users' `${user:…}` values the gateway has read. An upstream's redirect
/// `Location`, an error that quotes a URL or a header, stderr of a server that echoes its
/// environment: each is logged with `[redacted]` where a value stood, as written and
/// percent-encoded.
public final class LogRedaction: Sendable {
    /// Shorter values are left alone: they would blank out ordinary words and are no secret.
    static let minimumLength = 4
    public static let marker = "[redacted]"

    private struct State {
        var policy: Set<String> = []
        /// By `USER/NAME`, so that a rotated secret replaces its old value.
        var users: [String: String] = [:]
        /// Longest first, so that a value containing another is taken out whole.
        var patterns: [String] = []

        mutating func rebuild() {
            var all = Set<String>()
            for value in policy.union(users.values) where value.count >= LogRedaction.minimumLength {
                all.insert(value)
                let encoded = ExposedURI.percentEncoded(value)
                if encoded != value { all.insert(encoded) }
            }
            patterns = all.sorted { $0.utf8.count != $1.utf8.count ? $0.utf8.count > $1.utf8.count : $0 < $1 }
        }
    }

    private let state = Mutex(State())

    public init() {}

    /// The running policy's `${env:…}` values replace the last policy's.
    public func policyLoaded(_ policy: Policy) {
        state.withLock {
            guard $0.policy != policy.secretValues else { return }
            $0.policy = policy.secretValues
            $0.rebuild()
        }
    }

    /// A user's secrets as just read.
    func remember(user: String, values: [String: String]) {
        state.withLock { state in
            var changed = false
            for (name, value) in values where state.users["\(user)/\(name)"] != value {
                state.users["\(user)/\(name)"] = value
                changed = true
            }
            if changed { state.rebuild() }
        }
    }

    /// `text` with every known secret value replaced by the marker.
    public func redact(_ text: String) -> String {
        let patterns = state.withLock { $0.patterns }
        guard !patterns.isEmpty else { return text }
        var out = text
        for pattern in patterns where out.contains(pattern) {
            out = out.replacingOccurrences(of: pattern, with: Self.marker)
        }
        return out
    }

    func redact(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let text): .string(redact(text))
        case .stringConvertible(let item): .string(redact(item.description))
        case .array(let items): .array(items.map(redact))
        case .dictionary(let entries): .dictionary(entries.mapValues(redact))
        }
    }
}
