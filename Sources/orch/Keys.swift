import ArgumentParser
import Foundation
import OrchJSON
import OrchPolicy

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint, hash and list API keys.",
        subcommands: [New.self, Hash.self, List.self]
    )

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mint a token for a user.",
            discussion: """
                Prints the token once on stdout (it is never stored) and the key object to add to \
                users.USER.keys on stderr. With --write the key is added to FILE, which is compiled \
                first so a bad result is never written. With --client C, stdout carries that client's \
                config (see `orch client-config`) with the new token in it instead of the bare token, \
                listing the servers the user may reach within the key's scope; with --merge-into FILE \
                that config is merged into the client's own file instead (see `orch client-config`).

                Examples:
                  orch keys new --user bob --id tablet --expires 2027-06-30 --scope 'acme/notes:echo' --write
                  orch keys new --user bob --id cursor --client cursor --write --merge-into ~/.cursor/mcp.json
                """
        )

        @OptionGroup var options: ConfigOption
        @Argument(help: ArgumentHelp("The orch.json.", valueName: "FILE")) var file: String?
        @Option(help: "The user the key belongs to.") var user: String
        @Option(help: "The key's id (default: today's date, YYYYMMDD).") var id: String?
        @Option(help: ArgumentHelp("When the key stops working: YYYY-MM-DD or RFC 3339.", valueName: "TIME")) var expires: String?
        @Option(help: ArgumentHelp("Narrow the key to ORG/SERVER or ORG/SERVER:TOOL globs (repeatable).", valueName: "GLOB")) var scope: [String] = []
        @Option(help: "A note about the key.") var description: String?
        @Flag(help: "Add the key to FILE.") var write = false
        @Flag(help: "Print {\"token\",\"key\"} on stdout (and \"config\" with --client).") var json = false
        @Option(help: ArgumentHelp("Print this client's config with the new token instead of the bare token: \(MCPClient.validNames).", valueName: "CLIENT"))
        var client: String?
        @Option(help: ArgumentHelp("With --client: streamable-http (default) or sse.", valueName: "TRANSPORT")) var transport: String?
        @Flag(help: "With --client: one entry per server instead of one per org.") var perServer = false
        @Option(help: ArgumentHelp("With --client: one entry at this toolset's endpoint of each org that has it.", valueName: "NAME")) var toolset: String?
        @Flag(help: "With --client: the endpoints in search mode (find_tools and call_tool).") var search = false
        @Option(help: ArgumentHelp("With --client: merge the config into this client config file (created if missing) instead of printing it.", valueName: "FILE"))
        var mergeInto: String?

        func validate() throws {
            if let expires, Timestamp.parse(expires) == nil {
                throw ValidationError("--expires \(expires) is not a date (YYYY-MM-DD) or an RFC 3339 time")
            }
            if let id, !Name.isValid(id) { throw ValidationError("--id \(id): \(Name.ruleDescription)") }
            for s in scope {
                if case .failure(let error) = ScopeGlob.parse(s) { throw ValidationError("--scope \(s): \(error.message)") }
            }
            if let client, MCPClient(rawValue: client) == nil { throw ValidationError(MCPClient.unknownMessage(client)) }
            if let transport {
                if client == nil { throw ValidationError("--transport goes with --client") }
                if ClientTransport(rawValue: transport) == nil { throw ValidationError(ClientTransport.unknownMessage(transport)) }
            }
            if perServer && client == nil { throw ValidationError("--per-server goes with --client") }
            if (toolset != nil || search) && client == nil { throw ValidationError("--toolset and --search go with --client") }
            if (toolset != nil || search) && perServer { throw ValidationError("--toolset and --search are aggregated endpoints: leave out --per-server") }
            if mergeInto != nil && client == nil { throw ValidationError("--merge-into goes with --client") }
        }

        func run() throws {
            let loaded = try options.load(positional: file, toleratingUnsetVariables: true)
            guard let userID = loaded.policy.user(named: user) else {
                Console.error("orch: no user \(user) in \(loaded.path)" + loaded.policy.userSuggestion(for: user))
                throw ExitCode(2)
            }
            let existing = Set(loaded.policy.user(userID).keys.map { loaded.policy.key($0).spec.id })
            let keyID = id ?? Self.defaultID(taken: existing)
            if existing.contains(keyID) {
                Console.error("orch: user \(user) already has a key \"\(keyID)\"; choose another --id")
                throw ExitCode(2)
            }
            let token = Token.mint()
            var key: JSONObject = ["id": .string(keyID), "sha256": .string(KeyHash(token: token).hex)]
            key["created"] = .string(Timestamp.format(Date()))
            if let expires { key["expires"] = .string(expires) }
            if !scope.isEmpty { key["scope"] = .strings(scope) }
            if let description { key["description"] = .string(description) }

            let config = client.map { clientConfig(MCPClient(rawValue: $0)!, token: token, user: userID, policy: loaded.policy) }
            // A client file that cannot take the config stops the command before the key is added.
            var merge: ClientConfigMerge? = nil
            if let config, let mergeInto {
                do { merge = try ClientConfigMerge.prepare(config, into: mergeInto) } catch { throw ClientConfigCommand.fail(error.message) }
            }
            if write { try Self.add(key: key, user: user, to: loaded) }
            var merged = false
            if let merge {
                do {
                    try merge.write()
                    merged = true
                } catch {
                    // The key may be in FILE already: the token must not be lost, so stdout gets it.
                    Console.error("orch: \(error.message); the config goes to stdout instead")
                }
            }
            if json {
                var answer: JSONObject = ["token": .string(token), "key": .object(key)]
                if let config { answer["config"] = config.document }
                JSONValue.object(answer).printLine()
            } else if let config {
                if !merged { Console.out(config.document.pretty) }
                // A config that does not hold the token (VS Code's): the token goes to the terminal.
                if !config.holdsToken { Console.error("the token, to enter when \(config.client.displayName) asks for it: \(token)") }
            } else {
                Console.out(token)
            }
            let shown = config == nil || json || !config!.holdsToken ? "the token above is shown only now"
                : merged ? "the token is only in \(mergeInto ?? "")" : "the token in the config above is shown only now"
            if write {
                Console.error("added key \(keyID) to users.\(user).keys in \(loaded.path) (\(shown))" + (json ? "" : ":"))
            } else if !json {
                Console.error("add this key to users.\(user).keys in \(loaded.path) (\(shown)):")
            }
            if !json { Console.error(JSONValue.object(key).pretty) }
            if let merge, merged { for line in merge.report { Console.error(line) } }
            if let config { for line in ClientConfigCommand.guidance(config) { Console.error(line) } }
            if merge != nil && !merged { throw ExitCode(2) }
        }

        /// The client config for the new key: the user's servers within its `--scope`.
        private func clientConfig(_ client: MCPClient, token: String, user: UserID, policy: Policy) -> ClientConfig {
            let scope = scope.isEmpty ? nil : scope.compactMap { try? ScopeGlob.parse($0).get() }
            let reachable = policy.reachableServers(user: user, scope: scope, at: Date())
            let transport = transport.flatMap(ClientTransport.init(rawValue:)) ?? .streamableHTTP
            return policy.clientConfig(user: user, client: client, transport: transport, token: .value(token), reachable: reachable,
                                       mode: perServer ? .perServer : .perOrg, toolset: toolset, search: search)
        }

        static func defaultID(taken: Set<String>) -> String {
            let base = Timestamp.format(Date()).prefix(10).replacingOccurrences(of: "-", with: "")
            if !taken.contains(base) { return base }
            var n = 2
            while taken.contains("\(base)-\(n)") { n += 1 }
            return "\(base)-\(n)"
        }

        /// Adds the key to the file by inserting its text (`KeyInsertion`: every other byte stays),
        /// compiling the result as the file was compiled before replacing the file.
        static func add(key: JSONObject, user: String, to loaded: LoadedPolicy) throws {
            let bytes: [UInt8]
            do {
                bytes = try KeyInsertion.insert(key, user: user, into: loaded.bytes)
            } catch {
                Console.error("orch: \(loaded.path) was not changed: \(error.reason)")
                throw ExitCode(2)
            }
            let result = PolicyCompiler.compile(bytes, options: CompileOptions(environment: loaded.environment))
            for d in result.diagnostics { Console.error(d.rendered(file: loaded.path)) }
            guard result.ok else {
                Console.error("orch: \(loaded.path) was not changed")
                throw ExitCode(2)
            }
            do {
                try PolicyFile.replace(loaded.path, expecting: loaded.bytes, with: bytes)
            } catch {
                Console.error("orch: \(loaded.path) was not changed: \(error.reason)")
                throw ExitCode(2)
            }
        }
    }

    struct Hash: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Read a token on stdin and print its SHA-256 hex, the value orch.json stores.",
            discussion: "Example: printf %s \"$TOKEN\" | orch keys hash"
        )

        func run() throws {
            let input = FileHandle.standardInput.readDataToEndOfFile()
            let token = String(decoding: input, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else {
                Console.error("orch: no token on stdin")
                throw ExitCode(2)
            }
            Console.out(KeyHash(token: token).hex)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List keys: ids, users, expiry status and scope (hashes only as a short prefix).",
            discussion: "Example: orch keys list --user bob"
        )

        @OptionGroup var options: ConfigOption
        @Argument(help: ArgumentHelp("The orch.json.", valueName: "FILE")) var file: String?
        @Option(help: "Only this user's keys.") var user: String?
        @Flag(help: "Print one JSON object a line.") var json = false

        func run() throws {
            let policy = try options.load(positional: file, toleratingUnsetVariables: true).policy
            if let user, policy.user(named: user) == nil {
                Console.error("orch: no user \(user) in \(options.path(positional: file))" + policy.userSuggestion(for: user))
                throw ExitCode(2)
            }
            let now = Date()
            var rows: [[String]] = [["USER", "KEY", "STATUS", "EXPIRES", "SCOPE", "HASH"]]
            for key in policy.keys {
                let owner = policy.user(key.user)
                if let user, owner.name != user { continue }
                let status = owner.spec.disabled ? "user disabled" : key.status(at: now)
                let expires = key.spec.expires.map(Timestamp.format)
                let scope = key.spec.scope?.map(\.text)
                if json {
                    JSONValue.object([
                        "user": .string(owner.name), "key": .string(key.spec.id), "status": .string(status),
                        "expires": .optional(expires), "scope": scope.map { .strings($0) } ?? .null,
                        "sha256Prefix": .string(key.spec.hash.shortHex),
                    ]).printLine()
                } else {
                    rows.append([owner.name, key.spec.id, status, expires ?? "-", scope?.joined(separator: ",") ?? "*", key.spec.hash.shortHex + "…"])
                }
            }
            if !json { Console.out(Table.render(rows)) }
        }
    }
}

/// Left-aligned columns separated by two spaces.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
