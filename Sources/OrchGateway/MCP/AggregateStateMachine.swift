import NIOCore
import OrchJSON
import OrchPolicy

/// What an aggregated session needs of a member: whether it has ended.
protocol AggregateMember: AnyObject {
    var isEnded: Bool { get }
}

extension MCPSession: AggregateMember {}

/// An aggregated session's state and its transitions, with no I/O: which members run or are
/// starting, which of the servers' requests wait for the client, which of the client's requests
/// are in flight where, the client's stream and its backlog, which list changes the client has
/// been told of, and the end. `AggregateSession` holds one under its lock and does what each
/// transition returns outside it (push to a stream, end members). Time comes in as arguments, so
/// every rule here is tested without sleeping. Generic over its members and their start (an
/// `MCPSession` and its `Task` in the gateway) so tests drive it with values of their own.
struct AggregateStateMachine<Member: AggregateMember, Start> {
    /// Where a server's request stands before the client may see it.
    enum Membership {
        /// Started and not ended.
        case started(Member)
        /// Being started by an earlier request: wait for it.
        case starting(Start)
        /// Neither: the caller starts it and says so with `starting(_:_:)`.
        case absent
    }

    /// The session has ended: no member may start.
    struct Ended: Error {}

    /// A stream the client opened, with what waited for it.
    struct Attachment {
        let generation: Int
        /// The stream it replaces, to finish.
        let replaced: MessageQueue?
        let backlog: [[UInt8]]
    }

    /// What ending leaves to stop.
    struct Ending {
        let members: [Member]
        let stream: MessageQueue?
    }

    /// Messages kept for the client while it has no stream open; past this the oldest go.
    let backlogLimit: Int
    private(set) var members: [String: Member] = [:]
    private var starts: [String: Start] = [:]
    /// Requests of the servers to the client, by the id the client sees.
    private var serverRequests: [String: (member: Member, id: JSONValue)] = [:]
    /// The client's requests in flight, by id key: which member has each (for cancellation).
    private var inFlight: [String: Member] = [:]
    private var counter = 0
    private var stream: MessageQueue? = nil
    private var generation = 0
    private(set) var backlog: [[UInt8]] = []
    private var lastActive: NIODeadline
    private(set) var ended = false
    /// What the session keeps of the client's `initialize`, repeated to each member when it starts.
    var initialize = ClientInitialize.none
    /// Lists whose `list_changed` the client was sent and has not listed since: however many
    /// servers (and reloads) say so meanwhile, it hears it once.
    private(set) var changedUnlisted: Set<ItemKind> = []

    init(now: NIODeadline, backlogLimit: Int = 256) {
        self.lastActive = now
        self.backlogLimit = backlogLimit
    }

    // MARK: members

    /// The member serving `path`, the start to wait for, or neither.
    func membership(_ path: String) throws(Ended) -> Membership {
        if ended { throw Ended() }
        if let member = members[path], !member.isEnded { return .started(member) }
        if let start = starts[path] { return .starting(start) }
        return .absent
    }

    /// A started member for `path`, or nil.
    func started(_ path: String) -> Member? {
        members[path].flatMap { $0.isEnded ? nil : $0 }
    }

    mutating func starting(_ path: String, _ start: Start) { starts[path] = start }

    /// The start for `path` is over, however it ended.
    mutating func finishedStarting(_ path: String) { starts[path] = nil }

    /// `member` started for `path`; false when the session ended meanwhile (the caller ends it).
    mutating func join(_ path: String, _ member: Member) -> Bool {
        guard !ended else { return false }
        members[path] = member
        return true
    }

    /// `member` ended: it leaves, with the requests its server had put to the client. True when it
    /// was the member for `path` of a session still open (the client then hears its lists changed);
    /// an ended session keeps its members, to wait until they have stopped.
    mutating func leave(_ path: String, _ member: Member) -> Bool {
        guard !ended, members[path] === member else { return false }
        members[path] = nil
        serverRequests = serverRequests.filter { $0.value.member !== member }
        return true
    }

    // MARK: ids

    /// An id of the gateway's own for a request it sends a member.
    mutating func requestID() -> JSONValue {
        counter += 1
        return .string("orch-\(counter)")
    }

    /// The id the client sees for `member`'s request `original`, kept for the client's answer.
    mutating func expose(_ original: JSONValue, of member: Member) -> JSONValue {
        counter += 1
        let exposed = JSONValue.string("orch-s\(counter)")
        serverRequests[JSONRPC.key(exposed)] = (member, original)
        return exposed
    }

    /// The member and id the client's answer `id` goes back to, once.
    mutating func answer(_ id: JSONValue) -> (member: Member, id: JSONValue)? {
        serverRequests.removeValue(forKey: JSONRPC.key(id))
    }

    mutating func forwarded(_ id: JSONValue, to member: Member) { inFlight[JSONRPC.key(id)] = member }

    mutating func answered(_ id: JSONValue) { inFlight[JSONRPC.key(id)] = nil }

    /// The member with the client's request `id` in flight.
    func member(with id: JSONValue) -> Member? { inFlight[JSONRPC.key(id)] }

    // MARK: the client's stream

    /// The client opened a stream: it replaces an older one and takes the backlog. Nil once ended.
    mutating func attach(_ queue: MessageQueue) -> Attachment? {
        guard !ended else { return nil }
        let replaced = stream
        stream = queue
        generation += 1
        defer { backlog = [] }
        return Attachment(generation: generation, replaced: replaced, backlog: backlog)
    }

    /// The stream of `generation` closed (a newer one may have replaced it already).
    mutating func detach(_ generation: Int, now: NIODeadline) {
        guard generation == self.generation else { return }
        stream = nil
        lastActive = now
    }

    /// Where a message for the client goes: the open stream to push it to, or nil when it was kept
    /// in the backlog (or the session ended).
    mutating func deliver(_ message: [UInt8]) -> MessageQueue? {
        if ended { return nil }
        if let stream { return stream }
        keep(message)
        return nil
    }

    /// Keeps `message` for the next stream (the one it went to had closed), the oldest going past
    /// the limit.
    mutating func keep(_ message: [UInt8]) {
        backlog.append(message)
        if backlog.count > backlogLimit { backlog.removeFirst(backlog.count - backlogLimit) }
    }

    var openStream: MessageQueue? { stream }

    // MARK: list changes

    /// A list of `kind` changed: true when the client must be told (it has listed since it was
    /// last told, or never was).
    mutating func listChanged(_ kind: ItemKind) -> Bool {
        !ended && changedUnlisted.insert(kind).inserted
    }

    /// The client asked for a list of `kind`: its next change is news again.
    mutating func listed(_ kind: ItemKind) { changedUnlisted.remove(kind) }

    // MARK: activity and the end

    mutating func touch(_ now: NIODeadline) { lastActive = now }

    /// Idle: no stream open and no request for longer than `limit`.
    func isIdle(now: NIODeadline, limit: TimeAmount) -> Bool {
        stream == nil && now - lastActive > limit
    }

    /// Ends the session, once: what it leaves to stop (nil when it had ended already). The members
    /// stay listed, for waiting until they have stopped.
    mutating func end() -> Ending? {
        guard !ended else { return nil }
        ended = true
        defer { (starts, stream, serverRequests, inFlight) = ([:], nil, [:], [:]) }
        return Ending(members: Array(members.values), stream: stream)
    }
}
