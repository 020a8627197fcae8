import ArgumentParser
import Foundation
import OrchJSON
import OrchPolicy

/// `-c/--config FILE`, shared by every command.
struct ConfigOption: ParsableArguments {
    @Option(name: [.customShort("c"), .long], help: ArgumentHelp("The orch.json to read (default: $ORCH_CONFIG, else ./orch.json).", valueName: "FILE"))
    var config: String?

    /// The file to read: a positional FILE, else `--config`, else `$ORCH_CONFIG`, else `./orch.json`.
    func path(positional: String? = nil) -> String {
        positional ?? config ?? ProcessInfo.processInfo.environment["ORCH_CONFIG"] ?? "orch.json"
    }

    /// Reads and compiles the file; prints the diagnostics and exits 2 when it cannot be used.
    func load(positional: String? = nil) throws -> LoadedPolicy {
        let path = path(positional: positional)
        let bytes: [UInt8]
        do {
            bytes = try PolicyFileError.read(path)
        } catch {
            Console.error("orch: cannot read \(error.path): \(error.reason)")
            throw ExitCode(2)
        }
        let result = PolicyCompiler.compile(bytes)
        for d in result.diagnostics where d.severity == .error { Console.error(d.rendered(file: path)) }
        guard let policy = result.policy else {
            Console.error("orch: \(path) is not valid; run `orch check \(path)` for details")
            throw ExitCode(2)
        }
        return LoadedPolicy(path: path, bytes: bytes, policy: policy)
    }
}

struct LoadedPolicy {
    let path: String
    let bytes: [UInt8]
    let policy: Policy
}

extension JSONValue {
    /// Prints compact JSON, one value a line.
    func printLine() { Console.out(compact) }
}
