import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import OrchAuth
import OrchGateway
import OrchJSON
import OrchPolicy
import ServiceLifecycle
import Synchronization

/// Tokens for the test policy; their hashes go into the JSON. Short on purpose: nothing shaped like
/// a real token (`orch_` + 43 characters) sits in the sources.
enum Tokens {
    static let alice = "orch_test-alice"
    static let bob = "orch_test-bob"
    static let bobCI = "orch_test-bob-ci"
    static let carol = "orch_test-carol"
    static let carolExpired = "orch_test-carol-expired"
    static let dave = "orch_test-dave-disabled"

    static func hash(_ token: String) -> String { KeyHash(token: token).hex }
}

/// A small policy: acme with three servers, globex with one; alice admin, bob member with a team
/// role and a scoped CI key, carol with an expired key, dave disabled.
func testPolicyJSON(allowedOrigins: [String] = ["https://dash.example.com"], maxBodyBytes: Int = 1024, extraUser: String = "") -> String {
    """
    {
      "version": 1,
      "gateway": { "publicURL": "https://orch.example.com", "allowedOrigins": \(JSONValue.strings(allowedOrigins).compact),
                   "limits": { "maxBodyBytes": \(maxBodyBytes) } },
      "roles": {
        "admin": { "allow": ["*"] },
        "member": { "allow": ["notes:read_*", "clock"] },
        "editor": { "allow": ["notes"], "deny": ["notes:delete_*"] }
      },
      "orgs": {
        "acme": {
          "members": { "alice": "admin", "bob": "member", "carol": "member", "dave": "member" },
          "teams": { "data": { "members": ["bob"], "roles": ["editor"] } },
          "servers": {
            "notes": { "description": "Notes", "command": "orch", "args": ["sample-server"], "env": { "NOTES_TOKEN": "${env:NOTES_SECRET:-hunter2-not-for-api}" } },
            "clock": { "command": "orch", "args": ["sample-server"] },
            "secret": { "url": "https://upstream.example.com/mcp?k=upstream-query-secret", "headers": { "Authorization": "Bearer ${env:UP:-upstream-header-secret}" } }
          }
        },
        "globex": { "members": { "alice": "admin" }, "servers": { "notes": { "command": "orch", "args": ["sample-server"] } } }
      },
      "users": {
        "alice": { "displayName": "Alice", "admin": true, "keys": [ { "id": "laptop", "sha256": "\(Tokens.hash(Tokens.alice))" } ] },
        "bob": { "keys": [
          { "id": "laptop", "sha256": "\(Tokens.hash(Tokens.bob))", "expires": "2099-01-01" },
          { "id": "ci", "sha256": "\(Tokens.hash(Tokens.bobCI))", "scope": ["acme/clock"] } ] },
        "carol": { "keys": [ { "id": "old", "sha256": "\(Tokens.hash(Tokens.carolExpired))", "expires": "2020-01-01" } ] },
        "dave": { "disabled": true, "keys": [ { "id": "k", "sha256": "\(Tokens.hash(Tokens.dave))" } ] }\(extraUser)
      }
    }
    """
}

func compile(_ json: String) -> CompileResult {
    PolicyCompiler.compile(Array(json.utf8), options: CompileOptions(environment: [:]))
}

/// A gateway over a compiled test policy, auditing to a temp file.
struct TestGateway {
    let gateway: Gateway
    let auditPath: String

    init(json: String = testPolicyJSON(), loaded: Bool = true, keyFetcher: any KeyFetcher = HTTPKeyFetcher(), clock: WallClock = .system) throws {
        auditPath = FileManager.default.temporaryDirectory.appendingPathComponent("orch-audit-\(UUID().uuidString).jsonl").path
        let store = PolicyStore(source: "test.json")
        gateway = Gateway(store: store, audit: try AuditLog(destination: auditPath), logger: Logger(label: "test"), keyFetcher: keyFetcher,
                          clock: clock)
        if loaded {
            let result = compile(json)
            precondition(result.ok, "test policy does not compile: \(result.diagnostics)")
            ReloadWatcher.install(result, path: "test.json", gateway: gateway)
        }
    }

    var auditLines: [String] {
        ((try? String(contentsOfFile: auditPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Runs `body` against the router, with the session ticker running (deadlines, keep-alives
    /// every 500 ms, idle ends); afterwards every session is ended and its upstream stopped.
    func test(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let app = Application(router: gateway.router())
        let ticker = gateway.sessionTicker(keepAliveInterval: .milliseconds(500))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await ticker.run() }
            defer { group.cancelAll() }
            try await app.test(.router, body)
        }
    }
}

/// A wall clock a test moves by hand, so that expiry is tested without sleeping.
final class ManualClock: Sendable {
    private let time: Mutex<Date>

    init(_ start: Date = Date()) {
        time = Mutex(start)
    }

    var clock: WallClock { WallClock(now: { self.time.withLock { $0 } }) }

    func advance(by seconds: TimeInterval) {
        time.withLock { $0 += seconds }
    }
}

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

extension TestResponse {
    var json: JSONValue { (try? JSONValue.parse(String(buffer: body))) ?? .null }
}
