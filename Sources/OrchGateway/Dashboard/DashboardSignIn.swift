import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import OrchAuth
import OrchJSON
import OrchPolicy
import Synchronization

/// The dashboard's sign-in through an `auth.oidc` issuer that has a `client`: the authorization
/// code flow with PKCE (S256), a `state` bound to the browser by a cookie, and the RFC 8707
/// `resource` of the gateway. The access token it brings back is verified exactly as a bearer
/// token of an MCP client is (`Gateway.verify`): same issuer, audience, scopes and user mapping.
struct DashboardSignIn: Sendable {
    let dashboard: Dashboard
    var gateway: Gateway { dashboard.gateway }

    static let stateCookie = "orch_oidc"
    static let callbackPath = "/ui/oidc/callback"

    func addRoutes(to ui: RouterGroup<GatewayContext>) {
        ui.get("oidc/start") { request, context in try await self.start(request, context) }
        ui.get("oidc/callback") { request, context in try await self.callback(request, context) }
    }

    /// An authorization that is under way, by its `state`.
    struct Pending: Sendable {
        let issuer: String
        let verifier: String
        let redirectURI: String
        let started: Date
        /// The client address that started it: each address holds only so many.
        var remote = ""
    }

    /// `GET /ui/oidc/start?issuer=NAME`: to the issuer's authorization endpoint.
    func start(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard dashboard.enabled, let policy = gateway.store.policy else { throw GatewayError.notFound() }
        let name = request.uri.queryParameters.get("issuer") ?? ""
        guard let issuer = policy.issuer(named: name), let client = issuer.client else { throw GatewayError.notFound("no sign-in \(name)") }
        let endpoints: IssuerEndpoints
        do {
            endpoints = try await gateway.oidcEndpoints(issuer)
        } catch {
            gateway.logger.warning("cannot read the discovery document of auth.oidc issuer \(name): \(error)")
            return try dashboard.signInPage(request, context, message: "\(name) cannot be reached right now.", status: .badGateway)
        }
        let state = Self.base64URL(Crypto.randomBytes(24))
        let verifier = PKCE.verifier()
        let redirectURI = gateway.publicURL(for: policy) + Self.callbackPath
        gateway.oidcPending.insert(state, Pending(issuer: name, verifier: verifier, redirectURI: redirectURI, started: Date(), remote: context.remote))
        var query = URLComponents(string: endpoints.authorization) ?? URLComponents()
        let scopes = (["openid", "email"] + issuer.scopes).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        query.queryItems = (query.queryItems ?? []) + [
            URLQueryItem(name: "response_type", value: "code"), URLQueryItem(name: "client_id", value: client.id),
            URLQueryItem(name: "redirect_uri", value: redirectURI), URLQueryItem(name: "scope", value: scopes.joined(separator: " ")),
            URLQueryItem(name: "state", value: state), URLQueryItem(name: "code_challenge", value: PKCE.challenge(verifier)),
            URLQueryItem(name: "code_challenge_method", value: "S256"), URLQueryItem(name: "resource", value: gateway.resource(for: policy)),
        ]
        var headers: HTTPFields = [.location: query.string ?? endpoints.authorization]
        // Lax, not Strict: the browser comes back from the issuer's site, and must bring it.
        headers.append(HTTPField(name: .setCookie, value: "\(Self.stateCookie)=\(state); Path=/ui/oidc; HttpOnly; SameSite=Lax; Max-Age=600"
            + (gateway.publicURL(for: policy).hasPrefix("https://") ? "; Secure" : "")))
        return Response(status: .found, headers: headers)
    }

