import OrchJSON

/// The `Mcp-Param-*` headers a tool's input schema declares: each property annotated with
/// `x-mcp-header` names a header that a 2026-07-28 `tools/call` mirrors its argument in.
///
/// A schema whose annotations are invalid declares nothing (`nil` from `init`): conforming clients
/// drop such a tool and send no headers for it, so there is nothing to check a call against.
struct ParamHeaderDeclarations: Sendable, Equatable {
    struct Declaration: Sendable, Equatable {
        /// Property names from the schema's root to the annotated property.
        let path: [String]
        /// The annotation's token: the header is `Mcp-Param-<token>`.
        let token: String
        /// The property's JSON Schema type: `string`, `integer` or `boolean`.
        let type: String

        var header: String { ModernProtocol.paramHeaderPrefix + token }
    }

    let declarations: [Declaration]

    static let annotation = "x-mcp-header"
    private static let headerTypes: Set<String> = ["string", "integer", "boolean"]

    /// The schema's declarations, in the order the reference server walks them; nil when any
    /// annotation is invalid (off a pure `properties` chain, not an RFC 9110 token, on a property
    /// that is not a string, integer or boolean, or repeated ignoring case).
    init?(inputSchema: JSONValue) {
        var found: [Declaration] = []
        var seen: Set<String> = []
        for (path, schema) in Self.positions(inputSchema) {
            guard let annotation = schema[Self.annotation] else { continue }
            guard let path, !path.isEmpty, case .string(let token) = annotation, Self.isToken(token),
                case .string(let type) = schema["type"], Self.headerTypes.contains(type),
                seen.insert(token.lowercased()).inserted
            else { return nil }
            found.append(Declaration(path: path, token: token, type: type))
        }
        declarations = found
    }

    /// Every schema position with its chain of `properties` keys from the root (nil once another
    /// applicator was crossed). Instance data (`default`, `const`, `enum`, …) is never entered and
    /// `$ref` never followed; the explicit stack keeps any depth off the call stack.
    private static func positions(_ root: JSONValue) -> [(path: [String]?, schema: JSONObject)] {
        var result: [(path: [String]?, schema: JSONObject)] = []
        var stack: [(path: [String]?, node: JSONValue)] = [([], root)]
        while let (path, node) = stack.popLast() {
            guard case .object(let schema) = node else { continue }
            result.append((path, schema))
            for (keyword, value) in schema {
                if keyword == "properties", case .object(let properties) = value {
                    for (name, sub) in properties { stack.append((path.map { $0 + [name] }, sub)) }
                } else if singleSubschema.contains(keyword) {
                    stack.append((nil, value))
                } else if listSubschemas.contains(keyword), case .array(let list) = value {
                    stack.append(contentsOf: list.map { (nil, $0) })
                } else if mapSubschemas.contains(keyword), case .object(let map) = value {
                    stack.append(contentsOf: map.values.map { (nil, $0) })
                }
            }
        }
        return result
    }

    private static let singleSubschema: Set<String> = [
        "items", "contains", "unevaluatedItems", "additionalProperties", "propertyNames", "unevaluatedProperties",
        "not", "if", "then", "else", "contentSchema",
    ]
    private static let listSubschemas: Set<String> = ["allOf", "anyOf", "oneOf", "prefixItems"]
    private static let mapSubschemas: Set<String> = ["patternProperties", "dependentSchemas", "$defs", "definitions"]

    /// An RFC 9110 token: the characters an HTTP field name may have.
    private static func isToken(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): true
            default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }
}
