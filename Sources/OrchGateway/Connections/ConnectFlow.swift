import Foundation
import OrchJSON
import OrchPolicy
import Synchronization

/// PKCE (RFC 7636) with S256: a verifier of 32 random bytes, and its challenge.
enum PKCE {
    static func verifier() -> String { DashboardSignIn.base64URL(Crypto.randomBytes(32)) }

    static func challenge(_ verifier: String) -> String { DashboardSignIn.base64URL(Crypto.sha256(verifier)) }
}

/// A connect flow under way, as its `state` parameter carries it: sealed under `gateway.stateKey`,
/// so the callback may land on any replica, and nothing is kept while the user is at the provider.
struct ConnectState: Sendable, Equatable {
    let user: String
    /// The browser that started it, as a digest of the nonce of its flow cookie (set by the signed-in
    /// dashboard when the flow starts): a callback that comes back in another browser is refused, so
    /// one user never finishes a flow another started.
    let session: String
    /// `ORG/SERVER`.
    let server: String
    let issuer: String
    let verifier: String
    let redirectURI: String
    /// Seconds since 1970.
    let expires: Int64

    static let purpose = "orcho1."
    /// How long a flow may take, at the provider and back.
    static let lifetime: Int64 = 600

    /// The digest a dashboard session is named by in a state.
    static func session(_ id: String) -> String { Crypto.sha256(id).prefix(16).map { String(format: "%02x", $0) }.joined() }

    func sealed(_ seal: StateSeal) -> String {
        let json: JSONValue = [
            "u": .string(user), "s": .string(session), "v": .string(server), "i": .string(issuer), "p": .string(verifier),
            "r": .string(redirectURI), "e": .integer(expires),
        ]
        return seal.seal(Array(json.compact.utf8), purpose: Self.purpose)
    }

    init(user: String, session: String, server: String, issuer: String, verifier: String, redirectURI: String, expires: Int64) {
        (self.user, self.session, self.server, self.issuer, self.verifier, self.redirectURI, self.expires) =
            (user, session, server, issuer, verifier, redirectURI, expires)
    }

    init?(sealed text: String, _ seal: StateSeal) {
        guard case .opened(let bytes) = seal.open(text, purpose: Self.purpose), let json = try? JSONValue.parse(bytes),
            case .string(let user)? = json["u"], case .string(let session)? = json["s"], case .string(let server)? = json["v"],
            case .string(let issuer)? = json["i"], case .string(let verifier)? = json["p"], case .string(let redirect)? = json["r"],
            case .integer(let expires)? = json["e"]
        else { return nil }
        self.init(user: user, session: session, server: server, issuer: issuer, verifier: verifier, redirectURI: redirect, expires: expires)
    }
}

/// The two ends of a connect flow, without I/O: the authorization request the browser is sent to,
/// and the callback's checks before its code is exchanged.
enum ConnectFlow {
    /// The authorization endpoint with the request's parameters (those it had kept).
    static func authorizationURL(_ target: ConnectionTarget, client: OIDCIssuer.Client, state: String, verifier: String, redirectURI: String,
                                 sendResource: Bool) -> String {
        var items = [
            URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: client.id),
            URLQueryItem(name: "redirect_uri", value: redirectURI), URLQueryItem(name: "state", value: state),
            URLQueryItem(name: "code_challenge", value: PKCE.challenge(verifier)), URLQueryItem(name: "code_challenge_method", value: "S256"),
        ]
        if !target.scopes.isEmpty { items.append(URLQueryItem(name: "scope", value: target.scopes.joined(separator: " "))) }
        if sendResource { items.append(URLQueryItem(name: "resource", value: target.resource)) }
        var ours = URLComponents()
        ours.queryItems = items
        // `+` would be read as a space in the query. The endpoint's own query is kept as written.
        let added = (ours.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let endpoint = target.authorizationServer.authorizationEndpoint
        return endpoint + (endpoint.contains("?") ? "&" : "?") + added
    }

    /// Why a callback is refused; its text is shown to the user (never a code or a token).
    enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case unknownState
        case expired
        case anotherSession
        case replayed
        /// The provider's own error (RFC 6749 §4.1.2.1), shown as it gave it.
        case provider(error: String, description: String?)
        case wrongIssuer(expected: String, got: String?)
        case noCode

        var description: String {
            switch self {
            case .unknownState: "This connection was not started here, or its link was changed. Connect again."
            case .expired: "This connection took longer than ten minutes. Connect again."
            case .anotherSession: "This connection was started in another sign-in. Connect again from your own dashboard."
            case .replayed: "This connection was finished already."
            case .provider(let error, let description): "The authorization server refused: \(error)" + (description.map { " (\($0))" } ?? "")
            case .wrongIssuer(let expected, let got): "The answer came from \(got ?? "an unnamed issuer"), not \(expected). Nothing was stored."
            case .noCode: "The authorization server sent no code back."
            }
        }
    }

    /// The callback's query checked: the state opens, is not expired, belongs to this browser
    /// (`session`: the digest of the flow's cookie) and to `user` when the callback knows who is
    /// signed in (nil: the state's user), was not used before (`firstUse`), the provider sent no error, `iss`
    /// is the issuer's (RFC 9207: required when its metadata says it sends it), and a code came.
    static func check(
        query: [String: String], seal: StateSeal, user: String?, session: String, now: Int64, sendsIssuer: (String) -> Bool,
        firstUse: (String, Int64) -> Bool
    ) -> Result<(state: ConnectState, code: String), Refusal> {
        guard let text = query["state"], let state = ConnectState(sealed: text, seal) else { return .failure(.unknownState) }
        guard now < state.expires else { return .failure(.expired) }
        guard state.session == session, user.map({ $0 == state.user }) ?? true else { return .failure(.anotherSession) }
        guard firstUse(text, state.expires) else { return .failure(.replayed) }
        if let error = query["error"] { return .failure(.provider(error: error, description: query["error_description"])) }
        if let iss = query["iss"] {
            guard iss == state.issuer else { return .failure(.wrongIssuer(expected: state.issuer, got: iss)) }
        } else if sendsIssuer(state.issuer) {
            return .failure(.wrongIssuer(expected: state.issuer, got: nil))
        }
        guard let code = query["code"], !code.isEmpty else { return .failure(.noCode) }
        return .success((state, code))
    }
}

/// The states of callbacks this replica has taken, until they expire: a state is used once.
final class UsedStates: Sendable {
    private let used = Mutex<[String: Int64]>([:])

    /// True the first time `state` is given (and remembered until `expires`).
    func firstUse(_ state: String, expires: Int64, now: Int64) -> Bool {
        used.withLock { used in
            used = used.filter { $0.value > now }
            return used.updateValue(expires, forKey: state) == nil
        }
    }
}
