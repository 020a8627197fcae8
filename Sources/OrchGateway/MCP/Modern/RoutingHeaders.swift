import HTTPTypes

/// The headers a 2026-07-28 request is routed by, read in one pass over the fields (each lookup by
/// name would walk them again): the first value of each, the first one repeated, and whether any
/// `Mcp-Param-*` header is present.
struct RoutingHeaders: Sendable, Equatable {
    var protocolVersion: String?
    var method: String?
    var name: String?
    var hasSession = false
    /// The lowercased name of the first routing header that comes more than once.
    var repeated: String?
    var hasParamHeaders = false

    init(_ headers: HTTPFields) {
        for field in headers {
            let name = field.name
            // Every routing header's name begins with "mcp-": the others are passed over unread.
            guard name.canonicalName.utf8.first == UInt8(ascii: "m") else { continue }
            if name == .mcpProtocolVersion {
                if protocolVersion == nil { protocolVersion = field.value } else { noteRepeated(name) }
            } else if name == .mcpMethod {
                if method == nil { method = field.value } else { noteRepeated(name) }
            } else if name == .mcpName {
                if self.name == nil { self.name = field.value } else { noteRepeated(name) }
            } else if name == .mcpSessionID {
                hasSession = true
            } else if !hasParamHeaders, name.canonicalName.utf8.starts(with: Self.paramPrefix) {
                hasParamHeaders = true
            }
        }
    }

    private static let paramPrefix = Array(ModernProtocol.paramHeaderPrefix.lowercased().utf8)

    private mutating func noteRepeated(_ name: HTTPField.Name) {
        if repeated == nil { repeated = name.canonicalName }
    }
}
