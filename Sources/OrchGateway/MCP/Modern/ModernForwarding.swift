import OrchJSON

/// How a 2026-07-28 request crosses to a handshake-era upstream on a held leg, and how its reply
/// comes back: pure rewriting, no I/O.
enum ModernForwarding {
    /// The client's request as it goes upstream on a held leg: its bytes as they came, with
    /// `upstreamID` in place of its id, and for a handshake-era server (`cutsEnvelope`) the envelope
    /// taken out of `params._meta` (such a server's session has its version and capabilities from
    /// `initialize`, and Python SDK 2.x servers refuse the envelope on it), `_meta` with it when it
    /// held nothing else; a 2026-07-28 server gets the envelope as the client wrote it. Made in one
    /// copy; `read` is the body as `envelopeApart` read it, when the adapter did (its id and
    /// cuts are not looked for again). Nil when the id is not found once as written or the envelope
    /// cannot be cut (then the message is encoded again).
    static func splicedRequest(_ bytes: [UInt8], upstreamID: JSONValue, cutsEnvelope: Bool, read: JSONSetAside? = nil) -> [UInt8]? {
        let read = read ?? (cutsEnvelope ? envelopeApart(bytes) : nil)
        guard !cutsEnvelope || read != nil,
            let id = read?.id ?? JSONMemberScanner.members(in: bytes).flatMap({ JSONMemberScanner.only("id", in: $0, bytes)?.value })
        else { return nil }
        return splicing(bytes, id: upstreamID, at: id, cutsEnvelope ? read?.cuts ?? [] : [])
    }

    /// `bytes` with `id` written in place of `range` and `edits` made, in one copy.
    private static func splicing(_ bytes: [UInt8], id: JSONValue, at range: Range<Int>, _ edits: some Collection<JSONMemberScanner.Edit>) -> [UInt8] {
        // Room for an integer's twenty characters or a plain string and its quotes (others grow it).
        let room = if case .string(let text) = id { text.utf8.count + 2 } else { 20 }
        return JSONMemberScanner.applying(edits, to: bytes, replacing: range, room: room) { write(id, into: &$0) }
    }

