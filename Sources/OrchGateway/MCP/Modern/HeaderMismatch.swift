/// How a 2026-07-28 request's headers disagree with its body (-32020). The header names in messages
/// are lowercase for the routing headers and as declared for `Mcp-Param-*`, as the reference server
/// writes them.
enum HeaderMismatch: Sendable, Equatable {
    /// `MCP-Protocol-Version`, `Mcp-Method` or `Mcp-Name` sent more than once (lowercased name).
    case duplicatedRoutingHeader(String)
    /// `MCP-Protocol-Version` missing or not the envelope's version.
    case protocolVersion
    /// `Mcp-Method` missing or not the body's method.
    case method
    /// `Mcp-Name` missing or not the body's `name` / `uri` (the parameter's name).
    case name(parameter: String)
    /// An `Mcp-Param-*` header a tool's schema declares, against its argument (dotted path).
    case parameter(header: String, argument: String, ParameterProblem)

    enum ParameterProblem: Sendable, Equatable {
        case duplicated
        case argumentAbsent
        case headerMissing
        case malformedEncoding
        case differs
    }

    var message: String {
        switch self {
        case .duplicatedRoutingHeader(let name): "\(name) header appears more than once"
        case .protocolVersion: "mcp-protocol-version header does not match the request envelope's protocol version"
        case .method: "mcp-method header does not match the request body's method"
        case .name(let parameter): "mcp-name header does not match the request body's '\(parameter)' parameter"
        case .parameter(let header, let argument, let problem):
            switch problem {
            case .duplicated: "\(header) header appears more than once"
            case .argumentAbsent: "\(header) header is present but the request body's '\(argument)' argument is absent"
            case .headerMissing: "\(header) header is missing but the request body's '\(argument)' argument is present"
            case .malformedEncoding: "\(header) header carries a malformed base64 sentinel value"
            case .differs: "\(header) header does not match the request body's '\(argument)' argument"
            }
        }
    }
}
