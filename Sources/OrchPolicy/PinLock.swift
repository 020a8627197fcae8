public import Foundation
public import OrchJSON

/// `orch.lock.json`: what each server's tools and prompts looked like when they were pinned
/// (`orch pin`), so that a server that changes a tool's name, description or schema under its
/// users is noticed (docs/guide/reviewing-changes.md, "Tool pinning").
///
/// ```json
/// {"version": 1, "servers": {"acme/notes": {"pinnedAt": "2026-11-26T10:00:00Z",
///   "tools": {"echo": "sha256:…"}, "prompts": {"summarize": "sha256:…"},
///   "definitions": {"tools": {"echo": {…}}, "prompts": {…}}}}}
/// ```
/// Each hash is the SHA-256 of the canonical JSON (keys sorted, compact) of the definition's
/// pinned fields: `name`, `title`, `description`, `inputSchema`, `outputSchema`, `annotations` of a
/// tool; `name`, `title`, `description`, `arguments` of a prompt. `definitions` keeps those fields,
/// so that `orch pin --check` can show the old text beside the new.
public struct PinLock: Sendable, Equatable {
    public static let fileName = "orch.lock.json"

    public struct Server: Sendable, Equatable {
        public var pinnedAt: Date
        public var tools: [String: String] = [:]
        public var prompts: [String: String] = [:]
        public var toolDefinitions: [String: JSONValue] = [:]
        public var promptDefinitions: [String: JSONValue] = [:]

        public init(pinnedAt: Date) {
            self.pinnedAt = pinnedAt
        }

        public func hashes(_ kind: ItemKind) -> [String: String] { kind == .prompt ? prompts : tools }
        public func definitions(_ kind: ItemKind) -> [String: JSONValue] { kind == .prompt ? promptDefinitions : toolDefinitions }

        /// Pins `definitions` (as a server lists them) of `kind`, replacing that kind's pins.
        public mutating func pin(_ kind: ItemKind, _ listed: [JSONValue]) {
            var hashes: [String: String] = [:], kept: [String: JSONValue] = [:]
            for entry in listed {
                guard let name = entry["name"]?.stringValue else { continue }
                let pinned = PinLock.pinned(kind, entry)
                hashes[name] = PinLock.hash(pinned)
                kept[name] = pinned
            }
            if kind == .prompt { (prompts, promptDefinitions) = (hashes, kept) } else { (tools, toolDefinitions) = (hashes, kept) }
        }
    }

    /// By `ORG/SERVER`.
    public var servers: [String: Server] = [:]

    public init(servers: [String: Server] = [:]) {
        self.servers = servers
    }

    /// The fields of a definition that are pinned.
    public static func pinnedFields(_ kind: ItemKind) -> [String] {
        kind == .prompt ? ["name", "title", "description", "arguments"] : ["name", "title", "description", "inputSchema", "outputSchema", "annotations"]
    }

    /// The pinned fields of a listed definition (absent ones left out).
    public static func pinned(_ kind: ItemKind, _ entry: JSONValue) -> JSONValue {
        var object = JSONObject()
        for field in pinnedFields(kind) { if let value = entry[field] { object[field] = value } }
        return .object(object)
    }

    /// `sha256:HEX` of the canonical JSON of `value` (keys sorted at every level, compact).
    public static func hash(_ value: JSONValue) -> String {
        "sha256:" + Hex.encode(Crypto.sha256(canonical(value).compact))
    }

    /// `value` with the keys of every object sorted.
    public static func canonical(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var sorted = JSONObject()
            for key in object.keys.sorted() { sorted[key] = canonical(object[key]!) }
            return .object(sorted)
        case .array(let items):
            return .array(items.map(canonical))
        default:
            return value
        }
    }

    /// How a listed definition stands against the pins of its server.
    public enum Status: String, Sendable {
        /// It matches its pin.
        case pinned
        /// Its pinned fields changed since it was pinned.
        case changed
        /// It was not pinned (a new tool, or a server never pinned).
        case new
    }

    public func status(server: String, _ kind: ItemKind, _ entry: JSONValue) -> Status {
        guard let name = entry["name"]?.stringValue, let pin = servers[server]?.hashes(kind)[name] else { return .new }
        return pin == Self.hash(Self.pinned(kind, entry)) ? .pinned : .changed
    }

    // MARK: the file

    public struct FileError: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Reads the lock file's text.
    public static func parse(_ text: String) throws(FileError) -> PinLock {
        guard let json = try? JSONValue.parse(text), case .object(let top) = json else { throw FileError(description: "is not a JSON object") }
        guard top["version"] == .integer(1) else { throw FileError(description: "has no \"version\": 1") }
        var lock = PinLock()
        for (path, value) in top["servers"]?.objectValue ?? [:] {
            guard let at = value["pinnedAt"]?.stringValue.flatMap(Timestamp.parse) else {
                throw FileError(description: "servers.\(path).pinnedAt is not an RFC 3339 time")
            }
            var server = Server(pinnedAt: at)
            for (name, hash) in value["tools"]?.objectValue ?? [:] { server.tools[name] = hash.stringValue }
            for (name, hash) in value["prompts"]?.objectValue ?? [:] { server.prompts[name] = hash.stringValue }
            for (name, definition) in value["definitions"]?["tools"]?.objectValue ?? [:] { server.toolDefinitions[name] = definition }
            for (name, definition) in value["definitions"]?["prompts"]?.objectValue ?? [:] { server.promptDefinitions[name] = definition }
            lock.servers[path] = server
        }
        return lock
    }

    /// The file's JSON: servers, tools and prompts in name order, so that a re-pin that changes
    /// nothing writes the same bytes but for `pinnedAt`.
    public var json: JSONValue {
        var servers = JSONObject()
        for path in self.servers.keys.sorted() {
            let server = self.servers[path]!
            func sortedObject(_ map: [String: JSONValue]) -> JSONValue {
                var object = JSONObject()
                for name in map.keys.sorted() { object[name] = map[name]! }
                return .object(object)
            }
            servers[path] = [
                "pinnedAt": .string(Timestamp.format(server.pinnedAt)),
                "tools": sortedObject(server.tools.mapValues { .string($0) }),
                "prompts": sortedObject(server.prompts.mapValues { .string($0) }),
                "definitions": ["tools": sortedObject(server.toolDefinitions), "prompts": sortedObject(server.promptDefinitions)],
            ]
        }
        return ["version": 1, "servers": .object(servers)]
    }
}

/// `gateway.pinning`: what the gateway does with a tool or prompt that does not match its pin.
public enum PinningMode: String, Sendable, Hashable, CaseIterable {
    /// Pins are not looked at.
    case off
    /// Logged, audited and counted; still listed and callable.
    case warn
    /// Also hidden from lists and refused on call.
    case enforce
}
