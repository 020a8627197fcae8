import ArgumentParser
import OrchJSON
import OrchPolicy

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the access changes between two versions of orch.json.",
        discussion: """
            OLD and NEW are files or git:REV, FILE as committed at a revision (git show REV:FILE, \
            run in FILE's folder); NEW defaults to FILE. Both are compiled as orch check compiles \
            them, except that every ${env:NAME} gets a stand-in value: no secret is needed or read.

            Per user, the servers gained and lost and, on servers reachable in both, the allow and \
            deny rules gained and lost, each with the role (and team) behind it; keys added, \
            removed, re-scoped, with another expiry or token; servers added, removed or redefined \
            (the fields that changed, env and header names, never values); roles and teams added, \
            removed or changed. Compared on what the policies decide, not on their text.

            Exit status 0; with --fail-on-grant, 1 when anyone gains access (a server, a rule, \
            admin, a key added, a key's scope widened, expiry extended or token replaced, a server \
            filter that lets more through); 2 when a side cannot be read or does not compile.

            Examples:
              orch diff git:HEAD~1
              orch diff --markdown git:main orch.json > comment.md
              orch diff --json --fail-on-grant old.json new.json
            """
    )

    @OptionGroup var options: ConfigOption
    @Flag(help: "Print Markdown for a pull-request comment.") var markdown = false
    @Flag(help: "Print JSON (the shape is in docs/guide/reviewing-changes.md, under orch diff).") var json = false
    @Flag(help: "Exit 1 when anyone gains access.") var failOnGrant = false
    @Argument(help: ArgumentHelp("The old version: a file or git:REV.", valueName: "OLD")) var old: String
    @Argument(help: ArgumentHelp("The new version: a file or git:REV (default: FILE).", valueName: "NEW")) var new: String?

    func validate() throws {
        if markdown && json { throw ValidationError("give --markdown or --json, not both") }
    }

    func run() throws {
        let file = options.path()
        let sources = [PolicySource(old, file: file), new.map { PolicySource($0, file: file) } ?? .file(file)]
        let files = try sources.map { try $0.read() }
        let environment = EnvPlaceholders.environment(for: files)
        let policies = try zip(sources, files).map { source, bytes in
            let result = PolicyCompiler.compile(bytes, options: CompileOptions(environment: environment))
            guard let policy = result.policy else {
                for d in result.errors { Console.error(d.rendered(file: source.label)) }
                Console.error("orch: \(source.label) does not compile")
                throw ExitCode(2)
            }
            return policy
        }
        let diff = PolicyDiff(old: policies[0], new: policies[1])
        if json {
            Console.out(diff.json.pretty)
        } else {
            Console.out(markdown ? diff.markdown : diff.text)
        }
        if failOnGrant && diff.grantsAccess { throw ExitCode(1) }
    }
}
