import Foundation
import OrchJSON
import OrchPolicy
import Synchronization

/// The caller's own access token for a remote server's requests (a connected account): asked
/// before each request, and once more after the server answered 401, with the token it refused.
struct UpstreamCredential: Sendable {
    let token: @Sendable (_ rejected: String?) async -> Result<String, AccountRefusal>
}

extension AccountRefusal {
    /// Where the audit log finds why: a member of the refusal's `error.data` (or of the result's
    /// `_meta` for `input_required`), which `MCPExchange.outcomeNote` reads.
    static let auditKey = "dev.mcp-orch/refusal"

    /// The id of the URL elicitation that asks the user to connect, the same for every refusal of
    /// this user and server, so `notifications/elicitation/complete` names it once connected.
    var elicitationID: String { Self.elicitationID(user: user, server: server) }

    static func elicitationID(user: String, server: String) -> String {
        "orch-connect-" + String(Hex.encode(Crypto.sha256(user + "\n" + server)).prefix(24))
    }

    private var elicitation: JSONObject {
        ["mode": "url", "elicitationId": .string(elicitationID), "url": .string(connectURL), "message": .string(message)]
    }

    /// The answer to request `id` (with `params`) made without a working account: for a
    /// 2026-07-28 request whose envelope declares URL elicitation, `input_required` with a URL-mode
    /// elicitation; for an older client that declared it at initialize (`urlElicitation`), -32042
    /// URL elicitation required; for any other, an error whose message names the page.
    func reply(id: JSONValue, params: JSONObject, urlElicitation: Bool) -> JSONValue {
        let meta = params["_meta"]?.objectValue ?? [:]
        if meta[ModernProtocol.MetaKey.protocolVersion]?.stringValue != nil {
            if meta[ModernProtocol.MetaKey.clientCapabilities]?["elicitation"]?["url"]?.objectValue != nil {
                return ["jsonrpc": "2.0", "id": id, "result": [
                    "resultType": .string(ModernResultStamp.inputRequired),
                    "inputRequests": ["connect": ["method": "elicitation/create", "params": .object(elicitation)]],
                    "_meta": [Self.auditKey: .string(description)],
                ]]
            }
        } else if urlElicitation {
            return JSONRPC.error(id: id, code: Self.urlElicitationRequired, message,
                                 data: ["elicitations": [.object(elicitation)], Self.auditKey: .string(description)])
        }
        return JSONRPC.error(id: id, code: Self.notConnected, message, data: [Self.auditKey: .string(description)])
    }

    /// MCP's "URL elicitation required" error (2025-11-25).
    static let urlElicitationRequired: Int64 = -32042
    /// The gateway's own error for a caller without a working account who cannot be asked by URL.
    static let notConnected: Int64 = -32010

    /// What the gateway tells `user`'s sessions at `server` once the account is connected.
    static func completion(user: String, server: String) -> JSONValue {
        ["jsonrpc": "2.0", "method": "notifications/elicitation/complete", "params": ["elicitationId": .string(elicitationID(user: user, server: server))]]
    }

    /// Whether a client's `initialize` params declare URL-mode elicitation.
    static func declaresURLElicitation(_ params: JSONObject) -> Bool {
        params["capabilities"]?["elicitation"]?["url"]?.objectValue != nil
    }
}

/// The session's upstream for an `oauth` server whose caller had no working account when the
/// session opened: the gateway answers in the server's place (`initialize` with `instructions`
/// naming the connect page, empty lists, `ping`), refuses every other request as
/// `AccountRefusal.reply` does, and once the account works, starts the real server with the
/// client's own `initialize` (its answer kept from the client, who has one) and goes on there.
final class AccountUpstream: Upstream {
    private let label: String
    private let usable: @Sendable () -> Result<Void, AccountRefusal>
    private let makeRemote: @Sendable () -> RemoteUpstream
    private let sink = EventSink()

    private struct State {
        var remote: RemoteUpstream?
        var initialize: JSONObject?
        var urlElicitation = false
    }
    private let state = Mutex(State())