    /// Appends a request id as JSON to `out`: an integer, or a string of printable ASCII that needs
    /// no escape (as most clients' are), written directly; anything else encoded.
    static func write(_ id: JSONValue, into out: inout [UInt8]) {
        switch id {
        case .integer(let number):
            // Digits from the last, into room for Int64.min's twenty characters.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
                var (start, rest) = (20, number.magnitude)
                repeat {
                    start -= 1
                    digits[start] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                } while rest > 0
                if number < 0 {
                    start -= 1
                    digits[start] = UInt8(ascii: "-")
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
            }
        case .string(var text):
            // withUTF8 gives a small string's bytes too (a contiguous view of the UTF-8 would not).
            let plain = text.withUTF8 { characters -> Bool in
                for byte in characters where byte < 0x20 || byte >= 0x7F || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return false }
                out.append(UInt8(ascii: "\""))
                out.append(contentsOf: characters)
                out.append(UInt8(ascii: "\""))
                return true
            }
            if !plain { out.append(contentsOf: MCPSession.encode(id)) }
        default:
            out.append(contentsOf: MCPSession.encode(id))
        }
    }

    /// A 2026-07-28 request's body with its envelope set aside while the rest is parsed (the
    /// envelope is most of a call's bytes, and a handshake-era server is sent the rest alone): the
    /// same value as `JSONRPC.parse` gives, or nil when it cannot be read so (then the body is
    /// parsed whole, and its errors are the whole body's).
    static func envelopeApart(_ bytes: [UInt8]) -> JSONSetAside? {
        JSONSetAside(bytes, limits: JSONRPC.messageLimits, keys: envelopeKeys, at: ["params", "_meta"])
    }

    /// The envelope's keys in a request's `params._meta`.
    static let envelopeKeys = [ModernProtocol.MetaKey.protocolVersion, ModernProtocol.MetaKey.clientCapabilities, ModernProtocol.MetaKey.clientInfo]

    /// A 2026-07-28 request's params for a server of the handshake era, the envelope taken out
    /// (and `_meta` with it when it held nothing else, as `splicedRequest` cuts it).
    static func withoutEnvelope(_ params: JSONObject) -> JSONObject {
        guard case .object(var meta)? = params["_meta"] else { return params }
        for key in envelopeKeys { meta[key] = nil }
        var params = params
        params["_meta"] = meta.isEmpty ? nil : .object(meta)
        return params
    }

    /// The upstream's reply (`value`, as `bytes`) for the modern client that sent its request with
    /// `id`, when its bytes can be kept: a result the era adds only `resultType` to (no cache fields
    /// to stamp, no `resultType` already), or an error whose code stays, with the client's id in
    /// place. Nil otherwise (then `reply` rewrites the value and it is encoded again).
    static func splicedReply(_ bytes: [UInt8], _ value: JSONValue, id: JSONValue, method: MCPMethod?) -> [UInt8]? {
        let result = value["result"]?.objectValue
        if let result {
            guard method?.hasCacheFields != true, result["resultType"] == nil else { return nil }
        } else if value["error"] == nil || (method == .resourcesRead && value["error"]?["code"] == .integer(resourceNotFound)) {
            return nil
        }
        // The reply was parsed strictly, so no name is written twice: with its id before its result
        // (as servers write them), the result is not read past its brace.
        guard let (replyID, written) = JSONMemberScanner.idAndResult(in: bytes) else { return nil }
        guard let result else { return splicing(bytes, id: id, at: replyID, EmptyCollection()) }
        guard let written, bytes[written] == UInt8(ascii: "{") else { return nil }
        let stamp = JSONMemberScanner.Edit((written + 1)..<(written + 1), result.isEmpty ? resultTypeMember : resultTypeMemberAndComma)
        return splicing(bytes, id: id, at: replyID, CollectionOfOne(stamp))
    }

    /// `"resultType":"complete"` as the first member of a result, alone or followed by others.
    private static let resultTypeMember = Array(#""resultType":"\#(ModernResultStamp.complete)""#.utf8)
    private static let resultTypeMemberAndComma = resultTypeMember + [UInt8(ascii: ",")]

    /// The `initialize` params a held leg opens with: the newest handshake version, no client
    /// capabilities (the server has no client to ask anything of), and the gateway as the client.
    static func initializeParams(clientVersion: String) -> JSONObject {
        [
            "protocolVersion": .string(JSONRPC.latestVersion),
            "capabilities": [:],
            "clientInfo": ["name": "mcp-orch", "version": .string(clientVersion)],
        ]
    }

    /// The upstream's reply to `method`, for the modern client that sent it with `id`: its own id
    /// back, a result stamped for the era, and the era's code for a resource that is not found
    /// (-32602 where handshake-era servers answer -32002).
    static func reply(_ reply: JSONValue, id: JSONValue, method: String, stamp: ModernResultStamp) -> JSONValue {
        guard case .object(var object) = reply else { return reply }
        object["id"] = id
        if case .object(let result) = object["result"] {
            object["result"] = .object(stamp.apply(to: result, method: method))
        } else if method == MCPMethod.resourcesRead.rawValue, case .object(var error) = object["error"],
            error["code"] == .integer(resourceNotFound)
        {
            error["code"] = .integer(JSONRPC.invalidParams)
            object["error"] = .object(error)
        }
        return .object(object)
    }

    /// The handshake era's "resource not found".
    static let resourceNotFound: Int64 = -32002

    /// The gateway's answer to `server/discover` from what the leg's server said at initialize (with
    /// `listChanged` on each of its lists, as every session's initialize result has it: the gateway
    /// itself announces a reload's changes, on a listen stream as on a session).
    static func discover(_ initialized: JSONObject, ttl: CacheTTL) -> DiscoverResult {
        DiscoverResult(
            capabilities: initialized["capabilities"]?.objectValue ?? [:],
            instructions: initialized["instructions"]?.stringValue,
            serverInfo: initialized["serverInfo"]?.objectValue ?? ["name": "mcp-orch", "version": "unknown"],
            ttl: ttl)
    }
}
