import OrchPolicy

/// Compiles a file whose `${env:NAME}` variables may not all be set, for the commands that answer
/// questions about the policy (`keys`, `explain`, `can`, `client-config`) and never start an
/// upstream: only `orch serve` (and `orch pin`) use those values, and `orch check` still reports
/// them as errors.
///
/// The file is compiled with the real environment first; each variable that compile reports as
/// not set (and only those: a variable with a `:-default` keeps its default) then gets the same
/// stand-in `orch diff` uses (`EnvPlaceholders`, valid wherever a value is checked), and the file
/// is compiled again. A value, real or stand-in, is never printed.
enum UnsetVariables {
    struct Unset: Equatable {
        let name: String
        /// Where the file refers to it without a default, as diagnostic paths.
        var paths: [String]
    }

    struct Compiled {
        let result: CompileResult
        /// The environment of `result`: the real one, plus stand-ins for `unset`.
        let environment: [String: String]
        let unset: [Unset]
    }

    static func compile(_ bytes: [UInt8], environment real: [String: String]) -> Compiled {
        var environment = real
        var unset: [Unset] = []
        var result = PolicyCompiler.compile(bytes, options: CompileOptions(environment: environment))
        guard !result.ok else { return Compiled(result: result, environment: environment, unset: []) }
        let standIns = EnvPlaceholders.environment(for: [bytes]).filter { real[$0.key] == nil }
        // A text that names two unset variables reports only the first; each pass finds the next.
        while true {
            var found = false
            for d in result.errors {
                guard let name = unsetName(d, among: standIns), let value = standIns[name] else { continue }
                if let i = unset.firstIndex(where: { $0.name == name }) {
                    if !unset[i].paths.contains(d.path) { unset[i].paths.append(d.path) }
                } else {
                    unset.append(Unset(name: name, paths: [d.path]))
                }
                if environment[name] == nil {
                    environment[name] = value
                    found = true
                }
            }
            guard found else { break }
            result = PolicyCompiler.compile(bytes, options: CompileOptions(environment: environment))
        }
        return Compiled(result: result, environment: environment, unset: unset)
    }

    /// The variable an error says is not set, as the compiler words it.
    private static func unsetName(_ d: Diagnostic, among names: [String: String]) -> String? {
        let prefix = "environment variable "
        guard d.message.hasPrefix(prefix) else { return nil }
        let name = String(d.message.dropFirst(prefix.count).prefix { $0 != " " })
        guard names[name] != nil, d.message.dropFirst(prefix.count + name.count).hasPrefix(" is not set") else { return nil }
        return name
    }
}
