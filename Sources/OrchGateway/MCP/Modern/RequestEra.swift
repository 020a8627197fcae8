import HTTPTypes
import OrchJSON

/// Which era of MCP a request to an MCP endpoint belongs to, decided per request.
enum RequestEra: Sendable, Equatable {
    /// 2024-11-05 … 2025-11-25: `initialize`, then requests on an `Mcp-Session-Id`.
    case legacy
    /// 2026-07-28 or later: each request carries its own version and client capabilities.
    case modern

    /// A request is modern when its `MCP-Protocol-Version` header or its
    /// `params._meta["io.modelcontextprotocol/protocolVersion"]` names a version that is not one of
    /// the handshake era's (so an unknown one is refused the modern way, with the versions served).
    /// A request on a session is legacy, and so is an `initialize` unless its header says otherwise.
    /// `message` is nil for a request without a body (GET, DELETE).
    init(headers: HTTPFields, message: JSONRPCMessage?) {
        self.init(routing: RoutingHeaders(headers), message: message)
    }

    init(routing: RoutingHeaders, message: JSONRPCMessage?) {
        guard !routing.hasSession else { self = .legacy; return }
        if let version = routing.protocolVersion, !ModernProtocol.isLegacy(version) {
            self = .modern
        } else if let message, message.method != MCPMethod.initialize.rawValue, let named = message.envelopeVersion,
            named.stringValue.map(ModernProtocol.isLegacy) != true
        {
            // A legacy client never sends the envelope: one that does is read (and checked) as modern.
            self = .modern
        } else {
            self = .legacy
        }
    }
}

extension JSONRPCMessage {
    /// `params._meta`, when the message has params with an object there.
    var envelope: JSONObject? {
        switch self {
        case .request(_, _, let params), .notification(_, let params): params["_meta"]?.objectValue
        case .response: nil
        }
    }

    /// The value of the envelope's protocol version key, whatever its type.
    var envelopeVersion: JSONValue? { envelope?[ModernProtocol.MetaKey.protocolVersion] }
}
