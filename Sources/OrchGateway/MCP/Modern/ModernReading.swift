import HTTPTypes
import OrchJSON

/// What a request to an MCP endpoint is, read before anything is decided: legacy (the session path
/// takes it), a 2026-07-28 request to decide, a notification to acknowledge, or a refusal to answer.
///
/// The checks run in this order and the first that fails is the answer (the reference server's
/// order):
/// 1. POST only (405 with `Allow: POST`); one request or notification (-32600).
/// 2. A notification is acknowledged (202, dropped) when the version it names is served (-32022).
/// 3. `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` each at most once (-32020).
/// 4. `params._meta` is an object with the protocol version and client capabilities keys (-32602).
/// 5. `MCP-Protocol-Version` equals the envelope's version, `Mcp-Method` the method, and `Mcp-Name`
///    the `name` (`tools/call`, `prompts/get`) or `uri` (`resources/read`) when the body has one (-32020).
/// 6. The version is one the gateway serves (-32022, with `data.supported` and `data.requested`).
/// 7. A `tools/call`'s `Mcp-Param-*` headers agree with the arguments its tool's schema declares them
///    for (-32020); a tool whose schema is unknown or invalid is not checked.
/// 8. The method still exists in 2026-07-28 (`ping`, `initialize`, `logging/setLevel`,
///    `resources/subscribe` and `resources/unsubscribe` do not: -32601, 404).
enum ModernReading: Sendable, Equatable {
    case legacy
    case modern(ModernRequest)
    /// A modern notification: answered 202 with no body and dropped.
    case acknowledged(method: String)
    /// Answered with the refusal's error and status; `id` is the request's (nil for none).
    case refused(ModernRefusal, id: JSONValue?)

    /// - Parameters:
    ///   - message: the POST body as read, nil for a request without one.
    ///   - inputSchema: the `inputSchema` of the named tool as this caller sees it, nil when unknown;
    ///     asked only for a `tools/call` that has arguments or `Mcp-Param-*` headers.
    ///   - served: the versions served with the envelope.
    init(
        method: HTTPRequest.Method, headers: HTTPFields, message: JSONRPCMessage?,
        inputSchema: (_ tool: String) -> JSONValue?, served: [String] = ModernProtocol.versions
    ) {
        let routing = RoutingHeaders(headers)
        guard RequestEra(routing: routing, message: message) == .modern else { self = .legacy; return }
        guard method == .post, let message else { self = .refused(.methodNotAllowed, id: nil); return }
        switch message {
        case .response:
            self = .refused(.invalidBody, id: nil)
        case .notification(let name, _):
            let named = routing.protocolVersion ?? message.envelopeVersion?.stringValue ?? ""
            if let unsupported = Self.unsupported(named, served) {
                self = .refused(unsupported, id: nil)
            } else {
                self = .acknowledged(method: name)
            }
        case .request(let id, let name, let params):
            switch Self.check(id: id, method: name, params: params, headers: headers, routing: routing, inputSchema: inputSchema, served: served) {
            case .success(let request): self = .modern(request)
            case .failure(let refusal): self = .refused(refusal, id: id)
            }
        }
    }

    private static func check(
        id: JSONValue, method: String, params: JSONObject, headers: HTTPFields, routing: RoutingHeaders, inputSchema: (String) -> JSONValue?,
        served: [String]
    ) -> Result<ModernRequest, ModernRefusal> {
        if let repeated = routing.repeated { return .failure(.headerMismatch(.duplicatedRoutingHeader(repeated))) }
        guard case .object(let envelope) = params["_meta"] else { return .failure(.envelopeNotAnObject) }
        let (version, capabilities) = (envelope[ModernProtocol.MetaKey.protocolVersion], envelope[ModernProtocol.MetaKey.clientCapabilities])
        guard let version, let capabilities else {
            let missing = [ModernProtocol.MetaKey.protocolVersion, ModernProtocol.MetaKey.clientCapabilities].filter { envelope[$0] == nil }
            return .failure(.missingEnvelopeKeys(missing))
        }
        let known = MCPMethod(rawValue: method)

        // A header is always a string, so an envelope version of any other type never matches it.
        guard let header = routing.protocolVersion, version == .string(header) else {
            return .failure(.headerMismatch(.protocolVersion))
        }
        if routing.method != method { return .failure(.headerMismatch(.method)) }
        if let parameter = known?.nameParameter, let named = params[parameter], !named.isNull,
            routing.name.flatMap(HeaderValueEncoding.decode).map(JSONValue.string) != named
        {
            return .failure(.headerMismatch(.name(parameter: parameter)))
        }
        if let unsupported = unsupported(header, served) { return .failure(unsupported) }

        if known == .toolsCall, let mismatch = paramMismatch(params: params, headers: headers, hasParamHeaders: routing.hasParamHeaders, inputSchema: inputSchema) {
            return .failure(.headerMismatch(mismatch))
        }
        if let known, known.isRemovedInModernEra { return .failure(.removedMethod(method)) }
        return .success(ModernRequest(
            version: header, clientCapabilities: capabilities,
            clientInfo: envelope[ModernProtocol.MetaKey.clientInfo], method: method, id: id, params: params, known: known))
    }

    private static func unsupported(_ version: String, _ served: [String]) -> ModernRefusal? {
        served.contains(version) ? nil : .unsupportedVersion(requested: version, supported: served)
    }

    private static func paramMismatch(
        params: JSONObject, headers: HTTPFields, hasParamHeaders: Bool, inputSchema: (String) -> JSONValue?
    ) -> HeaderMismatch? {
        guard case .string(let tool) = params["name"] else { return nil }
        let arguments: JSONObject
        switch params["arguments"] {
        case nil, .null?: arguments = [:]
        case .object(let object)?: arguments = object
        default: return nil
        }
        // With no arguments and no such headers there is nothing a declaration could disagree with.
        if arguments.isEmpty, !hasParamHeaders { return nil }
        guard let schema = inputSchema(tool), let declarations = ParamHeaderDeclarations(inputSchema: schema) else { return nil }
        return ParamHeaderCheck.mismatch(declarations, arguments: arguments, headers: headers)
    }
}
