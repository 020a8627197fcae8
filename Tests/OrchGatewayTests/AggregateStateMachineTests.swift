import NIOCore
import OrchJSON
import OrchPolicy
import Testing

@testable import OrchGateway

/// The aggregated session's transitions alone: members of the test's own, times given by hand.
@Suite struct AggregateStateMachineTests {
    final class Member: AggregateMember {
        let name: String
        var isEnded = false
        init(_ name: String) { self.name = name }
    }

    typealias Machine = AggregateStateMachine<Member, String>

    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func aMemberStartsOnceAndLeavesWithTheRequestsItsServerPut() throws {
        var m = Machine(now: Self.t0)
        guard case .absent = try m.membership("acme/notes") else { Issue.record("not absent"); return }
        m.starting("acme/notes", "start-1")
        // A second request waits for the same start.
        guard case .starting("start-1") = try m.membership("acme/notes") else { Issue.record("not starting"); return }
        let notes = Member("notes")
        let v1 = m.join("acme/notes", notes)
        #expect(v1)
        m.finishedStarting("acme/notes")
        guard case .started(let started) = try m.membership("acme/notes") else { Issue.record("not started"); return }
        #expect(started === notes)
        // The server asks the client something; the client sees an id of the session's own.
        let exposed = m.expose(7, of: notes)
        #expect(exposed == "orch-s1")
        let v2 = m.requestID()
        #expect(v2 == "orch-2")
        // The member ends: it leaves, and its server's question can no longer be answered.
        let v3 = m.leave("acme/notes", notes)
        #expect(v3)
        let v4 = m.answer(exposed)
        #expect(v4 == nil)
        #expect(m.started("acme/notes") == nil)
        // A member another start replaced does not take the new one with it.
        let again = Member("notes again")
        let v5 = m.join("acme/notes", again)
        #expect(v5)
        let v6 = m.leave("acme/notes", notes)
        #expect(!v6)
        #expect(m.started("acme/notes") === again)
    }

    @Test func aClientsAnswerGoesBackOnceToTheMemberThatAsked() {
        var m = Machine(now: Self.t0)
        let notes = Member("notes"), clock = Member("clock")
        _ = m.join("acme/notes", notes)
        _ = m.join("acme/clock", clock)
        let a = m.expose("x", of: notes), b = m.expose("x", of: clock)
        #expect(a != b)
        let v7 = m.answer(b)
        #expect(v7.map { ($0.member === clock, $0.id) } ?? (false, .null) == (true, "x"))
        let v8 = m.answer(b)
        #expect(v8 == nil)
        let v9 = m.answer(a)
        #expect(v9?.member === notes)
    }

    @Test func anEndedMemberIsNotStartedAndCancellationFindsTheRequestsMember() throws {
        var m = Machine(now: Self.t0)
        let notes = Member("notes")
        _ = m.join("acme/notes", notes)
        m.forwarded(3, to: notes)
        #expect(m.member(with: 3) === notes)
        m.answered(3)
        #expect(m.member(with: 3) == nil)
        notes.isEnded = true
        #expect(m.started("acme/notes") == nil)
        guard case .absent = try m.membership("acme/notes") else { Issue.record("an ended member counted"); return }
    }

    @Test func messagesWaitBoundedlyForAStreamAndANewerStreamReplacesAnOlder() throws {
        var m = Machine(now: Self.t0, backlogLimit: 2)
        for n in 1...3 {
            let kept = m.deliver([UInt8(n)])
            #expect(kept == nil)
        }
        #expect(m.backlog == [[2], [3]])
        let first = MessageQueue()
        let v10 = m.attach(first)
        let attached = try #require(v10)
        #expect(attached.backlog == [[2], [3]] && attached.replaced == nil)
        #expect(m.backlog.isEmpty)
        let v11 = m.deliver([4])
        #expect(v11 === first)
        let second = MessageQueue()
        let v12 = m.attach(second)
        let replacing = try #require(v12)
        #expect(replacing.replaced === first && replacing.generation == attached.generation + 1)
        // The older stream closing does not detach the newer one.
        m.detach(attached.generation, now: Self.t0)
        let v13 = m.deliver([5])
        #expect(v13 === second)
        m.detach(replacing.generation, now: Self.t0)
        let v14 = m.deliver([6])
        #expect(v14 == nil && m.backlog == [[6]])
    }

    @Test func theSessionIsIdleOnlyWithoutAStreamPastTheLimit() throws {
        var m = Machine(now: Self.t0)
        let limit = TimeAmount.seconds(600)
        #expect(!m.isIdle(now: Self.t0 + .seconds(600), limit: limit))
        #expect(m.isIdle(now: Self.t0 + .seconds(601), limit: limit))
        let v15 = m.attach(MessageQueue())
        let stream = try #require(v15)
        #expect(!m.isIdle(now: Self.t0 + .seconds(6000), limit: limit))
        // Idleness counts from when the stream closed.
        m.detach(stream.generation, now: Self.t0 + .seconds(6000))
        #expect(!m.isIdle(now: Self.t0 + .seconds(6600), limit: limit))
        #expect(m.isIdle(now: Self.t0 + .seconds(6601), limit: limit))
        m.touch(Self.t0 + .seconds(7000))
        #expect(!m.isIdle(now: Self.t0 + .seconds(7500), limit: limit))
    }

    @Test func aListChangeIsToldOnceUntilTheClientListsAgain() {
        var m = Machine(now: Self.t0)
        let v16 = m.listChanged(.tool)
        #expect(v16)
        // Every other server, and a reload, saying so too: told once.
        let v17 = m.listChanged(.tool)
        #expect(!v17)
        let v18 = m.listChanged(.tool)
        #expect(!v18)
        let v19 = m.listChanged(.prompt)
        #expect(v19)
        m.listed(.tool)
        let v20 = m.listChanged(.tool)
        #expect(v20)
        let v21 = m.listChanged(.prompt)
        #expect(!v21)
        #expect(m.changedUnlisted == [.tool, .prompt])
    }

    @Test func endingStopsEverythingOnceAndNothingStartsAfter() throws {
        var m = Machine(now: Self.t0)
        let notes = Member("notes")
        _ = m.join("acme/notes", notes)
        m.starting("acme/clock", "start-clock")
        _ = m.attach(MessageQueue())
        let exposed = m.expose(1, of: notes)
        let v22 = m.end()
        let ending = try #require(v22)
        #expect(ending.members.map(\.name) == ["notes"] && ending.stream != nil)
        let v23 = m.end()
        #expect(v23 == nil)
        #expect(throws: Machine.Ended.self) { try m.membership("acme/notes") }
        // A start that finishes after the end does not join; nothing more reaches the client.
        let v24 = m.join("acme/clock", Member("clock"))
        #expect(!v24)
        let v25 = m.leave("acme/notes", notes)
        #expect(!v25)
        let v26 = m.answer(exposed)
        #expect(v26 == nil)
        let v27 = m.deliver([1])
        #expect(v27 == nil && m.backlog.isEmpty)
        let v28 = m.attach(MessageQueue())
        #expect(v28 == nil)
        let v29 = m.listChanged(.tool)
        #expect(!v29)
        // The members stay listed, to wait until they have stopped.
        #expect(m.members.count == 1)
    }
}
