import ArgumentParser
import Foundation
import OrchJSON
import OrchPolicy

struct Can: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask whether a user may use servers or tools.",
        discussion: """
            Prints `allow TARGET  REASON` or `deny TARGET  REASON` for each target: ORG/SERVER (may \
            the user connect), ORG/SERVER:TOOL, ORG/SERVER:prompts/NAME or ORG/SERVER:resources/URI. \
            Exit status 0 when every target is allowed, 1 when any is denied.

            With --stdin (and no USER or TARGET), reads one JSON query a line, \
            {"user","target","key"?,"at"?}, and answers each with one JSON line, in order; --key and \
            --at give the defaults for queries without them.

            Examples:
              orch can bob acme/notes:write_note acme/notes:delete_note
              orch can bob acme/notes:prompts/summarize acme/notes:resources/notes://index
              orch can --key ci --at 2027-01-01 --json bob acme/clock
            """
    )

    @OptionGroup var options: ConfigOption
    @Option(help: ArgumentHelp("Decide as this key of the user (its scope and expiry apply).", valueName: "ID")) var key: String?
    @Option(help: ArgumentHelp("Decide at this time: RFC 3339 or YYYY-MM-DD (default: now).", valueName: "TIME")) var at: String?
    @Flag(help: "Print one JSON object a line.") var json = false
    @Flag(help: "Read JSON queries from stdin, one a line, and answer each with a JSON line.") var stdin = false
    @Argument(help: "The user.") var user: String?
    @Argument(help: ArgumentHelp("ORG/SERVER, ORG/SERVER:TOOL, ORG/SERVER:prompts/NAME or ORG/SERVER:resources/URI.", valueName: "TARGET")) var targets: [String] = []

    func validate() throws {
        if stdin {
            if user != nil || !targets.isEmpty { throw ValidationError("--stdin takes no USER or TARGET") }
        } else if user == nil || targets.isEmpty {
            throw ValidationError("give a USER and at least one TARGET, or --stdin")
        }
        if let at, Timestamp.parse(at) == nil {
            throw ValidationError("--at \(at) is not a date (YYYY-MM-DD) or an RFC 3339 time")
        }
        for text in targets {
            if case .failure(let error) = Target.parse(text) { throw ValidationError(error.message) }
        }
    }

    func run() throws {
        let policy = try options.load(toleratingUnsetVariables: true).policy
        let time = at.flatMap(Timestamp.parse) ?? Date()
        if stdin {
            var allAllowed = true
            while let line = readLine(strippingNewline: true) {
                if line.allSatisfy(\.isWhitespace) { continue }
                let answer = Self.answer(query: line, policy: policy, defaultKey: key, defaultTime: time)
                if answer["decision"] != "allow" { allAllowed = false }
                answer.printLine()
            }
            if !allAllowed { throw ExitCode(1) }
            return
        }
        var allAllowed = true
        for target in targets.compactMap({ try? Target.parse($0).get() }) {
            let decision = policy.decide(user: user!, target: target, key: key, at: time)
            allAllowed = allAllowed && decision.allowed
            let reason = Self.reason(decision, policy)
            if json {
                Self.record(user: user!, target: target.description, key: key, allowed: decision.allowed, reason: reason).printLine()
            } else {
                Console.out("\(decision.allowed ? "allow" : "deny") \(target)  \(reason)")
            }
        }
        if !allAllowed { throw ExitCode(1) }
    }

    /// The reason in words; for an unknown user, with the closest user's name (`bobb`: bob).
    static func reason(_ decision: Decision, _ policy: Policy) -> String {
        let text = policy.describe(decision.reason)
        if case .unknownUser(let name) = decision.reason { return text + policy.userSuggestion(for: name) }
        return text
    }

    static func record(user: String?, target: String?, key: String?, allowed: Bool, reason: String) -> JSONValue {
        [
            "user": .optional(user), "target": .optional(target), "key": .optional(key),
            "decision": allowed ? "allow" : "deny", "reason": .string(reason),
        ]
    }

    /// One bulk query. Anything wrong with the query itself is a deny that says what was wrong, so
    /// that answers stay one a line and in order.
    static func answer(query line: String, policy: Policy, defaultKey: String?, defaultTime: Date) -> JSONValue {
        guard let query = try? JSONValue.parse(line), case .object(let object) = query else {
            return record(user: nil, target: nil, key: nil, allowed: false, reason: "invalid query: expected a JSON object a line")
        }
        let user = object["user"]?.stringValue
        let targetText = object["target"]?.stringValue
        let key = object["key"]?.stringValue ?? defaultKey
        if let unknown = object.keys.first(where: { !["user", "target", "key", "at"].contains($0) }) {
            return record(user: user, target: targetText, key: key, allowed: false, reason: "invalid query: unknown field \"\(unknown)\"")
        }
        if let k = object["key"], k.stringValue == nil {
            return record(user: user, target: targetText, key: nil, allowed: false, reason: "invalid query: \"key\" must be a string")
        }
        guard let user, let targetText else {
            return record(user: user, target: targetText, key: key, allowed: false, reason: "invalid query: \"user\" and \"target\" strings are required")
        }
        var time = defaultTime
        if let at = object["at"] {
            guard let text = at.stringValue, let parsed = Timestamp.parse(text) else {
                return record(user: user, target: targetText, key: key, allowed: false, reason: "invalid query: \"at\" is not a date or an RFC 3339 time")
            }
            time = parsed
        }
        switch Target.parse(targetText) {
        case .failure(let error):
            return record(user: user, target: targetText, key: key, allowed: false, reason: "invalid query: \(error.message)")
        case .success(let target):
            let decision = policy.decide(user: user, target: target, key: key, at: time)
            return record(user: user, target: targetText, key: key, allowed: decision.allowed, reason: reason(decision, policy))
        }
    }
}
