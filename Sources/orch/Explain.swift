import ArgumentParser
import Foundation
import OrchPolicy

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show everything a user can reach.",
        discussion: """
            Orgs and roles (and through which team), each reachable server with the allow and deny \
            rules that apply to it and the server's own tool filter, and the user's keys with scope \
            and expiry status.

            Example: orch explain bob
            """
    )

    @OptionGroup var options: ConfigOption
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "The user.") var user: String

    func run() throws {
        let policy = try options.load(toleratingUnsetVariables: true).policy
        guard let id = policy.user(named: user) else {
            Console.error("orch: no user \(user) in \(options.path())" + policy.userSuggestion(for: user))
            throw ExitCode(2)
        }
        let explanation = policy.explain(id, at: Date(), secrets: UserSecrets(settings: policy.settings, policyPath: options.path()))
        if json { explanation.json.printLine() } else { Console.out(explanation.text) }
    }
}
