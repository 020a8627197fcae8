import Foundation
import Hummingbird
import HummingbirdTesting
import OrchJSON
import Testing

/// alice reaches a server named notes in acme and in globex: the short form cannot choose, and
/// says which org-qualified URLs can.
@Test func anAmbiguousShortFormSaysSoAndNamesTheOrgQualifiedURLs() async throws {
    try await TestGateway().test { client in
        let post = try await client.mcp(path: "/servers/notes/mcp", token: Tokens.alice, initializeBody)
        #expect(post.status == .notFound)
        #expect(post.body["error"]?["code"] == "not_found")
        #expect(post.body["error"]?["message"]
            == "server name notes is ambiguous: you reach servers of that name in 2 orgs; use /orgs/acme/servers/notes/mcp or /orgs/globex/servers/notes/mcp")

        let sse = try await client.execute(uri: "/servers/notes/sse", method: .get, headers: [.authorization: "Bearer \(Tokens.alice)"]) { response in
            (response.status, try? JSONValue.parse(String(buffer: response.body)))
        }
        #expect(sse.0 == .notFound)
        #expect(sse.1?["error"]?["message"]
            == "server name notes is ambiguous: you reach servers of that name in 2 orgs; use /orgs/acme/servers/notes/sse or /orgs/globex/servers/notes/sse")

        // A name the caller reaches in no org is still plainly missing.
        let missing = try await client.mcp(path: "/servers/nothing/mcp", token: Tokens.alice, initializeBody)
        #expect(missing.status == .notFound)
        #expect(missing.body["error"]?["message"] == "no server nothing")
    }
}
