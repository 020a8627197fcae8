import Foundation
import OrchPolicy
import Testing

/// The diagnostics quoted in docs/reference/orch-json.md, each block tied to the inputs that print it.
///
/// A block is preceded by `<!-- example: INPUT … -->`; each INPUT is `NAME.json` (a file in
/// `DocExamples/`) or `spaces:N` (N spaces, for a file too large to keep), and the block is their
/// diagnostics one after the other, in full. As on the page, a diagnostic with a path is shown
/// without its place; a syntax error keeps `:LINE:COL`.
struct DocExample: Sendable, CustomTestStringConvertible {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let page = root.appendingPathComponent("docs/reference/orch-json.md")
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("DocExamples")
    static let marker = "<!-- example: "

    let inputs: [String]
    /// Lines of the page (0-based) between the block's opening and closing fence.
    let lines: Range<Int>
    let expected: [String]

    var testDescription: String { inputs.joined(separator: " ") }

    static func pageLines() throws -> [String] {
        try String(contentsOf: page, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    /// Every marked block; a marker not followed by a block is an error.
    static func all(in page: [String]) throws -> [DocExample] {
        var examples: [DocExample] = []
        for (i, line) in page.enumerated() where line.hasPrefix(marker) {
            guard line.hasSuffix(" -->"), i + 1 < page.count, page[i + 1].hasPrefix("```"),
                  let close = page[(i + 2)...].firstIndex(where: { $0.hasPrefix("```") })
            else { throw DocError("line \(i + 1): \(line) is not followed by a ``` block") }
            let inputs = line.dropFirst(marker.count).dropLast(" -->".count).split(separator: " ").map(String.init)
            examples.append(DocExample(inputs: inputs, lines: (i + 2)..<close, expected: Array(page[(i + 2)..<close])))
        }
        return examples
    }

    /// The part of the page that lists diagnostics: from `## Diagnostics` to the next `## `.
    static func diagnosticsSection(of page: [String]) -> Range<Int> {
        let start = page.firstIndex(of: "## Diagnostics") ?? page.count
        let end = page[min(start + 1, page.count)...].firstIndex { $0.hasPrefix("## ") } ?? page.count
        return start..<end
    }

    /// What `orch check` prints for the inputs, one line a diagnostic, as the page quotes it.
    func actual() throws -> [String] {
        try inputs.flatMap { input -> [String] in
            let bytes = try Self.bytes(of: input)
            // `orch check` with an empty environment; the clock pinned, for the expiry warnings.
            let result = PolicyCompiler.compile(bytes, options: CompileOptions(environment: [:], now: Pinned.now))
            #expect(!result.diagnostics.isEmpty, "\(input) prints no diagnostics")
            return result.diagnostics.map { d in
                let line = d.rendered(file: "orch.json")
                return d.path.isEmpty ? line : unplaced([line])[0]
            }
        }
    }

    static func bytes(of input: String) throws -> [UInt8] {
        if input.hasPrefix("spaces:"), let count = Int(input.dropFirst("spaces:".count)) {
            return [UInt8](repeating: 0x20, count: count)
        }
        guard input.hasSuffix(".json") else { throw DocError("\(input) is neither NAME.json nor spaces:N") }
        return Array(try Data(contentsOf: folder.appendingPathComponent(input)))
    }
}

struct DocError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@Suite struct DocExamplesTests {
    @Test func docsQuoteTheDiagnosticsOrchPrints() throws {
        var page = try DocExample.pageLines()
        let examples = try DocExample.all(in: page)
        #expect(examples.count >= 10, "found \(examples.count) examples in \(DocExample.page.path)")
        var changed = false
        // From the last block up, so that rewriting one leaves the line numbers of the others.
        for example in examples.reversed() {
            let actual = try example.actual()
            #expect(actual == example.expected, """
                docs/reference/orch-json.md line \(example.lines.lowerBound + 1), example \(example.inputs.joined(separator: " ")): \
                the block differs from what orch prints.
                docs:
                \(example.expected.joined(separator: "\n"))
                orch:
                \(actual.joined(separator: "\n"))
                """)
            if actual != example.expected {
                page.replaceSubrange(example.lines, with: actual)
                changed = true
            }
        }
        // ORCH_UPDATE_DOCS=1 writes what orch prints now into the page (review the diff).
        if changed, ProcessInfo.processInfo.environment["ORCH_UPDATE_DOCS"] == "1" {
            try Data(page.joined(separator: "\n").utf8).write(to: DocExample.page)
        }
    }

    @Test func everyQuotedDiagnosticsBlockHasAnExample() throws {
        let page = try DocExample.pageLines()
        let diagnostic = #/^orch\.json(:\d+:\d+)?: (error|warning): /#
        var open: Int? = nil
        for i in DocExample.diagnosticsSection(of: page) where page[i].hasPrefix("```") {
            guard let start = open else { open = i; continue }
            open = nil
            let block = page[(start + 1)..<i]
            guard !block.isEmpty, block.allSatisfy({ $0.contains(diagnostic) }) else { continue }
            #expect(start > 0 && page[start - 1].hasPrefix(DocExample.marker),
                    "docs/reference/orch-json.md line \(start + 1): a block of diagnostics without <!-- example: NAME.json --> right before it")
        }
    }

    @Test func everyInputIsQuotedOnThePage() throws {
        let used = Set(try DocExample.all(in: DocExample.pageLines()).flatMap(\.inputs))
        let files = try FileManager.default.contentsOfDirectory(atPath: DocExample.folder.path).filter { $0.hasSuffix(".json") }
        #expect(!files.isEmpty)
        for file in files.sorted() {
            #expect(used.contains(file), "DocExamples/\(file) is not named by any <!-- example: … --> in docs/reference/orch-json.md")
        }
    }
}
