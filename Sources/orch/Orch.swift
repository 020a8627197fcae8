import ArgumentParser
import Foundation
import OrchGateway
import OrchPolicy

@main
struct Orch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "orch",
        abstract: "One authenticated gateway in front of a team's MCP servers, configured by one orch.json.",
        discussion: """
            FILE defaults to $ORCH_CONFIG, else ./orch.json. Exit status: 0 success, 1 the check or \
            decision said no, 2 usage, I/O or invalid-config error.
            """,
        version: "\(Gateway.version) (\(GitCommit.short))",
        subcommands: [Check.self, Can.self, Explain.self, Diff.self, Fmt.self, Keys.self, ClientConfigCommand.self, Pin.self, Schema.self, OpenAPI.self, Serve.self, SampleServerCommand.self]
    )

    /// Runs the command, mapping argument errors to exit status 2 as "Exit status" of docs/guide/writing-orch-json.md says
    /// (ArgumentParser's own default is 64).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            if let unknown = unknownCommand() {
                Console.error("orch: unknown command \"\(unknown)\"" + Name.didYouMean(unknown, among: commandNames, limit: 2)
                              + "; the commands are \(commandNames.joined(separator: ", ")) (orch --help)")
            } else if let (parent, unknown, names) = unknownSubcommand() {
                Console.error("orch: unknown command \"\(parent) \(unknown)\"" + Name.didYouMean(unknown, among: names, limit: 2)
                              + "; the \(parent) commands are \(names.joined(separator: ", ")) (orch \(parent) --help)")
            } else {
                Console.error(fullMessage(for: error))
            }
            Foundation.exit(2)
        }
    }

    static var commandNames: [String] {
        configuration.subcommands.map { $0._commandName }
    }

    /// The second argument, when the first is a command with commands of its own and the second
    /// is none of them (`orch keys nwe`).
    static func unknownSubcommand() -> (parent: String, unknown: String, names: [String])? {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count >= 2, let parent = configuration.subcommands.first(where: { $0._commandName == arguments[0] }),
            !parent.configuration.subcommands.isEmpty, !arguments[1].hasPrefix("-"), arguments[1] != "help"
        else { return nil }
        let names = parent.configuration.subcommands.map { $0._commandName }
        return names.contains(arguments[1]) ? nil : (arguments[0], arguments[1], names)
    }

    /// The first argument, when it is neither an option nor a command (`orch chekc`).
    static func unknownCommand() -> String? {
        guard let first = CommandLine.arguments.dropFirst().first, !first.hasPrefix("-"), first != "help",
            !commandNames.contains(first)
        else { return nil }
        return first
    }
}

/// Where output goes: stdout for results, stderr for diagnostics and guidance.
enum Console {
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
