import OrchJSON

/// A 2026-07-28 request that passed every check of its reading (see `ModernReading`): what the
/// gateway decides and forwards, with the envelope the client sent.
struct ModernRequest: Sendable, Equatable {
    /// The protocol version of the envelope (one the gateway serves).
    let version: String
    /// The envelope's client capabilities, as sent (their presence is checked, not their shape).
    let clientCapabilities: JSONValue
    /// The envelope's client info, nil when the client left it out (it is optional).
    let clientInfo: JSONValue?
    let method: String
    let id: JSONValue
    /// The request's params, `_meta` included.
    let params: JSONObject

    /// The method, when it is one whose handling the era changes (read once, with the request).
    let known: MCPMethod?
}
