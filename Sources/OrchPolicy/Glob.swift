/// A pattern where `*` matches any run of characters (also empty) and everything else matches
/// itself. Matching works on the UTF-8 bytes of the subject and allocates nothing.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let kind: Kind
    private let bytes: [UInt8]

    private enum Kind: Sendable, Hashable {
        case everything
        case exact
        case prefix
        case general
    }

    public init(_ pattern: String) {
        self.pattern = pattern
        let stars = pattern.utf8.reduce(0) { $1 == UInt8(ascii: "*") ? $0 + 1 : $0 }
        if stars == pattern.utf8.count && stars > 0 {
            kind = .everything
            bytes = []
        } else if stars == 0 {
            kind = .exact
            bytes = Array(pattern.utf8)
        } else if stars == 1 && pattern.utf8.last == UInt8(ascii: "*") {
            kind = .prefix
            bytes = Array(pattern.utf8.dropLast())
        } else {
            kind = .general
            bytes = Array(pattern.utf8)
        }
    }

    public var description: String { pattern }

    /// True when the glob matches every string.
    public var matchesEverything: Bool { kind == .everything }

    public func matches(_ subject: String) -> Bool {
        if kind == .everything { return true }
        if let result = subject.utf8.withContiguousStorageIfAvailable({ matches(bytes: $0) }) {
            return result
        }
        return Array(subject.utf8).withUnsafeBufferPointer { matches(bytes: $0) }
    }

    private func matches(bytes subject: UnsafeBufferPointer<UInt8>) -> Bool {
        switch kind {
        case .everything:
            return true
        case .exact:
            return subject.count == bytes.count && subject.elementsEqual(bytes)
        case .prefix:
            return subject.count >= bytes.count && subject.prefix(bytes.count).elementsEqual(bytes)
        case .general:
            return bytes.withUnsafeBufferPointer { Glob.wildcardMatch(pattern: $0, subject: subject) }
        }
    }

    /// Linear-time wildcard matching with single backtrack point (only `*` is special).
    private static func wildcardMatch(pattern: UnsafeBufferPointer<UInt8>, subject: UnsafeBufferPointer<UInt8>) -> Bool {
        let star = UInt8(ascii: "*")
        var p = 0, s = 0
        var starP = -1, starS = 0
        while s < subject.count {
            if p < pattern.count && pattern[p] == star {
                starP = p
                starS = s
                p += 1
            } else if p < pattern.count && pattern[p] == subject[s] {
                p += 1
                s += 1
            } else if starP >= 0 {
                p = starP + 1
                starS += 1
                s = starS
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == star { p += 1 }
        return p == pattern.count
    }
}
