import Foundation
@testable import OrchPolicy
import Testing

// gateway.stateKey: one key or a list (the current one first), each 32 bytes in base64.

private let current = Data((0..<32).map { UInt8($0) }).base64EncodedString()
private let previous = Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()
private let environment = ["ORCH_STATE_KEY": current, "ORCH_OLD_STATE_KEY": previous, "SHORT": Data(count: 16).base64EncodedString()]

private func document(_ stateKey: String) -> String {
    #"{ "version": 1, "gateway": { "stateKey": \#(stateKey) }, "roles": {}, "orgs": {}, "users": {} }"#
}

@Test func aStateKeyIsOneKeyOrAListWithTheCurrentOneFirst() throws {
    let one = compile(document(#""${env:ORCH_STATE_KEY}""#), environment: environment)
    #expect(one.diagnostics.isEmpty)
    #expect(one.policy?.settings.stateKeys == [current])
    let rotating = compile(document(#"["${env:ORCH_STATE_KEY}", "${env:ORCH_OLD_STATE_KEY}"]"#), environment: environment)
    #expect(rotating.diagnostics.isEmpty)
    #expect(rotating.policy?.settings.stateKeys == [current, previous])
    // Left out: none, and the gateway makes a random key per process.
    #expect(compile(#"{ "version": 1, "roles": {}, "orgs": {}, "users": {} }"#).policy?.settings.stateKeys == [])
}

@Test func aStateKeyOfTheWrongLengthOrFormIsAnErrorAndALiteralOneAWarning() {
    func lines(_ stateKey: String) -> [String] { unplaced(rendered(compile(document(stateKey), environment: environment).diagnostics)) }
    #expect(lines(#""${env:SHORT}""#) == ["orch.json: error: gateway.stateKey: must be 32 bytes in base64, found 16 (make a key with: openssl rand -base64 32)"])
    #expect(lines(#"["${env:ORCH_STATE_KEY}", "not base64!"]"#) == [
        "orch.json: error: gateway.stateKey[1]: is not base64 (make a key with: openssl rand -base64 32)",
        "orch.json: warning: gateway.stateKey[1]: looks like a secret written into the file; write \"${env:VARIABLE}\" and set VARIABLE where orch runs",
    ])
    #expect(lines("\"\(current)\"") == [
        "orch.json: warning: gateway.stateKey: looks like a secret written into the file; write \"${env:VARIABLE}\" and set VARIABLE where orch runs",
    ])
    #expect(lines(#""${env:NOT_SET}""#) == ["orch.json: error: gateway.stateKey: environment variable NOT_SET is not set (write ${env:NOT_SET:-default} for a default)"])
    #expect(lines("[]") == ["orch.json: error: gateway.stateKey: must name at least one key (leave stateKey out for a random key per process)"])
    #expect(lines("7") == ["orch.json: error: gateway.stateKey: expected a key (a string) or a list of keys, the current one first, found a number"])
    // A key's value never appears in a diagnostic.
    #expect(!lines("\"\(current)\"").joined().contains(current))
}
