import Foundation
import Logging
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Synchronization
import Testing

// Using a stored account: refresh before expiry and after a 401, one refresh at a time, rotation
// saved, a failed refresh marking the account broken (unless another replica renewed it), and the
// refusals a caller without a working account gets. No network: the token endpoint is a closure.

private let key = Data((0..<32).map { UInt8($0 &+ 7) }).base64EncodedString()
private let target = ConnectionTarget(
    resource: "https://mcp.tickets.example/mcp",
    authorizationServer: AuthorizationServer(
        issuer: "https://login.tickets.example", authorizationEndpoint: "https://login.tickets.example/authorize",
        tokenEndpoint: "https://login.tickets.example/token", revocationEndpoint: nil, scopesSupported: nil, sendsIssuer: false),
    scopes: ["tickets:read"])

/// A token endpoint that counts its refreshes and answers each with a new access and refresh token.
private final class FakeTokenEndpoint: Sendable {
    let posts = Mutex<[String]>([])
    let fails = Atomic<Bool>(false)
    let delay: Duration

    init(delay: Duration = .zero) { self.delay = delay }

    var post: TokenEndpoint.Post {
        { [self] _, _, body in
            let n = posts.withLock { $0.append(body); return $0.count }
            if delay > .zero { try await Task.sleep(for: delay) }
            if fails.load(ordering: .relaxed) { return (400, Array(#"{"error":"invalid_grant","error_description":"refresh token revoked"}"#.utf8)) }
            return (200, Array(#"{"access_token":"access-\#(n)","token_type":"Bearer","expires_in":3600,"refresh_token":"refresh-\#(n)"}"#.utf8))
        }
    }
}

private func account(_ store: ConnectionStore, _ endpoint: FakeTokenEndpoint, now: Int64 = 10_000, user: String = "bob") -> ConnectedAccounts.Account {
    ConnectedAccounts.Account(
        user: user, server: "acme/tickets", store: store, oauth: OAuthSpec(client: .init(id: "orch", secret: "s3cret")), url: "https://mcp.tickets.example/mcp",
        connectURL: "https://orch.example/ui/connections", now: { now }, target: { target }, post: endpoint.post, log: { _ in })
}

private func storeWith(_ connection: StoredConnection?, user: String = "bob") throws -> ConnectionStore {
    let folder = NSTemporaryDirectory() + "orch-accounts-\(UUID().uuidString)"
    let store = ConnectionStore(folder: folder, relativeTo: "/", keys: [key])
    if let connection { try store.write(connection, user: user, server: "acme/tickets") }
    return store
}

private func stored(access: String = "access-0", refresh: String? = "refresh-0", expiresAt: Int64? = 20_000) -> StoredConnection {
    StoredConnection(accessToken: access, refreshToken: refresh, expiresAt: expiresAt, scope: "tickets:read", issuer: target.authorizationServer.issuer,
                     connectedAt: 1_000)
}

private func current(_ store: ConnectionStore) -> StoredConnection? {
    if case .connection(let connection) = store.read(user: "bob", server: "acme/tickets") { connection } else { nil }
}

@Test func aTokenWithTimeLeftIsUsedAsStored() async throws {
    let endpoint = FakeTokenEndpoint()
    let store = try storeWith(stored())
    #expect(await ConnectedAccounts().token(account(store, endpoint)) == .success("access-0"))
    #expect(endpoint.posts.withLock { $0.isEmpty })
}

@Test func aTokenAboutToExpireIsRefreshedAndTheRotatedRefreshTokenSaved() async throws {
    let endpoint = FakeTokenEndpoint()
    let store = try storeWith(stored(expiresAt: 10_030))
    #expect(await ConnectedAccounts().token(account(store, endpoint)) == .success("access-1"))
    let posted = try #require(endpoint.posts.withLock { $0.first })
    #expect(posted.contains("grant_type=refresh_token") && posted.contains("refresh_token=refresh-0") && posted.contains("resource=https%3A%2F%2Fmcp.tickets.example%2Fmcp"))
    let saved = try #require(current(store))
    #expect(saved.accessToken == "access-1" && saved.refreshToken == "refresh-1" && saved.expiresAt == 13_600 && saved.refreshedAt == 10_000)
    #expect(saved.connectedAt == 1_000 && saved.broken == nil)
}

@Test func concurrentCallsWaitForOneRefresh() async throws {
    let endpoint = FakeTokenEndpoint(delay: .milliseconds(200))
    let store = try storeWith(stored(expiresAt: 9_000))
    let accounts = ConnectedAccounts()
    let use = account(store, endpoint)
    let tokens = await withTaskGroup(of: Result<String, AccountRefusal>.self) { group in
        for _ in 0..<8 { group.addTask { await accounts.token(use) } }
        return await group.reduce(into: []) { $0.append($1) }
    }
    #expect(tokens.count == 8 && tokens.allSatisfy { $0 == .success("access-1") })
    #expect(endpoint.posts.withLock { $0.count } == 1)
}

@Test func aRefusedTokenIsRefreshedOnceAndAStaleRefusalUsesTheNewOne() async throws {
    let endpoint = FakeTokenEndpoint()
    let store = try storeWith(stored())
    let accounts = ConnectedAccounts()
    #expect(await accounts.token(account(store, endpoint), rejected: "access-0") == .success("access-1"))
    // A call that was refused with the old token while the refresh ran gets the new one, no refresh.
    #expect(await accounts.token(account(store, endpoint), rejected: "access-0") == .success("access-1"))
    #expect(endpoint.posts.withLock { $0.count } == 1)
}

@Test func aFailedRefreshMarksTheAccountBrokenAndSaysWhereToConnect() async throws {
    let endpoint = FakeTokenEndpoint()
    endpoint.fails.store(true, ordering: .relaxed)
    let store = try storeWith(stored(expiresAt: 9_000))
    let accounts = ConnectedAccounts()
    let use = account(store, endpoint)
    guard case .failure(let refusal) = await accounts.token(use) else { Issue.record("a failed refresh gave a token"); return }
    #expect(refusal.why.hasPrefix("is broken") && refusal.why.contains("refresh token revoked"))
    #expect(refusal.message.contains("https://orch.example/ui/connections") && !refusal.message.contains("refresh-0"))
    #expect(current(store)?.broken?.contains("invalid_grant") == true)
    #expect(store.state(user: "bob", server: "acme/tickets", at: 10_000) == .broken(current(store)!.broken!))
    // Broken stays broken: no more refreshes until the user connects again.
    _ = await accounts.token(use)
    #expect(endpoint.posts.withLock { $0.count } == 1)
    if case .success = accounts.usable(use) { Issue.record("a broken account counts as usable") }
}

@Test func aRefreshThatFailsBecauseAnotherReplicaRotatedTheTokensIsNotBroken() async throws {
    let store = try storeWith(stored(expiresAt: 9_000))
    // The other replica refreshes while this one's request is at the token endpoint.
    let post: TokenEndpoint.Post = { _, _, _ in
        try store.write(stored(access: "access-elsewhere", refresh: "refresh-elsewhere", expiresAt: 13_000), user: "bob", server: "acme/tickets")
        return (400, Array(#"{"error":"invalid_grant"}"#.utf8))
    }
    let use = ConnectedAccounts.Account(
        user: "bob", server: "acme/tickets", store: store, oauth: OAuthSpec(client: .init(id: "orch", secret: nil)), url: "https://mcp.tickets.example/mcp",
        connectURL: "https://orch.example/ui/connections", now: { 10_000 }, target: { target }, post: post, log: { _ in })
    let accounts = ConnectedAccounts()
    #expect(await accounts.token(use) == .success("access-elsewhere"))
    #expect(current(store)?.broken == nil && current(store)?.accessToken == "access-elsewhere")
}

@Test func withoutARefreshTokenARefusedTokenBreaksTheAccountAndAnExpiredOneIsRefused() async throws {
    let endpoint = FakeTokenEndpoint()
    let accounts = ConnectedAccounts()
    let refused = try storeWith(stored(refresh: nil, expiresAt: nil))
    #expect(await accounts.token(account(refused, endpoint)) == .success("access-0"))
    guard case .failure(let refusal) = await accounts.token(account(refused, endpoint), rejected: "access-0") else { Issue.record("no refusal"); return }
    #expect(refusal.why.contains("refused its token"))
    let expired = try storeWith(stored(refresh: nil, expiresAt: 9_000))
    #expect(await accounts.token(account(expired, endpoint)) == .failure(account(expired, endpoint).refusal("has expired")))
    let none = try storeWith(nil)
    #expect(await accounts.token(account(none, endpoint)) == .failure(account(none, endpoint).refusal("is not connected")))
    #expect(endpoint.posts.withLock { $0.isEmpty })
}

@Test func anAccountSealedUnderAnotherKeyCountsAsNotConnected() async throws {
    let store = try storeWith(stored())
    let other = ConnectionStore(folder: store.folder, relativeTo: "/", keys: [Data(repeating: 9, count: 32).base64EncodedString()])
    guard case .failure(let refusal) = await ConnectedAccounts().token(account(other, FakeTokenEndpoint())) else { Issue.record("opened"); return }
    #expect(refusal.why.hasPrefix("is not connected"))
}

private let refusal = AccountRefusal(user: "bob", server: "acme/tickets", why: "is not connected", connectURL: "https://orch.example/ui/connections")

@Test func aClientThatDeclaredURLElicitationIsAskedToConnectByURL() throws {
    let reply = refusal.reply(id: .integer(7), params: ["name": "search"], urlElicitation: true)
    #expect(reply["id"] == .integer(7) && reply["error"]?["code"] == .integer(-32042))
    let elicitation = try #require(reply["error"]?["data"]?["elicitations"]?.arrayValue?.first)
    #expect(elicitation["mode"] == "url" && elicitation["url"] == "https://orch.example/ui/connections")
    #expect(elicitation["elicitationId"] == .string(refusal.elicitationID))
    #expect(AccountRefusal.completion(user: "bob", server: "acme/tickets")["params"]?["elicitationId"] == .string(refusal.elicitationID))
    // The same user and server: the same id; another user: another.
    #expect(AccountRefusal(user: "bob", server: "acme/tickets", why: "is broken (x)", connectURL: "").elicitationID == refusal.elicitationID)
    #expect(AccountRefusal(user: "ann", server: "acme/tickets", why: "", connectURL: "").elicitationID != refusal.elicitationID)
}

@Test func anyOtherClientGetsAnErrorNamingThePage() {
    let reply = refusal.reply(id: "a", params: ["name": "search"], urlElicitation: false)
    #expect(reply["error"]?["code"] == .integer(AccountRefusal.notConnected))
    #expect(reply["error"]?["message"]?.stringValue?.contains("Connect it at https://orch.example/ui/connections") == true)
    #expect(reply["error"]?["data"]?["elicitations"] == nil)
    // A 2026-07-28 request that does not declare URL elicitation: the same error.
    let modern = refusal.reply(id: 1, params: ["_meta": [ModernProtocol.MetaKey.protocolVersion: "2026-07-28"]], urlElicitation: true)
    #expect(modern["error"]?["code"] == .integer(AccountRefusal.notConnected))
    #expect(MCPExchange.outcomeNote(.replied(reply)).contains("bob's account at acme/tickets is not connected"))
}

@Test func aModernClientThatDeclaredURLElicitationGetsInputRequired() throws {
    let params: JSONObject = ["_meta": [ModernProtocol.MetaKey.protocolVersion: "2026-07-28",
                                        ModernProtocol.MetaKey.clientCapabilities: ["elicitation": ["url": [:]]]]]
    let reply = refusal.reply(id: 1, params: params, urlElicitation: false)
    let result = try #require(reply["result"])
    #expect(result["resultType"] == "input_required")
    let request = try #require(result["inputRequests"]?["connect"])
    #expect(request["method"] == "elicitation/create" && request["params"]?["mode"] == "url" && request["params"]?["url"] == "https://orch.example/ui/connections")
    #expect(MCPExchange.outcomeNote(.replied(reply)).contains("not connected"))
}

@Test func withoutAnAccountTheGatewayAnswersInitializeAndListsAndRefusesCalls() async throws {
    let made = Atomic<Int>(0)
    let connected = Atomic<Bool>(false)
    let upstream = AccountUpstream(label: "acme/tickets", usable: { connected.load(ordering: .relaxed) ? .success(()) : .failure(refusal) }) {
        made.add(1, ordering: .relaxed)
        return RemoteUpstream(url: "http://127.0.0.1:9/mcp", kind: .streamableHTTP, headers: [], label: "acme/tickets", logger: .init(label: "test"),
                              client: UpstreamFactory.remoteClient)
    }
    let received = Mutex<[JSONValue]>([])
    upstream.start(UpstreamEvents(receive: { bytes in received.withLock { $0.append(try! JSONRPC.parse(bytes)) } }, closed: { _ in }))
    func send(_ value: JSONValue) { upstream.send(MCPSession.encode(value)) }
    send(["jsonrpc": "2.0", "id": 1, "method": "initialize",
          "params": ["protocolVersion": "2025-11-25", "capabilities": ["elicitation": ["url": [:]]], "clientInfo": ["name": "t", "version": "1"]]])
    send(["jsonrpc": "2.0", "method": "notifications/initialized"])
    send(["jsonrpc": "2.0", "id": 2, "method": "tools/list"])
    send(["jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": ["name": "search"]])
    let replies = received.withLock { $0 }
    #expect(replies.count == 3)
    #expect(replies[0]["result"]?["protocolVersion"] == "2025-11-25")
    #expect(replies[0]["result"]?["instructions"]?.stringValue?.contains("https://orch.example/ui/connections") == true)
    #expect(replies[1]["result"]?["tools"] == .array([]))
    #expect(replies[2]["error"]?["code"] == .integer(-32042))
    #expect(upstream.isWaiting && made.load(ordering: .relaxed) == 0)
    // Connected now: the server is started, and goes on from there.
    connected.store(true, ordering: .relaxed)
    send(["jsonrpc": "2.0", "id": 4, "method": "ping"])
    #expect(!upstream.isWaiting && made.load(ordering: .relaxed) == 1)
    await upstream.stop()
}
