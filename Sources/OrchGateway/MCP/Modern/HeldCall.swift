import Foundation
import NIOCore
import OrchJSON
import OrchPolicy
import Synchronization

/// A 2026-07-28 client's call on a held leg whose handshake-era server may ask the client
/// something in the middle of it (elicitation, sampling, roots). The server's request is held: the
/// client's POST is answered `input_required` with the question and a sealed `requestState`, and
/// the client's retry (with `inputResponses`) answers the server, after which the call goes on;
/// its reply answers the POST that is waiting then.
final class HeldCall: Sendable {
    /// The call's id among the leg's held calls (in the sealed state).
    let token: String
    /// Where the call's upstream messages go: the server's questions (pushed by the leg) and its reply.
    let queue: MessageQueue
    /// The call's method and digest, which a retry must match (`RequestStateSeal.digest`).
    let method: String
    let digest: String
    /// The call's id upstream.
    let upstreamID: JSONValue
    /// Whose call it is and where (`user`, `credential`, `server`), what its states are sealed
    /// with, and how long a question waits for the client's retry.
    let user: String
    let credential: String
    let server: String
    let seal: RequestStateSeal
    let inputTimeout: Duration
    /// The time a sealed `requestState` expires from.
    let clock: WallClock

    private struct State {
        /// The id the client's current POST has: the reply goes back with it.
        var clientID: JSONValue
        /// The server's question waiting for the client's answer: its id upstream, by the name it
        /// has in `inputRequests`.
        var question: (name: String, upstreamID: JSONValue)? = nil
        var questions = 0
        var expires: ContinuousClock.Instant
    }

    private let state: Mutex<State>

    init(queue: MessageQueue, method: String, digest: String, upstreamID: JSONValue, clientID: JSONValue, user: String, credential: String,
         server: String, seal: RequestStateSeal, inputTimeout: Duration, clock: WallClock = .system) {
        self.clock = clock
        self.upstreamID = upstreamID
        self.user = user
        self.credential = credential
        self.server = server
        self.seal = seal
        self.inputTimeout = inputTimeout
        let expires = ContinuousClock.now + inputTimeout
        self.token = Hex.encode(Crypto.randomBytes(16))
        self.queue = queue
        self.method = method
        self.digest = digest
        self.state = Mutex(State(clientID: clientID, expires: expires))
    }

    var clientID: JSONValue { state.withLock { $0.clientID } }

    /// Whether the call waits for the client's answer now (so another question cannot be its).
    var isAsking: Bool { state.withLock { $0.question != nil } }

    func hasExpired(at now: ContinuousClock.Instant) -> Bool { state.withLock { now > $0.expires } }

    /// The result that tells the client the server asked `method` (its request's id upstream:
    /// `upstreamID`): `input_required` with the question under a name of the call's, and the state
    /// its retry must bring back.
    func inputRequired(method: String, params: JSONValue, upstreamID: JSONValue) -> JSONObject {
        let name = state.withLock { state in
            state.questions += 1
            let name = "q\(state.questions)"
            state.question = (name, upstreamID)
            state.expires = .now + inputTimeout
            return name
        }
        let expires = Int64(clock.now().timeIntervalSince1970) + inputTimeout.components.seconds
        let binding = RequestStateSeal.Binding(user: user, credential: credential, server: server, method: self.method, call: digest,
                                               heldCall: token, question: name, expires: expires)
        return [
            "resultType": .string(ModernResultStamp.inputRequired),
            "inputRequests": [name: ["method": .string(method), "params": params]],
            "requestState": .string(seal.seal(binding)),
        ]
    }

    /// The client's retry with POST id `clientID` answers question `name`: the server's id for it,
    /// or nil when the call does not wait for that answer (then nothing is forwarded).
    func answering(_ name: String, clientID: JSONValue) -> JSONValue? {
        state.withLock { state in
            guard let question = state.question, question.name == name else { return nil }
            state.question = nil
            state.clientID = clientID
            return question.upstreamID
        }
    }
}
