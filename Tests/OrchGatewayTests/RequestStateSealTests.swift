import Foundation
@testable import OrchGateway
import Testing

// requestState sealed with gateway.stateKey: the first key seals, every listed key opens.

private let a = Data(repeating: 1, count: 32).base64EncodedString()
private let b = Data(repeating: 2, count: 32).base64EncodedString()
private let binding = RequestStateSeal.Binding(user: "bob", credential: "key:ab", server: "acme/notes", method: "tools/call", call: "c0ffee",
                                               heldCall: "h1", question: "q1", expires: 4_000_000_000)

@Test func aStateSealedWithAnOldKeyOpensWhileTheKeyIsStillListed() {
    let old = RequestStateSeal(keys: [a]).seal(binding)
    // Rotation: the new key first, the old one still listed; then the old one removed.
    #expect(RequestStateSeal(keys: [b, a]).open(old) == binding)
    #expect(RequestStateSeal(keys: [b]).open(old) == nil)
    // The new key seals: replicas that list it (first or not) open it; one with the old key alone does not.
    let new = RequestStateSeal(keys: [b, a]).seal(binding)
    #expect(RequestStateSeal(keys: [b]).open(new) == binding)
    #expect(RequestStateSeal(keys: [a, b]).open(new) == binding)
    #expect(RequestStateSeal(keys: [a]).open(new) == nil)
    // Changed by one character, or made by another process's random key: not opened.
    var changed = Array(new)
    changed[changed.count - 3] = changed[changed.count - 3] == "A" ? "B" : "A"
    #expect(RequestStateSeal(keys: [b]).open(String(changed)) == nil)
    #expect(RequestStateSeal(keys: []).open(RequestStateSeal(keys: []).seal(binding)) == nil)
}
