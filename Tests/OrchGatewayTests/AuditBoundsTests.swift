import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import OrchJSON
import OrchPolicy
import Testing

@testable import OrchGateway

// What a client without a token can do to the audit log: nothing unbounded.

@Test func clientSuppliedFieldsAreCutInAuditRecords() async throws {
    let g = try TestGateway()
    let origin = "https://" + String(repeating: "é", count: 8000) + ".example.com"
    let path = "/api/v1/orgs/" + String(repeating: "a", count: 12_000) + "/servers"
    try await g.test { client in
        try await client.execute(uri: "/api/v1/me", method: .get, headers: [.origin: origin]) { #expect($0.status == .forbidden) }
        try await client.execute(uri: path, method: .get, headers: bearer("orch_wrong")) { #expect($0.status == .unauthorized) }
    }
    let lines = g.auditLines
    #expect(lines.count == 2)
    for line in lines {
        #expect(line.utf8.count < 2048, "\(line.utf8.count) bytes")
        let record = try JSONValue.parse(line)  // cut at a character boundary: still valid JSON and UTF-8
        #expect(record["decision"] == "deny")
    }
    let reason = try #require(try JSONValue.parse(lines[0])["reason"]?.stringValue)
    #expect(reason.hasPrefix("origin https://éé"))
    #expect(reason.hasSuffix(" bytes]"))
    #expect(try JSONValue.parse(lines[1])["method"]?.stringValue?.hasSuffix(" bytes]") == true)
}

@Test func refusedUnauthenticatedRequestsAreRecordedAtMostTwentyTimesPerClientAndWindow() async throws {
    let g = try TestGateway()
    try await g.test { client in
        for _ in 0..<35 {
            try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer("orch_wrong")) { #expect($0.status == .unauthorized) }
        }
        // An authenticated caller is never throttled.
        for _ in 0..<25 {
            try await client.execute(uri: "/api/v1/policy", method: .get, headers: bearer(Tokens.bob)) { #expect($0.status == .forbidden) }
        }
    }
    let records = g.auditLines.compactMap { try? JSONValue.parse($0) }
    #expect(records.filter { $0["status"] == 401 }.count == 20)
    #expect(records.filter { $0["status"] == 403 }.count == 25)
    #expect(String(decoding: g.gateway.metrics.render(), as: UTF8.self).contains("orch_audit_suppressed_total 15"))
}

@Test func theThrottleSummarisesWhatItLeftOutWhenTheNextWindowStarts() {
    let throttle = AuditThrottle(limit: 2, window: .seconds(10))
    let start = ContinuousClock.now
    #expect(throttle.admit("10.0.0.1:5000", now: start) == .write(suppressed: 0))
    #expect(throttle.admit("10.0.0.1:5001", now: start) == .write(suppressed: 0))
    #expect(throttle.admit("10.0.0.1:5002", now: start) == .suppress)
    #expect(throttle.admit("10.0.0.1:5003", now: start + .seconds(1)) == .suppress)
    // Another address has its own bound; an IPv6 address keeps its colons.
    #expect(throttle.admit("::1:5000", now: start) == .write(suppressed: 0))
    #expect(AuditThrottle.address("::1:5000") == "::1")
    #expect(throttle.admit("10.0.0.1:6000", now: start + .seconds(11)) == .write(suppressed: 2))
    #expect(throttle.admit("10.0.0.1:6001", now: start + .seconds(11)) == .write(suppressed: 0))
}

@Test func auditWriteFailuresAreCountedAndLogged() async throws {
    let store = PolicyStore(source: "test.json")
    let gateway = Gateway(store: store, audit: try AuditLog(destination: "/dev/full"), logger: Logger(label: "test"))
    ReloadWatcher.install(compile(testPolicyJSON()), path: "test.json", gateway: gateway)
    try await Application(router: gateway.router()).test(.router) { client in
        for _ in 0..<3 {
            try await client.execute(uri: "/api/v1/me", method: .get, headers: bearer("orch_wrong")) { #expect($0.status == .unauthorized) }
        }
    }
    #expect(gateway.audit.failedWrites == 3)
    #expect(String(decoding: gateway.metrics.render(), as: UTF8.self).contains("orch_audit_write_failures_total 3"))
}
