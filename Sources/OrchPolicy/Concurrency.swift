import Dispatch

/// `transform` of each of `0..<count`, results in order: on the threads of the machine's cores
/// when `concurrently`, else one after another here. For the compiler's large, independent parts
/// (a large file's orgs and slices of its users).
func concurrentMap<T: Sendable>(_ count: Int, concurrently: Bool = true, _ transform: @Sendable (Int) -> T) -> [T] {
    if !concurrently || count == 1 { return (0..<count).map(transform) }
    return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        // Each iteration writes its own slot, and concurrentPerform returns once all have.
        let slots = Slots(base: buffer.baseAddress!)
        DispatchQueue.concurrentPerform(iterations: count) { i in
            (slots.base + i).initialize(to: transform(i))
        }
        initialized = count
    }
}

private struct Slots<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}

/// A value worked out on another thread while this one goes on; `value` waits for it.
final class Background<T: Sendable>: @unchecked Sendable {  // `result` is written once, before `done` is signalled
    private var result: T? = nil
    private let done = DispatchSemaphore(value: 0)

    init(_ work: @escaping @Sendable () -> T) {
        DispatchQueue.global().async {
            self.result = work()
            self.done.signal()
        }
    }

    var value: T {
        done.wait()
        done.signal()  // for a later read
        return result!
    }
}
