import OrchJSON

/// Reads the members of one JSON object with a path, reporting unknown keys (with a "did you mean"
/// hint), missing required keys and wrong types to the log instead of stopping at the first.
struct ObjectReader {
    let object: JSONNode
    let path: String
    /// Known keys that an unknown key of the object is a likely typo of (`"server"` for
    /// `"servers"`): their absence is that typo, reported once, not again as a missing key.
    private let misspelled: Set<String>

    /// nil (with an error logged) when `value` is not an object.
    init?(_ value: JSONNode, path: String, known: [String], log: inout DiagnosticLog) {
        guard value.isObject else {
            log.error(path, "expected an object, found \(value.typeDescription)")
            return nil
        }
        self.object = value
        self.path = path
        var misspelled: Set<String> = []
        for (key, _) in value.members where !known.contains(key) {
            let suggestion = Name.suggestion(for: key, among: known)
            if let suggestion { misspelled.insert(suggestion) }
            log.error(Path.member(path, key), "unknown key \"\(key)\"" + (suggestion.map { " (did you mean \"\($0)\"?)" } ?? ""))
        }
        self.misspelled = misspelled
    }

    /// Whether `key` is absent because an unknown key of the object misspells it.
    func isMisspelled(_ key: String) -> Bool { misspelled.contains(key) && object[key] == nil }

    func at(_ key: String) -> String { Path.member(path, key) }

    subscript(key: String) -> JSONNode? { object[key] }

    func required(_ key: String, _ log: inout DiagnosticLog) -> JSONNode? {
        guard let value = object[key] else {
            if !misspelled.contains(key) { log.error(path, "missing required key \"\(key)\"") }
            return nil
        }
        return value
    }

    func string(_ key: String, required: Bool = false, _ log: inout DiagnosticLog) -> String? {
        guard let value = required ? self.required(key, &log) : object[key] else { return nil }
        return Self.string(value, path: at(key), &log)
    }

    func bool(_ key: String, _ log: inout DiagnosticLog) -> Bool? {
        guard let value = object[key] else { return nil }
        guard let b = value.bool else {
            log.error(at(key), "expected true or false, found \(value.typeDescription)")
            return nil
        }
        return b
    }

    func positiveInt(_ key: String, _ log: inout DiagnosticLog) -> Int? {
        guard let value = object[key] else { return nil }
        guard let i = value.integer, i > 0, i <= Int64(Int32.max) else {
            log.error(at(key), "expected a whole number from 1 to \(Int32.max), found \(Self.shortDescription(value))")
            return nil
        }
        return Int(i)
    }

    func strings(_ key: String, required: Bool = false, _ log: inout DiagnosticLog) -> [Located<String>]? {
        guard let value = required ? self.required(key, &log) : object[key] else { return nil }
        return Self.strings(value, path: at(key), &log)
    }

    static func string(_ value: JSONNode, path: @autoclosure () -> String, _ log: inout DiagnosticLog) -> String? {
        guard let s = value.string else {
            log.error(path(), "expected a string, found \(value.typeDescription)")
            return nil
        }
        return s
    }

    static func strings(_ value: JSONNode, path: String, _ log: inout DiagnosticLog) -> [Located<String>]? {
        guard value.isArray else {
            log.error(path, "expected an array of strings, found \(value.typeDescription)")
            return nil
        }
        var out: [Located<String>] = []
        out.reserveCapacity(value.items.count)
        for (i, item) in value.items.enumerated() {
            let itemPath = Path.item(path, i)
            if let s = string(item, path: itemPath, &log) { out.append(Located(value: s, path: itemPath)) }
        }
        return out
    }

    /// A value for a message: numbers and booleans as written, other types by kind.
    static func shortDescription(_ value: JSONNode) -> String {
        switch value.value {
        case .integer, .real, .bool: value.value.compact
        default: value.typeDescription
        }
    }
}
