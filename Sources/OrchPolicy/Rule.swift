/// What a rule, a scope entry, a filter or a target names inside a server.
public enum ItemKind: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case tool, prompt, resource

    /// `tool`, `prompt` or `resource`: the word for one item.
    public var description: String {
        switch self {
        case .tool: "tool"
        case .prompt: "prompt"
        case .resource: "resource"
        }
    }

    /// `tools`, `prompts` or `resources`: the server filter's field and the MCP method family.
    public var plural: String { description + "s" }

    /// What the item part starts with in a rule or target: nothing for a tool.
    var prefix: String { self == .tool ? "" : plural + "/" }
}

/// The part of a rule or scope entry after `SERVER:`: a tool glob, `prompts/GLOB` or
/// `resources/GLOB` (a resource glob matches URIs, `/` and `:` included).
public struct ItemGlob: Sendable, Hashable, CustomStringConvertible {
    public let kind: ItemKind
    public let glob: Glob

    public var description: String { kind.prefix + glob.pattern }

    public func matches(_ kind: ItemKind, _ name: String) -> Bool {
        self.kind == kind && glob.matches(name)
    }

    /// Reads an item part. `whole` is the rule or entry before the part, for hints.
    static func parse(_ part: Substring, before whole: Substring) -> Result<ItemGlob, RuleError> {
        if part.isEmpty {
            return .failure(RuleError("the part after ':' is empty; write \"\(whole)\" for the whole server"))
        }
        for kind in [ItemKind.prompt, .resource] where part.utf8.starts(with: kind.prefix.utf8) {
            let rest = part[part.utf8.index(part.startIndex, offsetBy: kind.prefix.utf8.count)...]
            if rest.isEmpty {
                return .failure(RuleError("the \(kind) part after '\(kind.prefix)' is empty; write \"\(whole):\(kind.prefix)*\" for every \(kind)"))
            }
            // URIs are decided in normal form, so a resource glob matches in normal form too.
            let pattern = kind == .resource ? ResourceURI.normalizeGlob(String(rest)).pattern : String(rest)
            return .success(ItemGlob(kind: kind, glob: Glob(pattern)))
        }
        // A near miss of a prefix (a tool name has no '/') is a mistake, not a tool.
        if let slash = part.firstIndex(ofASCII: "/") {
            let head = part[..<slash].lowercased()
            let rest = part[part.utf8.index(after: slash)...]
            switch head {
            case "prompt", "prompts":
                return .failure(RuleError("write \"\(whole):prompts/\(rest)\" for a prompt (lowercase \"prompts/\")"))
            case "resource", "resources", "res":
                return .failure(RuleError("write \"\(whole):resources/\(rest)\" for a resource (lowercase \"resources/\")"))
            case "tool", "tools":
                return .failure(RuleError("tools take no prefix: write \"\(whole):\(rest)\""))
            default:
                break
            }
        }
        return .success(ItemGlob(kind: .tool, glob: Glob(String(part))))
    }

    /// The resource glob of a rule or scope entry as written (after `resources/`), for the
    /// warnings on a glob not in normal form; nil when the entry names no resource.
    public static func writtenResourceGlob(of text: String) -> String? {
        guard let colon = text.firstIndex(ofASCII: ":") else { return nil }
        let part = text[text.utf8.index(after: colon)...]
        guard part.utf8.starts(with: ItemKind.resource.prefix.utf8) else { return nil }
        return String(Substring(part.utf8.dropFirst(ItemKind.resource.prefix.utf8.count)))
    }
}

