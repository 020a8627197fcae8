import Foundation
import OrchPolicy
import Testing

/// The pinned world every test compiles in: nothing depends on the real clock or environment.
enum Pinned {
    static let now = utc("2026-11-25T00:00:00Z")
    static let secret = "s3cr3t-value"
    static let environment = ["TICKETS_TOKEN": secret]

    static func options(strict: Bool = false, environment: [String: String] = environment) -> CompileOptions {
        CompileOptions(environment: environment, now: now, strict: strict)
    }
}

/// A UTC instant from RFC 3339 text, read with Foundation's own formatter (not the code under test).
func utc(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    guard let date = formatter.date(from: text) else { preconditionFailure("bad test time \(text)") }
    return date
}

func compile(_ json: String, strict: Bool = false, environment: [String: String] = Pinned.environment) -> CompileResult {
    PolicyCompiler.compile(Array(json.utf8), options: Pinned.options(strict: strict, environment: environment))
}

func rendered(_ diagnostics: [Diagnostic]) -> [String] {
    diagnostics.map { $0.rendered(file: "orch.json") }
}

/// Compiles a fixture that must compile; the failure message lists its diagnostics.
func policy(_ json: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Policy {
    let result = compile(json)
    return try #require(
        result.policy, "fixture does not compile:\n\(rendered(result.diagnostics).joined(separator: "\n"))",
        sourceLocation: sourceLocation)
}

/// A decision as the tests compare it: allowed or not, and the reason as `Policy.describe` words it.
struct Outcome: Equatable, CustomStringConvertible {
    let allowed: Bool
    let reason: String

    var description: String { "\(allowed ? "allow" : "deny"): \(reason)" }
}

func allow(_ reason: String) -> Outcome { Outcome(allowed: true, reason: reason) }
func deny(_ reason: String) -> Outcome { Outcome(allowed: false, reason: reason) }

/// Asks the policy by names, as `orch can` does. `target` is `ORG/SERVER` or `ORG/SERVER:TOOL`,
/// split here rather than by the code under test.
func ask(_ policy: Policy, _ user: String, _ target: String, key: String? = nil, at time: Date = Pinned.now) -> Outcome {
    let slash = target.firstIndex(of: "/")!
    let org = String(target[..<slash])
    let rest = target[target.index(after: slash)...]
    let colon = rest.firstIndex(of: ":")
    let server = String(colon.map { rest[..<$0] } ?? rest)
    let tool = colon.map { String(rest[rest.index(after: $0)...]) }
    let decision = policy.decide(user: user, target: Target(org: org, server: server, tool: tool), key: key, at: time)
    return Outcome(allowed: decision.allowed, reason: policy.describe(decision.reason))
}

/// SHA-256 hex of the tokens the fixtures use, computed outside the project with `sha256sum`.
enum TokenHash {
    static let aliceLaptop = "62845b48bb8f93669994f66e3012f2c3c8f8853bb3e290d13e88900ca5f7f807"  // orch_alice-laptop
    static let bobCI = "f4bd99e551a936acfae49b3c9b27c677e28522e829f405bc031f738a65ec5eea"  // orch_bob-ci
    static let t1 = "628b49d96dcde97a430dd4f597705899e09a968f793491e4b704cae33a40dc02"  // t1
    static let t2 = "c44474038d459e40e4714afefa7bf8dae9f9834b22f5e8ec1dd434ecb62b512e"  // t2
    static let t3 = "cece8a9cecfb6c7e7ee4f3346d5e2544138bfb6e33bec6042a17333a4d3180b0"  // t3
}
