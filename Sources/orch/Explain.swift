import ArgumentParser
import Foundation
import OrchGateway
import OrchPolicy

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show everything a user can reach.",
        discussion: """
            Orgs and roles (and through which team), each reachable server with the allow and deny \
            rules that apply to it and the server's own tool filter, and the user's keys with scope \
            and expiry status. For an oauth server, whether the user's connected account is stored \
            and usable (never a token).

            Example: orch explain bob
            """
    )

    @OptionGroup var options: ConfigOption
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "The user.") var user: String

    func run() throws {
        let loaded = try options.load(toleratingUnsetVariables: true)
        let policy = loaded.policy
        guard let id = policy.user(named: user) else {
            Console.error("orch: no user \(user) in \(options.path())" + policy.userSuggestion(for: user))
            throw ExitCode(2)
        }
        let keys = policy.settings.stateKeys
        let store = ConnectionStore(folder: policy.settings.connections, relativeTo: URL(fileURLWithPath: options.path()).deletingLastPathComponent().path, keys: keys)
        let now = Int64(Date().timeIntervalSince1970)
        let explanation = policy.explain(id, at: Date(), secrets: UserSecrets(settings: policy.settings, policyPath: options.path())) { user, server in
            let state = store.state(user: user, server: server, at: now)
            if case .unreadable = state, keys.isEmpty || loaded.unsetPaths.contains(where: { $0.hasPrefix("gateway.stateKey") }) { return "stored (not opened: gateway.stateKey is not set where orch explain runs)" }
            return state.description
        }
        if json { explanation.json.printLine() } else { Console.out(explanation.text) }
    }
}
