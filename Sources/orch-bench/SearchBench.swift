import Foundation
import OrchPolicy

/// `orch-bench search N`: search mode's index over N generated tools (names and descriptions like
/// `orch sample-server --generated-tools`): the build, best of 5, and one query, mean of 1,000.
/// Prints `build_ms` and `query_us`.
func searchBench(_ count: Int) {
    let verbs = ["create", "list", "update", "delete", "search", "export", "archive", "summarize"]
    let nouns = ["issue", "branch", "deploy", "invoice", "ticket", "calendar", "message", "report", "schema", "bucket", "cluster", "query",
                 "customer", "order", "payment", "image", "video", "document", "folder", "user", "team", "project", "metric", "alert"]
    let entries = (0..<count).map { index in
        let verb = verbs[index % verbs.count], noun = nouns[(index / verbs.count) % nouns.count]
        let other = nouns[(index / (verbs.count * nouns.count) + index) % nouns.count]
        return ToolSearch.Entry(name: "s\(index % 5)__tool_\(index)", description: "\(verb.capitalized) the \(noun) of a \(other) (generated tool \(index)).")
    }
    let clock = ContinuousClock()
    var best = Duration.seconds(1000)
    var index = ToolSearch([])
    for _ in 0..<5 {
        let start = clock.now
        index = ToolSearch(entries)
        best = min(best, clock.now - start)
    }
    let queries = ["summarize the invoice of a customer", "delete branch", "export a report of metrics", "find the payment order", "calendar"]
    var found = 0
    let start = clock.now
    for round in 0..<1000 { found += index.search(queries[round % queries.count], limit: 10).count }
    let took = clock.now - start
    func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15 }
    print("build_ms \(String(format: "%.1f", ms(best)))")
    print("query_us \(String(format: "%.0f", ms(took) * 1000 / 1000))")
    if found == 0 { exit(1) }
}
