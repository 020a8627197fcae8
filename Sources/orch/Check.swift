import ArgumentParser
import OrchJSON
import OrchPolicy

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate and compile orch.json and run its tests.",
        discussion: """
            Prints every problem on stderr, one a line, and on success a summary line with the \
            policy digest. Exit status 0 when the file compiles, 1 when it does not, 2 when it cannot \
            be read.
            """
    )

    @OptionGroup var options: ConfigOption
    @Argument(help: ArgumentHelp("The orch.json to check.", valueName: "FILE")) var file: String?
    @Flag(help: "Treat warnings as errors.") var strict = false
    @Flag(help: "Print {\"ok\",\"digest\",\"diagnostics\"} on stdout instead of text.") var json = false

    func run() throws {
        let path = options.path(positional: file)
        let result: CompileResult
        do {
            result = try PolicyCompiler.compile(file: path, options: CompileOptions(strict: strict))
        } catch {
            if json {
                JSONValue.object(["ok": false, "digest": nil, "diagnostics": [
                    Diagnostic(.error, path: "", message: "cannot read \(error.path): \(error.reason)").json,
                ]]).printLine()
            } else {
                Console.error("orch: cannot read \(error.path): \(error.reason)")
            }
            throw ExitCode(2)
        }
        if json {
            JSONValue.object([
                "ok": .bool(result.ok), "digest": .string(result.digest),
                "diagnostics": .array(result.diagnostics.map(\.json)),
            ]).printLine()
        } else {
            for d in result.diagnostics { Console.error(d.rendered(file: path)) }
            if let policy = result.policy {
                let c = policy.counts
                Console.out("\(path): ok (\(c.orgs) orgs, \(c.users) users, \(c.keys) keys, \(c.servers) servers, \(c.tests) tests passed) \(result.digest)")
            } else {
                let errors = result.errors.count
                Console.error("\(path): \(errors) error\(errors == 1 ? "" : "s")")
            }
        }
        // The process ends next: a large policy is left to the exit rather than freed block by block.
        Check.leftForExit = result
        if !result.ok { throw ExitCode(1) }
    }

    nonisolated(unsafe) private static var leftForExit: CompileResult? = nil
}
