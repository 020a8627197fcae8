import Hummingbird
import NIOCore
import OrchJSON
import OrchPolicy
import Synchronization

/// An aggregated endpoint's servers for one 2026-07-28 request: each member is the key's held leg to
/// that server (the same leg its per-server requests use), and the exposed names are the key's on
/// that endpoint, kept between requests (`HeldAggregates`) since this era has no session to keep
/// them in.
struct HeldLegMembers: AggregateMembers {
    let endpointView: HeldAggregates.View
    let caller: Caller
    let gateway: Gateway
    /// What the client declared a server may ask it (`ModernExchange.asks`): its legs are of that kind.
    var asks = ""

    var view: AggregateView { endpointView.scope.view }
    var sessionID: String? { nil }
    var names: AggregateNames { endpointView.names }

    func scoped(_ caller: Caller) -> [AggregateScope.Server] { endpointView.scope.servers(caller, gateway: gateway) }

    func member(_ server: ResolvedServer, _ request: Request, _ context: GatewayContext, timeout: TimeAmount) async throws -> MCPSession {
        try await leg(server, request, context).session
    }

    func leg(_ server: ResolvedServer, _ request: Request, _ context: GatewayContext) async throws -> HeldLeg {
        try await AggregateEndpoint(gateway: gateway).heldLeg(request, context, caller, server, asks: asks)
    }

    func ask(_ member: MCPSession, method: String, params: JSONObject, timeout: TimeAmount, transform: (@Sendable (JSONValue) -> JSONValue)?) async -> JSONValue {
        await ask(member, id: endpointView.nextID(), method: method, params: params, timeout: timeout, transform: transform)
    }

    /// A listen stream, if the client has one, is where such things would go; the gateway's own
    /// messages are logged and audited instead.
    func log(_ level: AggregateSession.Level, _ text: String) {}
}

/// What the gateway keeps of each key's use of an aggregated endpoint in 2026-07-28 (the exposed
/// names its lists made, so a later call by such a name is routed without listing again), at most
/// `limit` views (the oldest used goes first), and none of a key a reload took away.
final class HeldAggregates: Sendable {
    final class View: Sendable {
        let scope: AggregateScope
        let names = AggregateNames()
        private let requests = Atomic<Int>(0)
        private let listens = Mutex<[ObjectIdentifier: AggregateListen]>([:])

        init(scope: AggregateScope) { self.scope = scope }

        /// The key's listen streams on the endpoint, which a reload may end.
        func listening(_ listen: AggregateListen) { listens.withLock { $0[ObjectIdentifier(listen)] = listen } }
        func stoppedListening(_ listen: AggregateListen) { _ = listens.withLock { $0.removeValue(forKey: ObjectIdentifier(listen)) } }
        var isListening: Bool { listens.withLock { !$0.isEmpty } }
        var streams: [AggregateListen] { listens.withLock { Array($0.values) } }

        /// A fresh id for the gateway's own requests on the legs (`orch-a…`, apart from the legs' own).
        func nextID() -> JSONValue { .string("orch-a\(requests.wrappingAdd(1, ordering: .relaxed).newValue)") }
    }

    struct Key: Hashable, Sendable {
        let credential: Credential
        let view: AggregateView
    }

    private struct State {
        var views: [Key: (view: View, used: UInt64)] = [:]
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    let limit: Int

    init(limit: Int = 4096) { self.limit = limit }

    func view(_ credential: Credential, _ endpoint: AggregateView) -> View {
        state.withLock { state in
            state.clock += 1
            let key = Key(credential: credential, view: endpoint)
            if let kept = state.views[key] {
                state.views[key] = (kept.view, state.clock)
                return kept.view
            }
            if state.views.count >= limit,
                let oldest = state.views.filter({ !$0.value.view.isListening }).min(by: { $0.value.used < $1.value.used })?.key
            {
                state.views[oldest] = nil
            }
            let view = View(scope: AggregateScope(endpoint))
            state.views[key] = (view, state.clock)
            return view
        }
    }

    var count: Int { state.withLock { $0.views.count } }

    /// The views of `credential`, on every endpoint.
    func views(of credential: Credential) -> [View] {
        state.withLock { $0.views.filter { $0.key.credential == credential }.map(\.value.view) }
    }

    /// After a reload: the views of credentials that no longer name a user go; every other view's
    /// scope is worked out again on its next use (it is kept per policy).
    func apply(_ change: PolicyChange) {
        let views = state.withLock { state in
            defer { state.views = state.views.filter { key, _ in key.credential.resolve(in: change.new) != nil } }
            return state.views.values.map(\.view)
        }
        for view in views { for listen in view.streams { listen.apply(change) } }
    }
}
