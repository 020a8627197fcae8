import Foundation
import Logging
import OrchJSON
import OrchPolicy
import Synchronization

/// Why a caller's call to an `oauth` server cannot carry a token of theirs: said to the caller
/// (with the page where they connect) and to the audit log, never with a token.
struct AccountRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    let user: String
    /// `ORG/SERVER`.
    let server: String
    /// Why: "is not connected", "is broken (…)", "has expired".
    let why: String
    /// The dashboard page where the user connects the account.
    let connectURL: String

    var description: String { "\(user)'s account at \(server) \(why); connect it at \(connectURL)" }
    /// What the caller is told.
    var message: String { "Your account at \(server) \(why). Connect it at \(connectURL), then try again." }
}

/// The gateway's use of connected accounts: the caller's own access token for a server, refreshed
/// when less than 60 s is left or once after the server refused it (401), one refresh at a time per
/// account (calls that need it meanwhile wait for the same one), the rotated refresh token saved.
/// A failed refresh reads the file again first (another replica may have rotated the tokens), and
/// only then marks the account broken.
final class ConnectedAccounts: Sendable {
    /// The stored tokens of the accounts being refreshed, by `USER\nORG/SERVER`, and the refresh.
    private let refreshes = Mutex<[String: Task<Result<String, AccountRefusal>, Never>]>([:])
    /// Files that did not open, logged once each.
    private let unreadable = Mutex<Set<String>>([])

    /// Refreshes with less than this left.
    static let refreshMargin: Int64 = 60

    /// How the gateway reaches one server's token endpoint and where the account is stored.
    struct Account: Sendable {
        let user: String
        let server: String
        let store: ConnectionStore
        let oauth: OAuthSpec
        /// The server's URL (its discovery finds the token endpoint).
        let url: String
        let connectURL: String
        let now: @Sendable () -> Int64
        let target: @Sendable () async throws -> ConnectionTarget
        let post: TokenEndpoint.Post
        let log: @Sendable (String) -> Void

        func refusal(_ why: String) -> AccountRefusal { AccountRefusal(user: user, server: server, why: why, connectURL: connectURL) }
    }

    /// The account's stored tokens when they are usable now, as far as the file says (a token that
    /// has expired but can be refreshed is): one read of the file, no network.
    func stored(_ account: Account) -> Result<StoredConnection, AccountRefusal> {
        switch account.store.read(user: account.user, server: account.server) {
        case .none:
            return .failure(account.refusal("is not connected"))
        case .unreadable(let why):
            if unreadable.withLock({ $0.insert(account.store.path(user: account.user, server: account.server) + why).inserted }) {
                account.log("the stored account of \(account.user) at \(account.server) is not usable, so it counts as not connected: \(why)")
            }
            return .failure(account.refusal("is not connected (its stored tokens do not open)"))
        case .connection(let stored):
            if let broken = stored.broken { return .failure(account.refusal("is broken (\(broken))")) }
            if let expires = stored.expiresAt, expires <= account.now(), stored.refreshToken == nil { return .failure(account.refusal("has expired")) }
            return .success(stored)
        }
    }

    /// Whether the account's stored tokens are usable now (`stored`).
    func usable(_ account: Account) -> Result<Void, AccountRefusal> { stored(account).map { _ in () } }

    /// The caller's access token for a call: the stored one, refreshed first when it is about to
    /// expire, or when `rejected` (the token the server just refused) is still the stored one.
    func token(_ account: Account, rejected: String? = nil) async -> Result<String, AccountRefusal> {
        let stored: StoredConnection
        switch self.stored(account) {
        case .success(let found): stored = found
        case .failure(let refusal): return .failure(refusal)
        }
        let expiring = stored.expiresAt.map { $0 - account.now() < Self.refreshMargin } ?? false
        if stored.accessToken != rejected, !expiring { return .success(stored.accessToken) }
        guard stored.refreshToken != nil else {
            if stored.accessToken == rejected {
                return mark(account, broken: "the server refused its token and no refresh token is stored", unless: stored)
            }
            return .success(stored.accessToken)  // still valid for less than a minute, and nothing to refresh it with
        }
        return await refreshed(account, from: stored)
    }

    /// One refresh of the account at a time: a caller that finds one running waits for its outcome.
    private func refreshed(_ account: Account, from stored: StoredConnection) async -> Result<String, AccountRefusal> {
        let key = account.user + "\n" + account.server
        let task = refreshes.withLock { running in
            if let task = running[key] { return task }
            let task = Task { await self.refresh(account, from: stored) }
            running[key] = task
            return task
        }
        let outcome = await task.value
        refreshes.withLock { running in if running[key] == task { running[key] = nil } }
        return outcome
    }

