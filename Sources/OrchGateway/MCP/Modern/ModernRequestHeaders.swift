import OrchJSON

/// The HTTP headers a 2026-07-28 request carries to a remote server, as the reference client sends
/// them: `MCP-Protocol-Version` (the envelope's), `Mcp-Method`, `Mcp-Name` for the methods that
/// name a tool, prompt or resource, and for `tools/call` one `Mcp-Param-*` header for each
/// argument the tool's schema declares one for (an absent, null, object or array argument has none).
enum ModernRequestHeaders {
    static func headers(version: String, method: String, params: JSONObject, declarations: ParamHeaderDeclarations?) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [("MCP-Protocol-Version", version), ("Mcp-Method", method)]
        let known = MCPMethod(rawValue: method)
        if let key = known?.nameParameter, case .string(let name)? = params[key] {
            headers.append(("Mcp-Name", HeaderValueEncoding.encode(name)))
        }
        if known == .toolsCall, let declarations, case .object(let arguments)? = params["arguments"] {
            for declaration in declarations.declarations {
                guard let value = ParamHeaderCheck.value(at: declaration.path, in: arguments),
                    let rendered = ParamHeaderCheck.rendering(value)
                else { continue }
                headers.append((declaration.header, HeaderValueEncoding.encode(rendered)))
            }
        }
        return headers
    }
}
