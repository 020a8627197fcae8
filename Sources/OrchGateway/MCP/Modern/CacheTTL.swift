/// How long a client may keep a 2026-07-28 result before asking again (`ttlMs`), never negative.
///
/// Every result the gateway gives is decided for its caller, so its `cacheScope` is always
/// `private`: a cache shared between callers could hand one caller's view to another.
struct CacheTTL: Sendable, Equatable, Comparable {
    let milliseconds: Int64

    static let scope = "private"

    init(milliseconds: Int64) { self.milliseconds = max(0, milliseconds) }

    /// `duration` in whole milliseconds, rounded down.
    init(_ duration: Duration) {
        let milliseconds = (duration / .milliseconds(1)).rounded(.down)
        self.init(milliseconds: milliseconds >= 9.0e18 ? .max : Int64(max(0, milliseconds)))
    }

    static func < (lhs: CacheTTL, rhs: CacheTTL) -> Bool { lhs.milliseconds < rhs.milliseconds }
}