    private func refresh(_ account: Account, from stored: StoredConnection) async -> Result<String, AccountRefusal> {
        guard let refreshToken = stored.refreshToken else { return .failure(account.refusal("has expired")) }
        // Renewed since the caller read it (by a refresh that just ended, or another replica).
        if case .connection(let current) = account.store.read(user: account.user, server: account.server), current.broken == nil,
            current.accessToken != stored.accessToken
        {
            return .success(current.accessToken)
        }
        do {
            let target = try await account.target()
            let issued = try await TokenEndpoint(url: target.authorizationServer.tokenEndpoint, client: account.oauth.client, post: account.post)
                .refresh(refreshToken, resource: account.oauth.sendResource ? target.resource : nil)
            let now = account.now()
            var renewed = stored
            renewed.accessToken = issued.accessToken
            renewed.refreshToken = issued.refreshToken ?? refreshToken
            renewed.expiresAt = issued.expiresIn.map { now + $0 }
            renewed.scope = issued.scope ?? stored.scope
            renewed.refreshedAt = now
            do {
                try account.store.write(renewed, user: account.user, server: account.server)
            } catch {
                account.log("the refreshed tokens of \(account.user) at \(account.server) could not be saved: \(error)")
            }
            return .success(issued.accessToken)
        } catch {
            let why = "its refresh failed: \(error)"
            account.log("refreshing \(account.user)'s account at \(account.server) failed: \(error)")
            return mark(account, broken: why, unless: stored)
        }
    }

    /// Marks the account broken, unless its file holds other tokens than `stored` by now (another
    /// replica refreshed it): then those are used, and nothing is written.
    private func mark(_ account: Account, broken why: String, unless stored: StoredConnection) -> Result<String, AccountRefusal> {
        if case .connection(let current) = account.store.read(user: account.user, server: account.server),
            current.accessToken != stored.accessToken || current.refreshToken != stored.refreshToken
        {
            return current.broken.map { .failure(account.refusal("is broken (\($0))")) } ?? .success(current.accessToken)
        }
        var marked = stored
        marked.broken = why
        try? account.store.write(marked, user: account.user, server: account.server)
        return .failure(account.refusal("is broken (\(why))"))
    }
}

extension Gateway {
    /// `user`'s account at the `oauth` server `id`, as calls use it; nil when the server has no
    /// `oauth` block or connected accounts are off.
    func account(_ policy: Policy, _ id: ServerID, user: String) -> ConnectedAccounts.Account? {
        let spec = policy.server(id).spec
        guard let oauth = spec.oauth, case .remote(let url, _, _) = spec.transport, let store = connectionStore(policy) else { return nil }
        let (targets, transport, clock, logger) = (connectionTargets, oauthTransport, clock, logger)
        return ConnectedAccounts.Account(
            user: user, server: policy.serverPath(id), store: store, oauth: oauth, url: url,
            connectURL: publicURL(for: policy) + "/ui/connections",
            now: { Int64(clock.now().timeIntervalSince1970) },
            target: { try await targets.value(for: ConnectionTargetKey(url: url, oauth: oauth)) },
            post: { try await transport.post($0, $1, $2) },
            log: { logger.warning("\($0)") })
    }
}

extension Gateway {
    /// `user`'s account at `id` as the server's upstream uses it; nil for a server without `oauth`.
    func upstreamAccount(_ policy: Policy, _ id: ServerID, user: String) -> UpstreamAccount? {
        guard let account = account(policy, id, user: user) else { return nil }
        let accounts = self.accounts
        return UpstreamAccount(credential: UpstreamCredential { await accounts.token(account, rejected: $0) }, usable: { accounts.usable(account) })
    }

    /// Why `user`'s request of `method` to the `oauth` server `id` is refused before it is
    /// forwarded: their account does not work (as its file says), and it is not a request the
    /// gateway answers in the server's place; nil otherwise.
    func accountRefusal(_ policy: Policy, _ id: ServerID, user: String, method: String) -> AccountRefusal? {
        guard policy.usesConnectedAccounts(id), !AccountUpstream.answered.contains(method), let account = account(policy, id, user: user),
            case .failure(let refusal) = accounts.usable(account)
        else { return nil }
        return refusal
    }

    /// After `user` connected their account at `server` (`ORG/SERVER`): each of their sessions
    /// there is told the URL elicitation is complete, and that its lists may have changed.
    func accountConnected(user: String, server: String) {
        for session in sessions.all where session.user == user && session.serverPath == server && !session.isEnded {
            session.notify(AccountRefusal.completion(user: user, server: server))
            for list in ["tools", "prompts", "resources"] {
                session.notify(["jsonrpc": "2.0", "method": .string("notifications/\(list)/list_changed")])
            }
        }
    }
}
