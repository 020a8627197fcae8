import Dispatch

/// `transform` of each of `0..<count`, run on as many threads at once, results in order. For the
/// compiler's large, independent parts (halves of a file's users); `count` of 1 runs inline.
func concurrentMap<T: Sendable>(_ count: Int, _ transform: @Sendable (Int) -> T) -> [T] {
    if count == 1 { return [transform(0)] }
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