    /// The id of the client's `initialize` as it is sent to the server once connected.
    static let replayID: JSONValue = "orch-connected-initialize"

    init(label: String, usable: @escaping @Sendable () -> Result<Void, AccountRefusal>, makeRemote: @escaping @Sendable () -> RemoteUpstream) {
        self.label = label
        self.usable = usable
        self.makeRemote = makeRemote
    }

    var pid: Int32? { nil }

    /// Whether the gateway still answers in the server's place.
    var isWaiting: Bool { state.withLock { $0.remote == nil } }

    func start(_ events: UpstreamEvents) { sink.set(events) }

    func setReading(_ on: Bool) { state.withLock { $0.remote }?.setReading(on) }

    func stop() async {
        sink.silence()
        await state.withLock { $0.remote }?.stop()
    }

    /// The requests the gateway answers itself in the server's place.
    static let answered: Set<String> = [
        MCPMethod.initialize.rawValue, MCPMethod.ping.rawValue, MCPMethod.toolsList.rawValue, MCPMethod.promptsList.rawValue,
        MCPMethod.resourcesList.rawValue, MCPMethod.resourceTemplatesList.rawValue,
    ]

    func send(_ message: [UInt8]) {
        if let remote = state.withLock({ $0.remote }) { return remote.send(message) }
        guard let parsed = (try? JSONRPC.parse(message)).flatMap(JSONRPCMessage.init) else { return }
        switch usable() {
        case .success:
            connect().send(message)
        case .failure(let refusal):
            if case .request(let id, let method, let params) = parsed { sink.receive(MCPSession.encode(answer(id: id, method: method, params: params, refusal))) }
        }
    }

    /// The server, started now that the account works: it is told the client's `initialize`
    /// first, when the gateway answered one, and the client is not told its answer.
    private func connect() -> RemoteUpstream {
        let (remote, started, initialize) = state.withLock { state -> (RemoteUpstream, Bool, JSONObject?) in
            if let remote = state.remote { return (remote, false, nil) }
            let remote = makeRemote()
            state.remote = remote
            return (remote, true, state.initialize)
        }
        guard started else { return remote }
        let replayKey = JSONRPC.key(Self.replayID)
        remote.start(UpstreamEvents(
            receive: { [sink] bytes in
                if initialize != nil, let reply = try? JSONRPC.parse(bytes), reply["method"] == nil, reply["id"].map(JSONRPC.key) == replayKey { return }
                sink.receive(bytes)
            },
            closed: { [sink] in sink.closed($0) }))
        if let initialize {
            remote.send(MCPSession.encode(JSONRPC.request(id: Self.replayID, method: "initialize", params: initialize)))
            remote.send(MCPSession.encode(["jsonrpc": "2.0", "method": "notifications/initialized"]))
        }
        return remote
    }

    private func answer(id: JSONValue, method: String, params: JSONObject, _ refusal: AccountRefusal) -> JSONValue {
        func result(_ value: JSONObject) -> JSONValue { ["jsonrpc": "2.0", "id": id, "result": .object(value)] }
        switch MCPMethod(rawValue: method) {
        case .initialize?:
            state.withLock { state in
                state.initialize = params
                state.urlElicitation = AccountRefusal.declaresURLElicitation(params)
            }
            let version = params["protocolVersion"]?.stringValue.flatMap { JSONRPC.supportedVersions.contains($0) ? $0 : nil } ?? JSONRPC.latestVersion
            return result([
                "protocolVersion": .string(version),
                "capabilities": ["tools": ["listChanged": true], "prompts": ["listChanged": true], "resources": ["listChanged": true]],
                "serverInfo": ["name": .string(label), "version": "0"],
                "instructions": .string(refusal.message),
            ])
        case .ping?: return result([:])
        case .toolsList?: return result(["tools": []])
        case .promptsList?: return result(["prompts": []])
        case .resourcesList?: return result(["resources": []])
        case .resourceTemplatesList?: return result(["resourceTemplates": []])
        default: return refusal.reply(id: id, params: params, urlElicitation: state.withLock { $0.urlElicitation })
        }
    }
}
