import Foundation
import OrchJSON
import OrchPolicy
import Testing

/// Golden files in the style of Caddy's adapt tests: `Fixtures/NAME.policytest` holds a broken
/// orch.json, a line `----------`, then the exact diagnostics, one a line, as
/// `Diagnostic.rendered(file: "orch.json")` prints them. The folder is found from this file's path,
/// so the fixtures need no entry in Package.swift.
struct PolicyFixture: Sendable, CustomTestStringConvertible {
    static let separator = "----------"
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    let name: String
    let input: String
    let expected: [String]
    /// Set when the file could not be split into input and expectation.
    let problem: String?

    var testDescription: String { name }

    static func all() -> [PolicyFixture] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".policytest") }.sorted().map { load(name: $0) }
    }

    static func load(name: String) -> PolicyFixture {
        let text = (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? ""
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let split = lines.firstIndex(where: { $0 == separator }) else {
            return PolicyFixture(name: name, input: text, expected: [], problem: "no line \(separator) in \(name)")
        }
        // The input keeps its final newline, so line numbers and bytes are as in a real file.
        let input = lines[..<split].map { $0 + "\n" }.joined()
        var expected = lines[(split + 1)...].map(String.init)
        while expected.last?.isEmpty == true { expected.removeLast() }
        return PolicyFixture(name: name, input: input, expected: expected, problem: nil)
    }
}

@Test func fixtureFolderHoldsTheGoldenFiles() {
    let fixtures = PolicyFixture.all()
    #expect(fixtures.count >= 30, "found \(fixtures.count) fixtures in \(PolicyFixture.folder.path)")
    for fixture in fixtures {
        #expect(fixture.problem == nil, "\(fixture.problem ?? "")")
        #expect(!fixture.expected.isEmpty, "\(fixture.name) expects no diagnostics: it is not a broken file")
    }
}

@Test(arguments: PolicyFixture.all())
func brokenFileReportsExactlyTheseDiagnostics(_ fixture: PolicyFixture) throws {
    try #require(fixture.problem == nil, "\(fixture.problem ?? "")")
    let result = PolicyCompiler.compile(Array(fixture.input.utf8), options: Pinned.options())
    let actual = rendered(result.diagnostics)
    // ORCH_UPDATE_GOLDEN=1 writes what the compiler says now into the fixture (review the diff).
    if ProcessInfo.processInfo.environment["ORCH_UPDATE_GOLDEN"] == "1", actual != fixture.expected {
        let text = fixture.input + PolicyFixture.separator + "\n" + actual.map { $0 + "\n" }.joined()
        try Data(text.utf8).write(to: PolicyFixture.folder.appendingPathComponent(fixture.name))
    }
    #expect(actual == fixture.expected, """
        \(fixture.name): diagnostics differ.
        expected:
        \(fixture.expected.joined(separator: "\n"))
        actual:
        \(actual.joined(separator: "\n"))
        """)
    // A file with an error never yields a policy; one with only warnings does.
    let hasErrors = fixture.expected.contains { $0.contains(": error: ") }
    #expect(result.ok == !hasErrors, "\(fixture.name): ok is \(result.ok)")
    // Secrets taken from the environment never appear in a diagnostic, in any rendering.
    for d in result.diagnostics {
        #expect(!d.rendered(file: "orch.json").contains(Pinned.secret), "\(fixture.name): \(d.rendered(file: "orch.json"))")
        #expect(!d.json.compact.contains(Pinned.secret), "\(fixture.name): \(d.json.compact)")
    }
}
