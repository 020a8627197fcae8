import Foundation
import OrchJSON

/// An environment for compiling files without their secrets (`orch diff`): every variable that
/// `${env:NAME}` names in them gets a stand-in, the same for the same name in every file, so that
/// two files referring to the same variable compile to equal values and a changed reference
/// compiles to a changed value. The real environment is never read.
///
/// A stand-in must pass where a value is checked (a `url` must still be a URL): it is a number
/// (valid as a host, a port, a path or a query), or `http://` and a number for a variable that
/// starts a string (it may be the whole URL); for a variable that is a whole `gateway.stateKey`,
/// 32 bytes in base64 that hold the number.
public enum EnvPlaceholders {
    public static func environment(for files: [[UInt8]]) -> [String: String] {
        var startsAString: [String: Bool] = [:]
        var keys: Set<String> = []
        for bytes in files {
            guard let root = try? JSONValue.parse(bytes) else { continue }
            visit(root) { text in
                for (name, atStart) in references(in: text) { startsAString[name] = (startsAString[name] ?? false) || atStart }
            }
            if let stateKey = root["gateway"]?["stateKey"] {
                let values = stateKey.arrayValue ?? [stateKey]
                for case .string(let text) in values {
                    if let (name, _) = references(in: text).first, text == "${env:\(name)}" { keys.insert(name) }
                }
            }
        }
        var environment: [String: String] = [:]
        for (i, name) in startsAString.keys.sorted().enumerated() {
            let number = String(10_000 + i)
            if keys.contains(name) {
                environment[name] = Data((Array(number.utf8) + [UInt8](repeating: 0, count: 32)).prefix(32)).base64EncodedString()
            } else {
                environment[name] = startsAString[name]! ? "http://" + number : number
            }
        }
        return environment
    }

    private static func visit(_ value: JSONValue, _ body: (String) -> Void) {
        switch value {
        case .string(let text): body(text)
        case .array(let items): for item in items { visit(item, body) }
        case .object(let object): for (_, member) in object { visit(member, body) }
        default: break
        }
    }

    /// The variables `${env:NAME…}` names in `text`.
    static func variables(in text: String) -> [String] {
        guard text.utf8.contains(UInt8(ascii: "$")) else { return [] }
        return references(in: text).map(\.0)
    }

    /// The variables `${env:NAME…}` names in `text`, each with whether it starts the text.
    private static func references(in text: String) -> [(String, Bool)] {
        var found: [(String, Bool)] = []
        var rest = Substring(text)
        while let range = rest.range(of: "${env:") {
            let name = rest[range.upperBound...].prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
            if !name.isEmpty { found.append((String(name), range.lowerBound == text.startIndex)) }
            rest = rest[range.upperBound...]
        }
        return found
    }
}
