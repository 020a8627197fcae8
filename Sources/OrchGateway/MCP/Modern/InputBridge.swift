import NIOCore
import OrchJSON

/// One call of a handshake-era client to a 2026-07-28 server, which may answer that it needs input
/// first (`resultType: "input_required"`, `inputRequests` keyed by names of its own, and a
/// `requestState`). Each of its questions is asked of the client as the request a handshake-era
/// server would have sent in the middle of the call (on the call's stream, or the session's), the
/// client's answers go back as `inputResponses` with the server's `requestState` untouched, and the
/// call continues, for as many rounds as the server asks. Only what the client declared at
/// `initialize` is asked; a question it cannot answer ends the call with -32021 naming the
/// capability.
struct InputBridge: Sendable {
    let session: MCPSession
    let method: String
    /// The request's params, envelope included.
    let params: JSONObject
    /// The id the client sent: every answer goes back with it.
    let clientID: JSONValue
    let target: SessionStateMachine.Target
    let timeout: TimeAmount
    /// The call's hooks (list filters, audit), applied to its final reply.
    let hooks: ReplyHooks
    let clientCapabilities: JSONValue?

    /// How many times one call may ask for input before the gateway gives up on it, and how many
    /// questions one round may ask.
    static let maxRounds = 16

    /// The capability a client declares to take `method` from a server.
    static func capability(for method: String) -> String? {
        switch method {
        case "elicitation/create": "elicitation"
        case "sampling/createMessage": "sampling"
        case "roots/list": "roots"
        default: nil
        }
    }

    /// Sends the first round under `upstreamID` and relays the rest as replies come.
    func start(upstreamID: JSONValue) {
        let queue = session.makeQueue()
        session.forwardUnchanged(request: MCPSession.encode(JSONRPC.request(id: upstreamID, method: method, params: params)),
                                 id: upstreamID, clientID: nil, method: method, params: params, target: .response(queue, interim: true),
                                 timeout: timeout)
        Task { await relay(first: queue) }
    }

    private func relay(first: MessageQueue) async {
        var queue = first
        var round = 0
        while true {
            guard let reply = await self.reply(from: queue) else { return finish(nil) }
            guard case .object(let result)? = reply["result"], result["resultType"] == .string(ModernResultStamp.inputRequired) else {
                return finish(reply)
            }
            round += 1
            guard round <= Self.maxRounds else {
                return finish(JSONRPC.error(id: clientID, code: JSONRPC.internalError, "the server asked for input \(Self.maxRounds) times in one call"))
            }
            let questions = result["inputRequests"]?.objectValue ?? [:]
            guard !questions.isEmpty, questions.count <= Self.maxRounds else {
                return finish(JSONRPC.error(id: clientID, code: JSONRPC.internalError,
                                            "the server asked for input with \(questions.count) questions (1 to \(Self.maxRounds) are relayed)"))
            }
            // Every capability the questions need, before any is asked.
            let missing = Set(questions.values.compactMap { question -> String? in
                guard let method = question["method"]?.stringValue else { return "(a question with no method)" }
                guard let capability = Self.capability(for: method) else { return method }
                return clientCapabilities?[capability] == nil ? capability : nil
            }).sorted()
            if !missing.isEmpty {
                return finish(JSONRPC.error(
                    id: clientID, code: JSONRPC.missingRequiredClientCapability,
                    "the server needs the client's \(missing.joined(separator: ", ")) to answer \(method); the client did not declare it at initialize",
                    data: ["requiredCapabilities": .strings(missing)]))
            }
            var answers: JSONObject = [:]
            for (name, question) in questions {
                let asked = question["method"]?.stringValue ?? ""
                guard let answer = await session.ask(client: asked, params: question["params"] ?? [:], on: target, timeout: session.inputTimeout) else {
                    return finish(JSONRPC.error(id: clientID, code: JSONRPC.requestTimeout,
                                                "the client did not answer the server's \(asked) within \(session.inputTimeout.components.seconds) s"))
                }
                guard let answered = answer["result"] else {
                    let why = answer["error"]?["message"]?.stringValue ?? "an error"
                    return finish(JSONRPC.error(id: clientID, code: JSONRPC.internalError, "the client refused the server's \(asked): \(why)"))
                }
                answers[name] = answered
            }
            var retry = params
            retry["inputResponses"] = .object(answers)
            if let state = result["requestState"] { retry["requestState"] = state }
            let retryID = JSONValue.string("orch-retry-\(round)-\(JSONRPC.key(clientID))")
            queue = session.makeQueue()
            session.forwardUnchanged(request: MCPSession.encode(JSONRPC.request(id: retryID, method: method, params: retry)),
                                     id: retryID, clientID: clientID, method: method, params: retry, target: .response(queue, interim: true),
                                     timeout: timeout)
        }
    }

    /// The round's reply, parsed; the server's other messages on the way (progress) go to the client.
    private func reply(from queue: MessageQueue) async -> JSONValue? {
        while true {
            switch await queue.next() {
            case .message(let bytes):
                guard let value = try? JSONRPC.parse(bytes) else { continue }
                if value["method"] == nil { return value }
                session.send(bytes, to: target)
            case .keepAlive:
                if case .response(let client, _) = target { client.keepAlive() }
            case .end:
                return nil
            }
        }
    }

    /// The call's last message: `reply` with the client's id, through the call's hooks; the call's
    /// own response then ends. Nil: the session ended and has answered the client already.
    private func finish(_ reply: JSONValue?) {
        guard case .object(var object)? = reply else {
            if case .response(let queue, _) = target { queue.finish() }
            return
        }
        object["id"] = clientID
        let value = JSONValue.object(object)
        let bytes = MCPSession.encode(value)
        let out = hooks.rewrite.map { $0(value, bytes) } ?? hooks.transform.map { MCPSession.encode($0(value)) } ?? bytes
        hooks.outcome?(.replied(value))
        session.send(out, to: target)
        if case .response(let queue, _) = target { queue.finish() }
    }
}
