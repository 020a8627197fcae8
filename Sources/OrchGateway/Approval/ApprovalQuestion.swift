import OrchJSON
import OrchPolicy

/// What a call of a tool under an `approve` rule asks a person: a form with one required boolean
/// `approve`, titled with the server and tool, and a readable summary of the arguments (the rule's
/// `redact` names shown as `•••`). Only `accept` with `approve: true` approves.
struct ApprovalQuestion: Sendable {
    /// `ORG/SERVER`.
    let server: String
    let tool: String
    let arguments: JSONObject
    /// The `approve` rules of the server that match the tool, the caller's first.
    let rules: [ApprovalRule]

    /// The same question with the roles' rules only (the caller approved already).
    var forRolesOnly: ApprovalQuestion {
        ApprovalQuestion(server: server, tool: tool, arguments: arguments, rules: rules.filter { $0.by != .caller })
    }

    /// The caller's rule, when one matches.
    var callerRule: ApprovalRule? { rules.first { $0.by == .caller } }
    /// The roles' rules, each satisfied by someone holding the role, in order.
    var roleRules: [(role: String, rule: ApprovalRule)] { rules.compactMap { if case .role(let name) = $0.by { (name, $0) } else { nil } } }

    var title: String { "Approve \(server) \(tool)" }

    /// One `name: value` line per argument, in name order: compact JSON, a long value cut at 200
    /// characters, a redacted one `•••`.
    var summary: String {
        guard !arguments.isEmpty else { return "(no arguments)" }
        return arguments.keys.sorted().map { name in
            let value = rules.contains(where: { $0.redact.contains(name) }) ? "•••" : arguments[name].map(\.compact) ?? "null"
            return "\(name): " + (value.count > 200 ? String(value.prefix(200)) + "…" : value)
        }.joined(separator: "\n")
    }

    var message: String { "\(title)?\n\(summary)" }

    /// `elicitation/create`'s params: the form.
    var elicitation: JSONObject {
        [
            "message": .string(message),
            "requestedSchema": [
                "type": "object",
                "properties": ["approve": ["type": "boolean", "title": .string(title), "description": "true runs the call; anything else declines it"]],
                "required": ["approve"],
            ],
        ]
    }

    enum Answer: Sendable, Equatable {
        case approved
        /// Why not, as the caller is told: declined, cancelled, an answer that is not the form's.
        case declined(String)
    }

    /// An `elicitation/create` result, `{action, content}`: approved only for `accept` with
    /// `content.approve` true; an `accept` whose content is not the form's (another type, other
    /// fields) declines, as anything but accept does.
    static func read(_ result: JSONValue?) -> Answer {
        switch result?["action"]?.stringValue {
        case "accept"?:
            guard case .object(let content)? = result?["content"], case .bool(let approve)? = content["approve"], content.count == 1 else {
                return .declined("the answer does not match the question (one boolean, approve)")
            }
            return approve ? .approved : .declined("declined")
        case "decline"?: return .declined("declined")
        case "cancel"?: return .declined("cancelled")
        default: return .declined("the answer does not match the question (one boolean, approve)")
        }
    }

    /// The result a declined call gets: a tool error saying who declined and why.
    func declined(_ why: String) -> JSONObject {
        ["content": [["type": "text", "text": .string("The call of \(server) \(tool) did not run: the approval was \(why).")]], "isError": true]
    }

    /// `declined` as the reply to request `id`.
    func declinedResult(id: JSONValue, _ why: String) -> JSONValue { ["jsonrpc": "2.0", "id": id, "result": .object(declined(why))] }
}

extension ApprovalQuestion {
    /// The approval a request needs first: a `tools/call` of a tool under an `approve` rule of its
    /// server (the caller's rule first); nil for anything else.
    /// `asWritten`: the params as the client wrote them, whose tool name is an exposed one (the
    /// server's `overrides`), mapped back first; otherwise they are the decided ones.
    init?(policy: Policy, server: ResolvedServer, method: String, params: JSONObject, asWritten: Bool = false) {
        guard method == MCPMethod.toolsCall.rawValue, case .string(var tool)? = params["name"] else { return nil }
        if asWritten, case .tool(let upstream) = policy.toolCall(tool, server: server.id) { tool = upstream }
        let rules = policy.approvals(tool: tool, server: server.id)
        guard !rules.isEmpty else { return nil }
        self.init(server: server.path, tool: tool, arguments: params["arguments"]?.objectValue ?? [:], rules: rules)
    }
}
