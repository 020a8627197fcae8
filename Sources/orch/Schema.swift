import ArgumentParser
import OrchJSON
import OrchPolicy

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the JSON Schema (2020-12) of orch.json.",
        discussion: "samples/orch.schema.json is this output; name it in \"$schema\" so editors validate and complete the file."
    )

    func run() throws {
        Console.out(PolicySchema.json.pretty)
    }
}
