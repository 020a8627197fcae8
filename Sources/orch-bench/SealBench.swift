import Foundation
import OrchGateway
import OrchJSON
import OrchPolicy

/// `orch-bench seal`: what sealing and opening one legacy session id costs (the id a replica opens
/// before it re-creates a session it does not hold), for an id with a typical client's
/// capabilities. Prints `seal_ns`, `verify_ns` and the id's length.
func sealBench() {
    let key = Data((0..<32).map { UInt8($0 &* 7 &+ 3) }).base64EncodedString()
    let seal = SessionSeal(keys: [key])
    let claims = SealedSession(
        user: "bob", keyID: "laptop", credential: SessionSeal.fingerprint(.key(KeyHash(token: "orch_bench-token"))), endpoint: "acme/notes",
        version: "2025-06-18",
        capabilities: ["roots": ["listChanged": true], "sampling": [:], "elicitation": ["form": [:], "url": [:]]],
        clientName: "claude-code", clientVersion: "2.1.4", issued: 1_765_000_000, expires: 1_765_086_400)
    let clock = ContinuousClock()
    let rounds = 100_000
    var id = ""
    var best = Duration.seconds(1000)
    for _ in 0..<3 {
        let start = clock.now
        for _ in 0..<rounds { id = seal.seal(claims) }
        best = min(best, clock.now - start)
    }
    let sealNs = Double(best.components.attoseconds) / 1e9 / Double(rounds) + Double(best.components.seconds) * 1e9 / Double(rounds)
    var opened = 0
    best = .seconds(1000)
    for _ in 0..<3 {
        let start = clock.now
        for _ in 0..<rounds where seal.open(id) == .opened(claims) { opened += 1 }
        best = min(best, clock.now - start)
    }
    let verifyNs = Double(best.components.attoseconds) / 1e9 / Double(rounds) + Double(best.components.seconds) * 1e9 / Double(rounds)
    guard opened == 3 * rounds else {
        print("FAILED: \(3 * rounds - opened) ids did not open")
        exit(1)
    }
    print("seal_ns \(String(format: "%.0f", sealNs))")
    print("verify_ns \(String(format: "%.0f", verifyNs)) (id of \(id.utf8.count) characters)")
}
