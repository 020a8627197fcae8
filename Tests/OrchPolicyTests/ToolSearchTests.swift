import Foundation
@testable import OrchPolicy
import Testing

// find_tools' ranking core: BM25 over names and descriptions, bounded queries.

private let tools = ToolSearch([
    .init(name: "github__merge_pull_request", description: "Merge a pull request into its base branch."),
    .init(name: "github__list_pull_requests", description: "List the open pull requests of a repository."),
    .init(name: "jira__createIssue", description: "Create an issue in a Jira project."),
    .init(name: "notes__echo", description: "Echo the text back."),
    .init(name: "sheets__read_sheet", description: "Read cells of a spreadsheet; say which range."),
])

@Test func wordsSplitSnakeKebabAndCamelCase() {
    #expect(ToolSearch.words("github__merge_pull-request") == ["github", "merge", "pull", "request"])
    #expect(ToolSearch.words("jira__createIssue v2API") == ["jira", "create", "issue", "v2", "api"])
    #expect(ToolSearch.words("Ünïcode, \"quotes\"; 42") == ["n", "code", "quotes", "42"])
}

@Test func theBestMatchesComeFirstAndNamesCountMore() {
    #expect(tools.search("merge pull request", limit: 10).map(\.name).first == "github__merge_pull_request")
    #expect(tools.search("pull requests", limit: 2).map(\.name).sorted() == ["github__list_pull_requests", "github__merge_pull_request"])
    #expect(tools.search("create issue", limit: 1).map(\.name) == ["jira__createIssue"])
    // "read" is in a name once and in no description: that tool first.
    #expect(tools.search("read", limit: 10).map(\.name) == ["sheets__read_sheet"])
    #expect(tools.search("spreadsheet", limit: 10).map(\.name) == ["sheets__read_sheet"])
    #expect(tools.search("Echo", limit: 3).map(\.name) == ["notes__echo"])
    #expect(tools.search("nothing matches this", limit: 10).isEmpty)
    #expect(tools.search("pull", limit: 1).count == 1 && tools.search("pull", limit: 0).isEmpty)
}

@Test func anyQueryIsBoundedAndAnswered() {
    let huge = String(repeating: "merge ", count: 200_000) + String((0..<5000).map { _ in Character(UnicodeScalar(UInt8.random(in: 0...255))) })
    #expect(tools.search(huge, limit: 5).map(\.name).first == "github__merge_pull_request")
    let manyWords = (0..<10_000).map { "w\($0)" }.joined(separator: " ") + " echo"
    #expect(tools.search(manyWords, limit: 5).isEmpty)  // past the first 32 distinct words, echo is not read
    #expect(ToolSearch([]).search("anything", limit: 5).isEmpty)
    #expect(tools.search("", limit: 5).isEmpty)
}

@Test func fiveThousandToolsAreSearchedAndTheRightOneFound() {
    var entries = (0..<5000).map { i in ToolSearch.Entry(name: "s\(i % 50)__tool_\(i)", description: "Does thing \(i) with widgets and gadgets.") }
    entries.append(.init(name: "ops__restart_service", description: "Restart a systemd service on a host."))
    let index = ToolSearch(entries)
    #expect(index.search("restart the service", limit: 3).map(\.name).first == "ops__restart_service")
    #expect(index.search("widgets", limit: 50).count == 50)
}
