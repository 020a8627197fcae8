/// A role rule: `SERVER` (every tool of matching servers) or `SERVER:TOOL`, each part a glob.
/// Server globs are relative to the org in which the role is held.
public struct Rule: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    public let server: Glob
    /// nil when the rule names no tool part: it covers every tool.
    public let tool: Glob?

    public var description: String { text }

    /// True when the rule covers every tool of the servers it matches.
    public var coversWholeServer: Bool { tool?.matchesEverything ?? true }

    public func matches(tool name: String) -> Bool { tool?.matches(name) ?? true }

    /// Parses a rule, or says what is wrong with it.
    public static func parse(_ text: String) -> Result<Rule, RuleError> {
        let serverPart: Substring
        let toolPart: Substring?
        if let colon = text.firstIndex(of: ":") {
            serverPart = text[..<colon]
            toolPart = text[text.index(after: colon)...]
        } else {
            serverPart = Substring(text)
            toolPart = nil
        }
        if serverPart.contains("/") {
            return .failure(RuleError("server globs are relative to the org where the role is held; write \"\(serverPart.split(separator: "/").last ?? "")\" without the org"))
        }
        if let problem = serverGlobProblem(serverPart) { return .failure(RuleError(problem)) }
        if let toolPart, toolPart.isEmpty {
            return .failure(RuleError("the tool part after ':' is empty; write \"\(serverPart)\" for every tool"))
        }
        return .success(Rule(text: text, server: Glob(String(serverPart)), tool: toolPart.map { Glob(String($0)) }))
    }

    /// nil when `part` is a valid server (or org) glob: name characters and `*`.
    static func serverGlobProblem(_ part: Substring, what: String = "server") -> String? {
        if part.isEmpty { return "the \(what) part is empty" }
        let valid = part.utf8.allSatisfy {
            Name.isLowerOrDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "*")
        }
        if !valid {
            return "\"\(part)\" is not a valid \(what) glob: use a-z, 0-9, '_', '-' and '*'"
        }
        return nil
    }
}

public struct RuleError: Error, Sendable, Hashable {
    public let message: String
    init(_ message: String) { self.message = message }
}

/// A key scope entry: `ORG/SERVER` or `ORG/SERVER:TOOL`, every part a glob. A scope entry without a
/// tool part covers every tool of the servers it matches.
public struct ScopeGlob: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    public let org: Glob
    public let server: Glob
    public let tool: Glob?

    public var description: String { text }

    public func matches(org o: String, server s: String) -> Bool {
        org.matches(o) && server.matches(s)
    }

    public func matches(org o: String, server s: String, tool t: String) -> Bool {
        org.matches(o) && server.matches(s) && (tool?.matches(t) ?? true)
    }

    public static func parse(_ text: String) -> Result<ScopeGlob, RuleError> {
        guard let slash = text.firstIndex(of: "/") else {
            return .failure(RuleError("a scope entry is ORG/SERVER or ORG/SERVER:TOOL"))
        }
        let orgPart = text[..<slash]
        let rest = text[text.index(after: slash)...]
        if rest.prefix(while: { $0 != ":" }).contains("/") {
            return .failure(RuleError("a scope entry has one '/', between ORG and SERVER"))
        }
        if let problem = Rule.serverGlobProblem(orgPart, what: "org") { return .failure(RuleError(problem)) }
        if rest.hasSuffix(":") && rest.filter({ $0 == ":" }).count == 1 {
            return .failure(RuleError("the tool part after ':' is empty; write \"\(orgPart)/\(rest.dropLast())\" for every tool"))
        }
        switch Rule.parse(String(rest)) {
        case .failure(let error): return .failure(error)
        case .success(let rule): return .success(ScopeGlob(text: text, org: Glob(String(orgPart)), server: rule.server, tool: rule.tool))
        }
    }
}

/// A concrete target: `ORG/SERVER` (may the user connect at all) or `ORG/SERVER:TOOL`.
public struct Target: Sendable, Hashable, CustomStringConvertible {
    public let org: String
    public let server: String
    public let tool: String?

    public init(org: String, server: String, tool: String? = nil) {
        self.org = org
        self.server = server
        self.tool = tool
    }

    public var description: String {
        tool.map { "\(org)/\(server):\($0)" } ?? "\(org)/\(server)"
    }

    /// The `ORG/SERVER` part.
    public var serverID: String { "\(org)/\(server)" }

    public static func parse(_ text: String) -> Result<Target, RuleError> {
        guard let slash = text.firstIndex(of: "/") else {
            return .failure(RuleError("\"\(text)\" is not a target: write ORG/SERVER or ORG/SERVER:TOOL"))
        }
        let org = String(text[..<slash])
        let rest = text[text.index(after: slash)...]
        let server: String
        var tool: String? = nil
        if let colon = rest.firstIndex(of: ":") {
            server = String(rest[..<colon])
            tool = String(rest[rest.index(after: colon)...])
        } else {
            server = String(rest)
        }
        guard Name.isValid(org), Name.isValid(server), tool.map({ !$0.isEmpty }) ?? true else {
            return .failure(RuleError("\"\(text)\" is not a target: write ORG/SERVER or ORG/SERVER:TOOL"))
        }
        return .success(Target(org: org, server: server, tool: tool))
    }
}
