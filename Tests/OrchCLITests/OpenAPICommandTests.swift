import Foundation
import OrchJSON
import Testing

@Suite struct OpenAPICommandTests {
    @Test func openapiOutputEqualsTheCommittedDocsCopy() throws {
        let run = try Sandbox().run(["openapi"])
        #expect(run.status == 0)
        #expect(run.err == [])
        let committed = String(decoding: try Data(contentsOf: PackageRoot.url.appendingPathComponent("docs/openapi.json")), as: UTF8.self)
        let trimmed = { (text: String) in text.hasSuffix("\n") ? String(text.dropLast()) : text }
        #expect(trimmed(run.stdout) == trimmed(committed),
                "docs/openapi.json differs from `orch openapi`: regenerate it with `swift run orch openapi > docs/openapi.json`")
    }

    @Test func openapiPrintsAnOpenAPI3_1Document() throws {
        let document = try JSONValue.parse(try Sandbox().run(["openapi"]).stdout)
        #expect(document["openapi"] == "3.1.0")
        #expect(document["paths"]?["/api/v1/openapi.json"]?["get"]?["security"] == [])
    }
}