/// A role rule: `SERVER` (the whole server: every tool, prompt and resource), `SERVER:TOOL`,
/// `SERVER:prompts/NAME` or `SERVER:resources/URI`, each part a glob. Server globs are relative
/// to the org in which the role is held.
public struct Rule: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    public let server: Glob
    /// nil when the rule names no item: it covers the whole server.
    public let item: ItemGlob?

    public var description: String { text }

    /// Parses a rule, or says what is wrong with it.
    public static func parse(_ text: String) -> Result<Rule, RuleError> {
        let serverPart: Substring
        let itemPart: Substring?
        if let colon = text.firstIndex(ofASCII: ":") {
            serverPart = text[..<colon]
            itemPart = text[text.utf8.index(after: colon)...]
        } else {
            serverPart = Substring(text)
            itemPart = nil
        }
        if serverPart.firstIndex(ofASCII: "/") != nil {
            return .failure(RuleError("server globs are relative to the org where the role is held; write \"\(serverPart.split(separator: "/").last ?? "")\" without the org"))
        }
        if let problem = serverGlobProblem(serverPart) { return .failure(RuleError(problem)) }
        var item: ItemGlob? = nil
        if let itemPart {
            switch ItemGlob.parse(itemPart, before: serverPart) {
            case .success(let parsed): item = parsed
            case .failure(let error): return .failure(error)
            }
        }
        return .success(Rule(text: text, server: Glob(String(serverPart)), item: item))
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

/// A key scope entry: `ORG/SERVER` (the whole server) or `ORG/SERVER:ITEM` with an item part as
/// in a rule; every part a glob.
public struct ScopeGlob: Sendable, Hashable, CustomStringConvertible {
    public let text: String
    public let org: Glob
    public let server: Glob
    public let item: ItemGlob?

    public var description: String { text }

    public func matches(org o: String, server s: String) -> Bool {
        org.matches(o) && server.matches(s)
    }

    /// Whether the entry covers item `name` of `kind` on `o/s`: a whole-server entry covers all.
    public func matches(org o: String, server s: String, _ kind: ItemKind, _ name: String) -> Bool {
        org.matches(o) && server.matches(s) && (item?.matches(kind, name) ?? true)
    }

    public static func parse(_ text: String) -> Result<ScopeGlob, RuleError> {
        guard let slash = text.firstIndex(ofASCII: "/") else {
            return .failure(RuleError("a scope entry is ORG/SERVER or ORG/SERVER:ITEM (a tool, prompts/NAME or resources/URI)"))
        }
        let orgPart = text[..<slash]
        let colon = text.firstIndex(ofASCII: ":") ?? text.endIndex
        let afterSlash = text.utf8.index(after: slash)
        let serverPart = text[afterSlash..<max(colon, afterSlash)]
        if serverPart.firstIndex(ofASCII: "/") != nil || colon < slash {
            return .failure(RuleError("a scope entry has one '/', between ORG and SERVER"))
        }
        if let problem = Rule.serverGlobProblem(orgPart, what: "org") ?? Rule.serverGlobProblem(serverPart) {
            return .failure(RuleError(problem))
        }
        var item: ItemGlob? = nil
        if colon < text.endIndex {
            switch ItemGlob.parse(text[text.utf8.index(after: colon)...], before: text[..<colon]) {
            case .success(let parsed): item = parsed
            case .failure(let error): return .failure(error)
            }
        }
        return .success(ScopeGlob(text: text, org: Glob(String(orgPart)), server: Glob(String(serverPart)), item: item))
    }
}

/// A concrete item of a server: a tool, a prompt or a resource, by name (a resource by URI).
public struct Item: Sendable, Hashable, CustomStringConvertible {
    public let kind: ItemKind
    public let name: String

    public init(_ kind: ItemKind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    /// `NAME` for a tool, `prompts/NAME`, `resources/URI`: as written after `SERVER:`.
    public var description: String { kind.prefix + name }

    /// The item a client or a server names: a resource by the normal form of its URI (nil when
    /// the URI is refused, see `ResourceURI`), a tool or prompt by its name as it is.
    public static func named(_ kind: ItemKind, _ name: String) -> Item? {
        guard kind == .resource else { return Item(kind, name) }
        guard case .success(let uri) = ResourceURI.normalize(name) else { return nil }
        return Item(.resource, uri)
    }
}

/// A concrete target: `ORG/SERVER` (may the user connect at all), `ORG/SERVER:TOOL`,
/// `ORG/SERVER:prompts/NAME` or `ORG/SERVER:resources/URI`.
public struct Target: Sendable, Hashable, CustomStringConvertible {
    public let org: String
    public let server: String
    public let item: Item?

    public init(org: String, server: String, item: Item? = nil) {
        self.org = org
        self.server = server
        self.item = item
    }

    public init(org: String, server: String, tool: String?) {
        self.init(org: org, server: server, item: tool.map { Item(.tool, $0) })
    }

    public var description: String {
        item.map { "\(org)/\(server):\($0)" } ?? "\(org)/\(server)"
    }

    /// The `ORG/SERVER` part.
    public var serverID: String { "\(org)/\(server)" }

    static let forms = "write ORG/SERVER, ORG/SERVER:TOOL, ORG/SERVER:prompts/NAME or ORG/SERVER:resources/URI"

    public static func parse(_ text: String) -> Result<Target, RuleError> {
        guard let slash = text.firstIndex(ofASCII: "/") else {
            return .failure(RuleError("\"\(text)\" is not a target: \(forms)"))
        }
        let org = String(text[..<slash])
        let rest = text[text.utf8.index(after: slash)...]
        let server: String
        var item: Item? = nil
        if let colon = rest.firstIndex(ofASCII: ":") {
            server = String(rest[..<colon])
            let part = rest[rest.utf8.index(after: colon)...]
            switch ItemGlob.parse(part, before: text[..<colon]) {
            case .failure(let error): return .failure(RuleError("\"\(text)\" is not a target: \(error.message)"))
            case .success(let parsed) where parsed.kind == .resource:
                // A concrete URI, decided as the gateway decides it: in normal form.
                let written = String(Substring(part.utf8.dropFirst(ItemKind.resource.prefix.utf8.count)))
                switch ResourceURI.normalize(written) {
                case .success(let uri): item = Item(.resource, uri)
                case .failure(let refusal): return .failure(RuleError("\"\(text)\" is not a target: the resource URI is refused: \(refusal)"))
                }
            case .success(let parsed): item = Item(parsed.kind, parsed.glob.pattern)
            }
        } else {
            server = String(rest)
        }
        guard Name.isValid(org), Name.isValid(server) else {
            return .failure(RuleError("\"\(text)\" is not a target: \(forms)"))
        }
        return .success(Target(org: org, server: server, item: item))
    }
}

extension StringProtocol {
    /// The first position of an ASCII character, found on the UTF-8 bytes: rules, scopes and
    /// targets are split this way thousands of times in a large file, and the separators are ASCII.
    func firstIndex(ofASCII character: Unicode.Scalar) -> Index? {
        utf8.firstIndex(of: UInt8(ascii: character))
    }
}
