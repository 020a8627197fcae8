import ArgumentParser
import Foundation
import OrchJSON
import OrchPolicy

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate and compile orch.json and run its tests.",
        discussion: """
            Prints every problem on stderr, one a line, and on success a summary line with the \
            policy digest. Exit status 0 when the file compiles, 1 when it does not, 2 when it cannot \
            be read.

            --format github prints each problem on stdout as a GitHub Actions annotation \
            (::error file=FILE,line=L,col=C::PATH: MESSAGE), placed at the line of its path, and the \
            summary line on stderr.
            """
    )

    @OptionGroup var options: ConfigOption
    @Argument(help: ArgumentHelp("The orch.json to check.", valueName: "FILE")) var file: String?
    @Flag(help: "Treat warnings as errors.") var strict = false
    @Option(help: ArgumentHelp("text, json ({\"ok\",\"digest\",\"diagnostics\"} on stdout) or github (annotations).", valueName: "FORMAT"))
    var format: CheckFormat?
    @Flag(help: "The same as --format json.") var json = false
    @Flag(help: "Also list, per per-user server (${user:NAME}), the users who may reach it but lack a secret; exit 1 when any does.")
    var secrets = false

    func validate() throws {
        if json, let format, format != .json { throw ValidationError("--json is --format json: give one of them") }
    }

    func run() throws {
        let path = options.path(positional: file)
        let output: CheckFormat = json ? .json : format ?? .text
        let bytes: [UInt8]
        do {
            bytes = try PolicyFileError.read(path)
        } catch {
            if output == .github {
                Console.out(GitHubAnnotation.line(Diagnostic(.error, path: "", message: "cannot read \(error.path): \(error.reason)"), file: path))
            } else if output == .json {
                JSONValue.object(["ok": false, "digest": nil, "diagnostics": [
                    Diagnostic(.error, path: "", message: "cannot read \(error.path): \(error.reason)").json,
                ]]).printLine()
            } else {
                Console.error("orch: cannot read \(error.path): \(error.reason)")
            }
            throw ExitCode(2)
        }
        let result = PolicyCompiler.compile(bytes, options: CompileOptions(strict: strict))
        // The servers' overrides against what their pins say they list, when the file is pinned.
        let pinned = result.policy.map { Self.pinnedDiagnostics($0, beside: path, strict: strict) } ?? []
        let diagnostics = result.diagnostics + pinned
        let ok = result.ok && !pinned.contains { $0.severity == .error }
        if output == .github {
            let positions = diagnostics.contains { $0.line == nil } ? PathPositions(bytes) : nil
            for d in diagnostics { Console.out(GitHubAnnotation.line(d.located(in: positions), file: path)) }
        }
        // With --secrets, who lacks which secret of the per-user servers they may reach (never a value).
        let missing = secrets ? result.policy.map { $0.missingSecrets(UserSecrets(settings: $0.settings, policyPath: path), at: Date()) } ?? [] : []
        if output == .json {
            var object: JSONObject = [
                "ok": .bool(ok), "digest": .string(result.digest),
                "diagnostics": .array(diagnostics.map(\.json)),
            ]
            if secrets {
                object["secrets"] = .array(missing.map { m -> JSONValue in
                    ["server": .string(m.server), "user": .string(m.user), "secret": .string(m.problem.name), "problem": .string(m.problem.description)]
                })
            }
            JSONValue.object(object).printLine()
        } else {
            if output == .text {
                for d in diagnostics { Console.error(d.rendered(file: path)) }
            }
            for m in missing {
                let line = "\(m.server): \(m.user) may reach it but \(m.problem)"
                if output == .github { Console.out("::warning file=\(path)::\(line)") } else { Console.error("\(path): secret: \(line)") }
            }
            if let policy = result.policy, ok {
                let c = policy.counts
                // Under github, stdout holds only workflow commands.
                (output == .github ? Console.error : Console.out)("\(path): ok (\(Self.count(c.orgs, "org")), \(Self.count(c.users, "user")), \(Self.count(c.keys, "key")), \(Self.count(c.servers, "server")), \(Self.count(c.tests, "test")) passed) \(result.digest)")
            } else {
                let errors = diagnostics.filter { $0.severity == .error }.count
                Console.error("\(path): \(errors) error\(errors == 1 ? "" : "s")")
            }
        }
        // The process ends next: a large policy is left to the exit rather than freed block by block.
        Check.leftForExit = result
        if !ok || !missing.isEmpty { throw ExitCode(1) }
    }

    /// `Policy.overrideDiagnostics` against the `orch.lock.json` beside `path`; none without one
    /// (or with one that cannot be read, which `orch pin --check` reports).
    static func pinnedDiagnostics(_ policy: Policy, beside path: String, strict: Bool) -> [Diagnostic] {
        let lockPath = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(PinLock.fileName).path
        guard policy.servers.contains(where: { !$0.spec.overrides.isEmpty }), let data = FileManager.default.contents(atPath: lockPath),
            let lock = try? PinLock.parse(String(decoding: data, as: UTF8.self))
        else { return [] }
        return policy.overrideDiagnostics(against: lock).map { d in
            var d = d
            if strict { d.severity = .error }
            return d
        }
    }

    nonisolated(unsafe) private static var leftForExit: CompileResult? = nil

    /// `1 org`, `2 orgs`.
    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
}

/// How `orch check` reports: text on stderr, one JSON object, or GitHub Actions annotations.
enum CheckFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, github
}
