import OrchJSON

/// Reads the members of one JSON object with a path, reporting unknown keys (with a "did you mean"
/// hint), missing required keys and wrong types to the log instead of stopping at the first.
struct ObjectReader {
    let object: JSONObject
    let path: String

    /// nil (with an error logged) when `value` is not an object.
    init?(_ value: JSONValue, path: String, known: [String], log: inout DiagnosticLog) {
        guard case .object(let object) = value else {
            log.error(path, "expected an object, found \(value.typeDescription)")
            return nil
        }
        self.object = object
        self.path = path
        for key in object.keys where !known.contains(key) {
            log.error(Path.member(path, key), "unknown key \"\(key)\"" + Name.didYouMean(key, among: known))
        }
    }

    func at(_ key: String) -> String { Path.member(path, key) }

    subscript(key: String) -> JSONValue? { object[key] }

    func required(_ key: String, _ log: inout DiagnosticLog) -> JSONValue? {
        guard let value = object[key] else {
            log.error(path, "missing required key \"\(key)\"")
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
        guard case .bool(let b) = value else {
            log.error(at(key), "expected true or false, found \(value.typeDescription)")
            return nil
        }
        return b
    }

    func positiveInt(_ key: String, _ log: inout DiagnosticLog) -> Int? {
        guard let value = object[key] else { return nil }
        guard case .integer(let i) = value, i > 0, i <= Int64(Int32.max) else {
            log.error(at(key), "expected a whole number from 1 to \(Int32.max), found \(Self.shortDescription(value))")
            return nil
        }
        return Int(i)
    }

    func strings(_ key: String, required: Bool = false, _ log: inout DiagnosticLog) -> [Located<String>]? {
        guard let value = required ? self.required(key, &log) : object[key] else { return nil }
        return Self.strings(value, path: at(key), &log)
    }

    static func string(_ value: JSONValue, path: String, _ log: inout DiagnosticLog) -> String? {
        guard case .string(let s) = value else {
            log.error(path, "expected a string, found \(value.typeDescription)")
            return nil
        }
        return s
    }

    static func strings(_ value: JSONValue, path: String, _ log: inout DiagnosticLog) -> [Located<String>]? {
        guard case .array(let items) = value else {
            log.error(path, "expected an array of strings, found \(value.typeDescription)")
            return nil
        }
        var out: [Located<String>] = []
        out.reserveCapacity(items.count)
        for (i, item) in items.enumerated() {
            let itemPath = Path.item(path, i)
            if let s = string(item, path: itemPath, &log) { out.append(Located(value: s, path: itemPath)) }
        }
        return out
    }

    /// A value for a message: numbers and booleans as written, other types by kind.
    static func shortDescription(_ value: JSONValue) -> String {
        switch value {
        case .integer, .real, .bool: value.compact
        default: value.typeDescription
        }
    }
}
