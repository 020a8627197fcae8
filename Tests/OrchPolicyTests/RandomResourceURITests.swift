import Foundation
import OrchPolicy
import Testing

/// Many random URIs, each put in normal form by `ResourceURI.normalize` and by
/// `ReferenceURI.normalize` (RFC 3986 read literally). Each case is one seed; a failure prints the
/// seed and the first URIs where the two differ, and `RandomURI.make(seed:)` rebuilds them.
enum RandomURI {
    static let baseSeed: UInt64 = 0x7572_692D_6E6F_726D
    static let caseCount = 40
    static let perCase = 500

    static func seed(_ index: Int) -> UInt64 { baseSeed &+ UInt64(index) &* 0x1000_0001 }

    // Small alphabets, so that dot segments, encodings and case meet often.
    static let schemes = ["notes", "NOTES", "NoTeS", "file", "FILE", "http", "HTTP", "https", "ws", "wss", "urn", "x-a.b+1", "mailto"]
    static let badSchemes = ["", "1x", "no tes", "n%41tes", "*", "a/b"]
    static let hosts = ["host", "HOST", "Ex%41mple.COM", "localhost", "LocalHost", "[FE80::1]", "[::1", "", "h%2fx", "caf%C3%A9", "café", "a%7eb"]
    static let ports = ["", "80", "443", "0080", "000", "8080", "8a", "21"]
    static let pieces = [".", "..", ".", "..", "%2e", "%2E", "%2e%2E", ".%2e", "a", "B", "%41", "%7e", "%7E", "~", "%2f", "%2F", "%5c",
                         "", "%3A", "%c3%a9", "é", "my notes", "*", "x.y", "..a", "%25", "@", ":"]
    static let queryPieces = ["/../", "./", "%7e", "%2F", "a=b", "%41", "?", "/", "x%2e"]
    static let controls: [Unicode.Scalar] = ["\n", "\t", "\u{7F}", "\u{85}", "\u{1}", "\u{9F}"]

    static func make(seed: UInt64) -> [String] {
        var rng = SplitMix64(seed: seed)
        func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
        func pick<T>(_ items: [T]) -> T { items.randomElement(using: &rng)! }
        func segment() -> String { (0..<Int.random(in: 1...2, using: &rng)).map { _ in pick(pieces) }.joined() }

        return (0..<perCase).map { _ in
            var uri = (chance(0.03) ? pick(badSchemes) : pick(schemes)) + ":"
            let hasAuthority = chance(0.7)
            if hasAuthority {
                uri += "//" + (chance(0.03) ? "bob@" : "") + pick(hosts) + (chance(0.35) ? ":" + pick(ports) : "")
            }
            let segments = (0..<Int.random(in: 0...5, using: &rng)).map { _ in segment() }
            if !segments.isEmpty {
                // With an authority a path is absolute; without one, mostly.
                let absolute = hasAuthority || chance(0.75)
                uri += (absolute ? "/" : "") + segments.joined(separator: "/")
                if chance(0.2) { uri += "/" }
            }
            if chance(0.3) { uri += "?" + (0..<Int.random(in: 1...3, using: &rng)).map { _ in pick(queryPieces) }.joined() }
            if chance(0.2) { uri += "#" + (0..<Int.random(in: 1...2, using: &rng)).map { _ in pick(queryPieces) }.joined() }
            // Noise a server might meet: spaces, controls, backslashes, broken encodings.
            var scalars = Array(uri.unicodeScalars)
            func insert(_ text: String) {
                scalars.insert(contentsOf: text.unicodeScalars, at: Int.random(in: 0...scalars.count, using: &rng))
            }
            if chance(0.03) { insert(String(pick(controls))) }
            if chance(0.03) { insert("\\") }
            if chance(0.03) { insert(pick(["%", "%4", "%zz", "%g0"])) }
            if chance(0.03) { scalars.insert(" ", at: 0) }
            if chance(0.03) { scalars.append(" ") }
            return String(String.UnicodeScalarView(scalars))
        }
    }

    struct Findings {
        var header = ""
        var mismatches: [String] = []
        /// How often each outcome occurred, to show the generator reaches them all.
        var reached: [String: Int] = [:]
    }

    static func run(index: Int) -> Findings {
        let seed = seed(index)
        var findings = Findings(header: "seed 0x\(String(seed, radix: 16)) (case \(index))")
        for uri in make(seed: seed) {
            let got = ResourceURI.normalize(uri)
            let expected = ReferenceURI.normalize(uri)
            if got != expected {
                findings.mismatches.append("\(uri.debugDescription): got \(got), expected \(expected)")
            }
            switch got {
            case .success(let normal):
                findings.reached[normal == uri ? "already normal" : "rewritten", default: 0] += 1
                if ResourceURI.normalize(normal) != .success(normal) {
                    findings.mismatches.append("\(uri.debugDescription): the normal form \(normal.debugDescription) is not its own normal form")
                }
            case .failure(let refusal):
                findings.reached["\(refusal)", default: 0] += 1
            }
        }
        return findings
    }
}

@Test(arguments: 0..<RandomURI.caseCount)
func randomURIsGetTheNormalFormOfTheReference(index: Int) {
    let findings = RandomURI.run(index: index)
    guard !findings.mismatches.isEmpty else { return }
    Issue.record("""
        \(findings.mismatches.count) of \(RandomURI.perCase) URIs differ from the reference; the first:
        \(findings.mismatches.prefix(8).joined(separator: "\n"))
        \(findings.header)
        """)
}

@Test func randomURIsReachEveryOutcome() {
    // Guards the random test's strength: every refusal and both kinds of success occur often.
    var reached: [String: Int] = [:]
    for index in 0..<RandomURI.caseCount {
        reached.merge(RandomURI.run(index: index).reached, uniquingKeysWith: +)
    }
    let refusals = ResourceURI.Refusal.allCases.filter { $0 != .empty }.map { "\($0)" }
    for outcome in ["already normal", "rewritten"] + refusals {
        #expect(reached[outcome, default: 0] >= 50, "\(outcome): \(reached[outcome, default: 0]) in \(reached)")
    }
    #expect(reached.values.reduce(0, +) == RandomURI.caseCount * RandomURI.perCase)
}

@Test func referenceRemoveDotSegmentsAgreesWithTheRFCExamples() {
    // The oracle itself must be right, or the random test proves nothing (RFC 3986 5.2.4, 5.4).
    func resolve(_ path: String) -> String { ReferenceURI.string(ReferenceURI.removeDotSegments(Array(path.unicodeScalars))) }
    #expect(resolve("/a/b/c/./../../g") == "/a/g")
    #expect(resolve("mid/content=5/../6") == "mid/6")
    #expect(resolve("/b/c/../../../g") == "/g")
    #expect(resolve("/b/c/./g/.") == "/b/c/g/")
    #expect(resolve("/b/c/g/..") == "/b/c/")
    #expect(resolve("/b/c/..g") == "/b/c/..g")
    #expect(ReferenceURI.normalize("HTTP://www.Example.com/%7euser") == .success("http://www.example.com/~user"))
    #expect(ReferenceURI.normalize("example://a/b/c/%7Bfoo%7D") == .success("example://a/b/c/%7Bfoo%7D"))
}
