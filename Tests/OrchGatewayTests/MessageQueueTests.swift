import NIOCore
import Synchronization
import Testing

@testable import OrchGateway

@Test func aQueueDeliversInOrderThenEnds() async {
    let queue = MessageQueue()
    #expect(queue.push([1]) == .accepted)
    #expect(queue.push([2]) == .accepted)
    queue.finish()
    #expect(queue.push([3]) == .closed)
    #expect(await queue.next() == .message([1]))
    #expect(await queue.next() == .message([2]))
    #expect(await queue.next() == .end)
}

@Test func aFullQueueAsksForPauseAndReportsTheDrainOnce() async {
    let drains = Mutex(0)
    let queue = MessageQueue(limits: .init(highWater: 100, hardCap: 250)) { drains.withLock { $0 += 1 } }
    let chunk = [UInt8](repeating: 0, count: 60)
    #expect(queue.push(chunk) == .accepted)
    #expect(queue.push(chunk) == .full)
    #expect(queue.push(chunk) == .accepted)
    #expect(queue.push(chunk) == .accepted)
    #expect(queue.push(chunk) == .overflow)  // 300 bytes would pass the hard cap
    _ = await queue.next()
    _ = await queue.next()
    _ = await queue.next()
    #expect(drains.withLock { $0 } == 0)  // 60 bytes left: above half the high-water mark
    _ = await queue.next()
    #expect(drains.withLock { $0 } == 1)
    #expect(queue.push(chunk) == .accepted)
    _ = await queue.next()
    #expect(drains.withLock { $0 } == 1)
}

@Test func aHangUpDropsWhatIsQueuedAndReleasesThePause() async {
    let drains = Mutex(0)
    let queue = MessageQueue(limits: .init(highWater: 10, hardCap: 1000)) { drains.withLock { $0 += 1 } }
    #expect(queue.push([UInt8](repeating: 0, count: 20)) == .full)
    queue.hangUp()
    #expect(drains.withLock { $0 } == 1)
    #expect(await queue.next() == .end)
    #expect(queue.push([1]) == .closed)
}

@Test func aWaitingConsumerIsWokenByAMessageAKeepAliveOrCancellation() async {
    let queue = MessageQueue()
    async let first = queue.next()
    try? await Task.sleep(for: .milliseconds(20))
    #expect(queue.push([9]) == .accepted)
    #expect(await first == .message([9]))

    async let second = queue.next()
    try? await Task.sleep(for: .milliseconds(20))
    queue.keepAlive()
    #expect(await second == .keepAlive)

    let consumer = Task { await queue.next() }
    try? await Task.sleep(for: .milliseconds(20))
    consumer.cancel()
    #expect(await consumer.value == .end)
    #expect(queue.isEnded)
}

@Test func sseFramingGivesEveryLineOfAPayloadItsOwnDataField() {
    let pretty = Array("{\n  \"a\": 1,\r\n  \"b\": \"x\"\r}".utf8)
    let event = String(buffer: SSEEncoder.event(pretty))
    #expect(event == "event: message\ndata: {\ndata:   \"a\": 1,\ndata:   \"b\": \"x\"\ndata: }\n\n")
    // An upstream cannot end the event early or add fields of its own.
    let injection = Array("{}\n\nevent: endpoint\ndata: https://evil.example".utf8)
    let framed = String(buffer: SSEEncoder.event(injection))
    #expect(framed.split(separator: "\n", omittingEmptySubsequences: false).dropLast(2).allSatisfy { $0.hasPrefix("data: ") || $0.hasPrefix("event: message") })
    #expect(String(buffer: SSEEncoder.event(Array(#"{"x":1}"#.utf8))) == "event: message\ndata: {\"x\":1}\n\n")
}

@Test func aReplyPushedJustBeforeTheEndIsNeverLost() async {
    // A session answers with push then finish, back to back, from another thread, while the
    // consumer may be between its first look and its wait: the reply must come out either way.
    var lost = 0
    for _ in 0..<20_000 {
        let queue = MessageQueue()
        async let consumed: [MessageQueue.Event] = {
            var events: [MessageQueue.Event] = []
            while true {
                let event = await queue.next()
                events.append(event)
                if event == .end { return events }
            }
        }()
        let producer = Task.detached {
            _ = queue.push([7])
            queue.finish()
        }
        await producer.value
        if await consumed != [.message([7]), .end] { lost += 1 }
    }
    #expect(lost == 0)
}

@Test func aReplyQueueHandsOverOneEventAndNothingAfterIt() {
    let events = Mutex<[MessageQueue.Event]>([])
    let replied = MessageQueue(reply: { event in events.withLock { $0.append(event) } })
    #expect(replied.push([1]) == .accepted)
    replied.finish()
    #expect(replied.push([2]) == .closed)
    #expect(events.withLock { $0 } == [.message([1])])

    events.withLock { $0 = [] }
    let unanswered = MessageQueue(reply: { event in events.withLock { $0.append(event) } })
    unanswered.finish()
    unanswered.finish()
    #expect(unanswered.push([3]) == .closed)
    #expect(events.withLock { $0 } == [.end])
}

@Test func aRelayHandsOnEveryEventAsItHappensAndNothingAfterTheEnd() {
    let events = Mutex<[MessageQueue.Event]>([])
    let answer = Mutex(MessageQueue.PushResult.accepted)
    let relay = MessageQueue(relay: { event in
        events.withLock { $0.append(event) }
        return answer.withLock { $0 }
    })
    #expect(relay.push([1]) == .accepted)
    // A keep-alive is an event like any other, and the relay goes on after it.
    relay.keepAlive()
    #expect(relay.push([2]) == .accepted)
    // The relay's answer is the push's, but full: this queue never drains to say go on.
    answer.withLock { $0 = .full }
    #expect(relay.push([3]) == .accepted)
    answer.withLock { $0 = .overflow }
    #expect(relay.push([4]) == .overflow)
    relay.hangUp()
    relay.finish()
    relay.keepAlive()
    #expect(relay.push([5]) == .closed)
    #expect(events.withLock { $0 } == [.message([1]), .keepAlive, .message([2]), .message([3]), .message([4]), .end])
    #expect(relay.isEnded)
}
