import Foundation
public import OrchJSON

/// A server's `overrides.tools`: how its tools are shown to clients. An override changes a tool's
/// exposed name or description in every list of every endpoint and era, or hides it (neither
/// listed nor callable, for everyone); a call by an exposed name is mapped back to the upstream
/// name. Policy rules, pins, limits, approval and the audit stay on upstream names: an override
/// changes what a client sees, never what a caller may do.
public struct ToolOverrides: Sendable, Hashable {
    public struct Tool: Sendable, Hashable {
        /// The name clients see instead of the upstream one.
        public var name: String?
        /// The description clients see instead of the upstream one.
        public var description: String?
        public var hidden = false
        /// Where it is written in orch.json.
        public var path: String

        public init(name: String? = nil, description: String? = nil, hidden: Bool = false, path: String) {
            self.name = name
            self.description = description
            self.hidden = hidden
            self.path = path
        }
    }

    /// By upstream name.
    public private(set) var tools: [String: Tool] = [:]
    /// Upstream name by exposed name, for the renamed tools.
    private var upstreamByExposed: [String: String] = [:]

    public init(_ tools: [String: Tool] = [:]) {
        self.tools = tools
        for (upstream, tool) in tools where !tool.hidden {
            if let name = tool.name, name != upstream { upstreamByExposed[name] = upstream }
        }
    }

    public var isEmpty: Bool { tools.isEmpty }

    /// What a name a client writes in `tools/call` stands for.
    public enum Call: Sendable, Equatable {
        /// The upstream tool it names.
        case tool(String)
        /// A hidden tool: refused as not permitted.
        case hidden(String)
        /// The upstream name of a tool exposed under another name: no exposed name, refused.
        case renamed(upstream: String, exposed: String)
    }

    /// The upstream tool a client's `name` calls: an exposed name is mapped back; any other name
    /// is the upstream one, unless that tool is hidden or renamed.
    public func call(_ name: String) -> Call {
        if tools.isEmpty { return .tool(name) }
        if let upstream = upstreamByExposed[name] { return .tool(upstream) }
        guard let tool = tools[name] else { return .tool(name) }
        if tool.hidden { return .hidden(name) }
        if let exposed = tool.name, exposed != name { return .renamed(upstream: name, exposed: exposed) }
        return .tool(name)
    }

    /// A tool entry of a server's `tools/list` as clients see it: renamed, described anew, or nil
    /// when hidden or when its upstream name is another tool's exposed name (the override wins).
    public func apply(_ entry: JSONValue) -> JSONValue? {
        guard !tools.isEmpty, case .object(var object) = entry, case .string(let name)? = object["name"] else { return entry }
        guard let tool = tools[name] else {
            if upstreamByExposed[name] != nil { return Optional.none }
            return entry
        }
        if tool.hidden { return nil }
        if let exposed = tool.name { object["name"] = .string(exposed) }
        if let description = tool.description { object["description"] = .string(description) }
        return .object(object)
    }

    /// The override names a tool of `listed` (the upstream's whole list) lacks, for a warning.
    public func missing(from listed: Set<String>) -> [String] {
        tools.keys.filter { !listed.contains($0) }.sorted()
    }
}

extension Policy {
    /// What the pins (`orch.lock.json`, each server's tools as last listed) say of the servers'
    /// overrides: an override of a tool the server did not list is a warning; a tool shown under
    /// a name that a pinned tool of the same server keeps as its own is an error (two tools would
    /// meet under one name).
    public func overrideDiagnostics(against lock: PinLock) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        for server in servers {
            let overrides = server.spec.overrides
            guard !overrides.isEmpty, let pinned = lock.servers[serverPath(server.id)] else { continue }
            let listed = Set(pinned.tools.keys)
            for name in overrides.missing(from: listed) {
                diagnostics.append(Diagnostic(.warning, path: overrides.tools[name]!.path,
                                              message: "\(serverPath(server.id)) lists no tool \(name) (orch.lock.json): the override changes nothing"))
            }
            for (upstream, tool) in overrides.tools.sorted(by: { $0.key < $1.key }) {
                guard !tool.hidden, let exposed = tool.name, exposed != upstream, listed.contains(exposed), overrides.tools[exposed] == nil else { continue }
                diagnostics.append(Diagnostic(.error, path: Path.member(tool.path, "name"),
                                              message: "\(exposed) is already a tool of \(serverPath(server.id)) (orch.lock.json): \(upstream) may not be shown under its name; rename or hide \(exposed) too"))
            }
        }
        return diagnostics
    }
}