    /// `GET /ui/oidc/callback?code&state`: the code for a token, the token verified, a session.
    func callback(_ request: Request, _ context: GatewayContext) async throws -> Response {
        guard dashboard.enabled, let policy = gateway.store.policy else { throw GatewayError.notFound() }
        let query = request.uri.queryParameters
        let state = query.get("state") ?? ""
        guard !state.isEmpty, request.cookies[Self.stateCookie]?.value == state, let pending = gateway.oidcPending.take(state) else {
            gateway.auditor.record(context, request: request, caller: nil, decision: .deny, reason: "dashboard sign-in callback with an unknown state", status: 400, started: .now)
            return try dashboard.signInPage(request, context, message: "That sign-in expired or was not started here. Sign in again.", status: .badRequest)
        }
        if let error = query.get("error") {
            return try dashboard.signInPage(request, context, message: "\(pending.issuer) did not sign you in (\(error)).", status: .unauthorized)
        }
        guard let code = query.get("code"), let issuer = policy.issuer(named: pending.issuer), let client = issuer.client else {
            return try dashboard.signInPage(request, context, message: "The sign-in came back without a code.", status: .badRequest)
        }
        let token: String
        do {
            token = try await exchange(code, pending, issuer: issuer, client: client, resource: gateway.resource(for: policy))
        } catch {
            gateway.logger.warning("dashboard sign-in with \(issuer.name): the code exchange failed: \(error)")
            gateway.auditor.record(context, request: request, caller: nil, decision: .deny, reason: "dashboard sign-in with \(issuer.name): the code exchange failed",
                          status: 502, started: .now, issuer: issuer.name)
            return try dashboard.signInPage(request, context, message: "\(issuer.name) did not hand over a token.", status: .badGateway)
        }
        switch await gateway.authenticator.verify(token, policy: policy) {
        case .success(let caller):
            // A page of the gateway's own that goes on to /ui/ (a same-site navigation), not a 303:
            // after redirects that began on the issuer's site, the browser would not send the new
            // SameSite=Strict cookie with the redirect to /ui/.
            var response = dashboard.startSession(caller, request, context, how: "\(issuer.name)")
            response.status = .ok
            response.headers[.location] = nil
            response.headers[.contentType] = "text/html; charset=utf-8"
            response.body = .init(byteBuffer: ByteBuffer(string: "<!doctype html><meta http-equiv=\"refresh\" content=\"0;url=/ui/\"><a href=\"/ui/\">Continue</a>"))
            return response
        case .failure(let refusal):
            gateway.metrics.authFailure(refusal.kind)
            gateway.auditor.record(context, request: request, caller: nil, decision: .deny, reason: "dashboard sign-in: \(refusal.reason)", status: 401,
                          started: .now, user: refusal.user, issuer: refusal.issuer)
            return try dashboard.signInPage(request, context, message: "\(issuer.name) signed you in, but orch.json has no enabled user for you.",
                                            status: .unauthorized)
        }
    }

    /// The authorization code for an access token at the issuer's token endpoint.
    private func exchange(_ code: String, _ pending: Pending, issuer: OIDCIssuer, client: OIDCIssuer.Client, resource: String) async throws -> String {
        let endpoints = try await gateway.oidcEndpoints(issuer)
        return try await TokenEndpoint(url: endpoints.token, client: client)
            .exchange(code: code, redirectURI: pending.redirectURI, verifier: pending.verifier, resource: resource).accessToken
    }

    /// Where an issuer's authorization and token endpoints are.
    struct IssuerEndpoints: Sendable {
        let authorization: String
        let token: String
    }

    static func base64URL(_ bytes: [UInt8]) -> String { StateSeal.base64url(Data(bytes)) }
}

struct DashboardSignInError: Error, CustomStringConvertible {
    let description: String
}

/// Authorizations under way, by `state`, each good for 10 minutes and taken once. Anyone may
/// start one, so they are bounded per client address (past `perAddress`, that address's own
/// oldest goes) and in all (past `capacity`, the oldest of the address that holds the most goes):
/// a flood from a few addresses never pushes out another browser's sign-in.
final class PendingSignIns: Sendable {
    let capacity: Int
    let perAddress: Int
    static let lifetime: TimeInterval = 600
    private let pending = Mutex<[String: DashboardSignIn.Pending]>([:])

    init(capacity: Int = 1000, perAddress: Int = 16) {
        self.capacity = capacity
        self.perAddress = perAddress
    }

    func insert(_ state: String, _ value: DashboardSignIn.Pending, at now: Date = Date()) {
        pending.withLock { pending in
            pending = pending.filter { now.timeIntervalSince($0.value.started) < Self.lifetime }
            let own = pending.filter { $0.value.remote == value.remote }
            if own.count >= perAddress, let oldest = own.min(by: { $0.value.started < $1.value.started }) {
                pending[oldest.key] = nil
            } else if pending.count >= capacity {
                let byAddress = Dictionary(grouping: pending, by: \.value.remote)
                if let heaviest = byAddress.values.max(by: { $0.count < $1.count }),
                    let oldest = heaviest.min(by: { $0.value.started < $1.value.started })
                {
                    pending[oldest.key] = nil
                }
            }
            pending[state] = value
        }
    }

    func take(_ state: String, at now: Date = Date()) -> DashboardSignIn.Pending? {
        pending.withLock { pending in
            guard let value = pending.removeValue(forKey: state), now.timeIntervalSince(value.started) < Self.lifetime else { return nil }
            return value
        }
    }

    var count: Int { pending.withLock { $0.count } }
}

extension Gateway {
    /// The authorization and token endpoints of an issuer's discovery document.
    func oidcEndpoints(_ issuer: OIDCIssuer) async throws -> DashboardSignIn.IssuerEndpoints {
        let document = try await discovery.document(for: issuer)
        guard let authorization = document["authorization_endpoint"]?.stringValue, let token = document["token_endpoint"]?.stringValue
        else { throw DashboardSignInError(description: "the discovery document names no authorization_endpoint and token_endpoint") }
        return DashboardSignIn.IssuerEndpoints(authorization: authorization, token: token)
    }
}
