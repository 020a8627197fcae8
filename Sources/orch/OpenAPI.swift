import ArgumentParser
import OrchGateway
import OrchJSON

struct OpenAPI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "openapi",
        abstract: "Print the OpenAPI 3.1 document of the gateway's REST API.",
        discussion: "docs/openapi.json is this output; orch serve also serves it, without authentication, at GET /api/v1/openapi.json."
    )

    func run() throws {
        Console.out(OpenAPIDocument.json.pretty)
    }
}
