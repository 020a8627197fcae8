import NIOCore
import OrchJSON
import Testing

@testable import OrchGateway

/// The session's rules, with time passed in: nothing here sleeps.
private let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
private func at(_ seconds: Int64) -> NIODeadline { t0 + .seconds(seconds) }
private let bytes: [UInt8] = Array(#"{"jsonrpc":"2.0","method":"notifications/message"}"#.utf8)

private func openMachine(_ limits: SessionStateMachine.Limits = .init()) -> SessionStateMachine {
    var machine = SessionStateMachine(now: t0, limits: limits)
    machine.opened()
    return machine
}

@Test func aReplyGoesToTheRequestThatWaitsForItAndOnlyOnce() {
    var machine = openMachine()
    let queue = MessageQueue()
    guard case .forward(let deadline) = machine.request(id: 7, method: "tools/call", target: .response(queue, interim: false), hooks: .none,
                                                        timeout: .seconds(10), progressToken: nil, now: t0) else { Issue.record("not forwarded"); return }
    #expect(deadline == at(10))
    guard case .reply(let request, let target, let finish) = machine.received(.response(key: "7"), message: bytes, now: at(1)) else {
        Issue.record("reply not routed"); return
    }
    #expect(request.method == "tools/call")
    #expect(target === queue && finish)
    // A second reply with the same id has no one waiting.
    guard case .none = machine.received(.response(key: "7"), message: bytes, now: at(2)) else { Issue.record("routed twice"); return }
    #expect(machine.pendingCount == 0)
}

@Test func aDuplicateIDIsRefusedWhileTheFirstIsPending() {
    var machine = openMachine()
    _ = machine.request(id: 1, method: "a", target: .response(MessageQueue(), interim: false), hooks: .none, timeout: .seconds(5), progressToken: nil, now: t0)
    guard case .reject(let message) = machine.request(id: 1, method: "b", target: .response(MessageQueue(), interim: false), hooks: .none,
                                                      timeout: .seconds(5), progressToken: nil, now: t0) else { Issue.record("accepted"); return }
    #expect(message.contains("already in progress"))
    // The same number as a string is another id.
    guard case .forward = machine.request(id: "1", method: "c", target: .response(MessageQueue(), interim: false), hooks: .none,
                                          timeout: .seconds(5), progressToken: nil, now: t0) else { Issue.record("refused"); return }
}

@Test func theDeadlineWinsOverALateReply() {
    var machine = openMachine()
    let queue = MessageQueue()
    _ = machine.request(id: 1, method: "tools/call", target: .response(queue, interim: false), hooks: .none, timeout: .seconds(2), progressToken: nil, now: t0)
    #expect(machine.expire(now: at(1)).isEmpty)
    let expired = machine.expire(now: at(2))
    #expect(expired.count == 1 && expired.first?.queue === queue && expired.first?.finish == true)
    guard case .none = machine.received(.response(key: "1"), message: bytes, now: at(3)) else { Issue.record("late reply delivered"); return }
}

@Test func progressMovesTheDeadlineUpToTheCap() {
    var machine = openMachine(.init(progressCap: 3))
    let queue = MessageQueue()
    _ = machine.request(id: 1, method: "tools/call", target: .response(queue, interim: true), hooks: .none, timeout: .seconds(10), progressToken: "\"p\"", now: t0)
    // Progress for the call is delivered on the call's own stream and moves its deadline.
    guard case .deliver(let target) = machine.received(.progress(token: "\"p\""), message: bytes, now: at(8)) else { Issue.record("progress not delivered"); return }
    #expect(target === queue)
    #expect(machine.expire(now: at(12)).isEmpty)
    _ = machine.received(.progress(token: "\"p\""), message: bytes, now: at(17))
    _ = machine.received(.progress(token: "\"p\""), message: bytes, now: at(25))
    // 10 s after the last progress would be 35 s, but the cap is 3 × 10 s after the start.
    #expect(machine.expire(now: at(29)).isEmpty)
    #expect(machine.expire(now: at(30)).count == 1)
}

@Test func progressForAnotherTokenDoesNotExtend() {
    var machine = openMachine()
    _ = machine.request(id: 1, method: "tools/call", target: .response(MessageQueue(), interim: false), hooks: .none, timeout: .seconds(10), progressToken: "1", now: t0)
    _ = machine.received(.progress(token: "2"), message: bytes, now: at(9))
    #expect(machine.expire(now: at(10)).count == 1)
}

@Test func serverMessagesPreferTheSessionStreamThenAnOpenCallStreamThenTheBacklog() {
    var machine = openMachine()
    guard case .none = machine.received(.other, message: bytes, now: t0) else { Issue.record("not backlogged"); return }
    let call = MessageQueue()
    _ = machine.request(id: 1, method: "tools/call", target: .response(call, interim: true), hooks: .none, timeout: .seconds(10), progressToken: nil, now: t0)
    guard case .deliver(let first) = machine.received(.other, message: bytes, now: t0), first === call else { Issue.record("not on the call stream"); return }
    let stream = MessageQueue()
    let attached = machine.attach(stream, now: t0)
    #expect(attached?.backlog.count == 1 && attached?.replaced == nil)
    guard case .deliver(let second) = machine.received(.other, message: bytes, now: t0), second === stream else { Issue.record("not on the session stream"); return }
}

@Test func aJSONReplyNeverCarriesServerMessages() {
    var machine = openMachine()
    _ = machine.request(id: 1, method: "tools/call", target: .response(MessageQueue(), interim: false), hooks: .none, timeout: .seconds(10), progressToken: nil, now: t0)
    guard case .none = machine.received(.other, message: bytes, now: t0) else { Issue.record("delivered to a JSON reply"); return }
}

@Test func aNewStreamReplacesTheOldAndAStaleCloseKeepsTheNewOne() {
    var machine = openMachine()
    let old = MessageQueue(), new = MessageQueue()
    let first = machine.attach(old, now: t0)
    let second = machine.attach(new, now: t0)
    #expect(second?.replaced === old)
    machine.detach(generation: first!.generation, now: t0)
    #expect(machine.hasStream)
    machine.detach(generation: second!.generation, now: t0)
    #expect(!machine.hasStream)
}

@Test func theBacklogIsBoundedAndOverflowEndsTheSession() {
    var machine = openMachine(.init(backlogBytes: bytes.count * 3))
    for _ in 0..<3 { guard case .none = machine.received(.other, message: bytes, now: t0) else { Issue.record("refused early"); return } }
    guard case .end(let error) = machine.received(.other, message: bytes, now: t0) else { Issue.record("overflow kept"); return }
    #expect(error.kind == .flooded)
}

@Test func aClientCancellationEndsThePendingRequest() {
    var machine = openMachine()
    let queue = MessageQueue()
    _ = machine.request(id: 4, method: "tools/call", target: .response(queue, interim: true), hooks: .none, timeout: .seconds(10), progressToken: nil, now: t0)
    let cancelled = machine.cancelled(key: "4", now: at(1))
    #expect(cancelled?.queue === queue && cancelled?.finish == true)
    #expect(machine.pendingCount == 0)
    #expect(machine.cancelled(key: "4", now: at(1)) == nil)
}

@Test func endingHandsBackEverythingOnceAndRefusesNewWork() {
    var machine = openMachine()
    let stream = MessageQueue()
    _ = machine.attach(stream, now: t0)
    _ = machine.request(id: 1, method: "a", target: .response(MessageQueue(), interim: false), hooks: .none, timeout: .seconds(5), progressToken: nil, now: t0)
    let ended = machine.end()
    #expect(ended?.pending.count == 1 && ended?.stream === stream)
    #expect(machine.end() == nil)
    guard case .reject = machine.request(id: 2, method: "a", target: .response(MessageQueue(), interim: false), hooks: .none,
                                         timeout: .seconds(5), progressToken: nil, now: t0) else { Issue.record("accepted after end"); return }
    #expect(machine.attach(MessageQueue(), now: t0) == nil)
}

@Test func idleMeansOpenWithNothingPendingNoStreamAndNoRecentActivity() {
    var machine = SessionStateMachine(now: t0)
    #expect(!machine.isIdle(now: at(100), limit: .seconds(10)))  // still initializing
    machine.opened()
    #expect(machine.isIdle(now: at(11), limit: .seconds(10)))
    machine.touch(now: at(11))
    #expect(!machine.isIdle(now: at(20), limit: .seconds(10)))
    let generation = machine.attach(MessageQueue(), now: at(20))!.generation
    #expect(!machine.isIdle(now: at(100), limit: .seconds(10)))
    machine.detach(generation: generation, now: at(100))
    #expect(machine.isIdle(now: at(111), limit: .seconds(10)))
}
