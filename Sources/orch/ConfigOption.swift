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
    ///
    /// `toleratingUnsetVariables`: for the commands that never start an upstream (`keys`,
    /// `explain`, `can`, `client-config`), a `${env:NAME}` that is not set is a warning, not an
    /// error, so that an admin needs no upstream's credential in their shell.
    func load(positional: String? = nil, toleratingUnsetVariables: Bool = false) throws -> LoadedPolicy {
        let path = path(positional: positional)
        let bytes = try Self.read(path)
        let environment = ProcessInfo.processInfo.environment
        let compiled = toleratingUnsetVariables
            ? UnsetVariables.compile(bytes, environment: environment)
            : UnsetVariables.Compiled(result: PolicyCompiler.compile(bytes, options: CompileOptions(environment: environment)), environment: environment, unset: [])
        for variable in compiled.unset {
            Console.error("orch: warning: environment variable \(variable.name) is not set (\(variable.paths.joined(separator: ", "))); only orch serve needs it")
        }
        let result = compiled.result
        for d in result.diagnostics where d.severity == .error { Console.error(d.rendered(file: path)) }
        guard let policy = result.policy else {
            Console.error("orch: \(path) is not valid; run `orch check \(path)` for details")
            throw ExitCode(2)
        }
        return LoadedPolicy(path: path, bytes: bytes, policy: policy, environment: compiled.environment, unsetPaths: compiled.unset.flatMap(\.paths))
    }
}

extension ConfigOption {
    /// The file's bytes; `orch: cannot read PATH: REASON` and exit 2 when it cannot be read.
    static func read(_ path: String) throws -> [UInt8] {
        do {
            return try PolicyFileError.read(path)
        } catch {
            Console.error("orch: cannot read \(error.path): \(error.reason)")
            throw ExitCode(2)
        }
    }
}

struct LoadedPolicy {
    let path: String
    let bytes: [UInt8]
    let policy: Policy
    /// The environment it was compiled with (stand-ins for unset variables included), for
    /// compiling an edit of the same file the same way.
    let environment: [String: String]
    /// Where a variable that is not set was named (compiled with a stand-in there).
    var unsetPaths: [String] = []
}

extension JSONValue {
    /// Prints compact JSON, one value a line.
    func printLine() { Console.out(compact) }
}
