/// The fuzzer's input read as a stream of decisions (as LLVM's FuzzedDataProvider does), so that
/// a mutated byte changes one choice of a generated structure rather than all of it. Once the
/// bytes run out every choice is the first option (0, false, the first item).
public struct Choices {
    public let bytes: [UInt8]
    public private(set) var position = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isExhausted: Bool { position >= bytes.count }

    public mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    public mutating func uint64() -> UInt64 {
        (0..<8).reduce(0) { value, _ in value << 8 | UInt64(byte()) }
    }

    /// A number in `range`, from one byte (two when the range is wider than 256).
    public mutating func int(_ range: ClosedRange<Int>) -> Int {
        let width = UInt(range.upperBound - range.lowerBound) + 1
        let raw = width > 256 ? UInt(byte()) << 8 | UInt(byte()) : UInt(byte())
        return range.lowerBound + Int(raw % width)
    }

    /// True with about `percent` per cent chance for random bytes; false once the bytes run out.
    public mutating func chance(_ percent: Int) -> Bool {
        Int(byte()) * 100 < percent * 256
    }

    public mutating func pick<T>(_ items: [T]) -> T {
        items[int(0...(items.count - 1))]
    }

    /// Up to `max` raw bytes, length first.
    public mutating func data(max: Int) -> [UInt8] {
        let count = int(0...max)
        return (0..<count).map { _ in byte() }
    }
}

/// Splits `input` into consecutive chunks of 1…`max` bytes, their lengths drawn from a small
/// generator seeded with `seed`; seed 0 gives the whole input as one chunk.
public func chunks(of input: [UInt8], seed: UInt64, max: Int = 64) -> [ArraySlice<UInt8>] {
    guard seed != 0 else { return input.isEmpty ? [] : [input[...]] }
    var state = seed
    var out: [ArraySlice<UInt8>] = []
    var start = 0
    while start < input.count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let end = Swift.min(input.count, start + 1 + Int((state >> 33) % UInt64(max)))
        out.append(input[start..<end])
        start = end
    }
    return out
}

extension Array where Element == UInt8 {
    /// The bytes as text for a failure message: printable ASCII as is, everything else escaped.
    public var escaped: String {
        var out = "\""
        for b in self {
            switch b {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20..<0x7F: out.append(Character(Unicode.Scalar(b)))
            default: out += "\\x" + String(b, radix: 16).leftPadded(2)
            }
        }
        return out + "\""
    }
}

extension ArraySlice where Element == UInt8 {
    public var escaped: String { Array(self).escaped }
}

extension String {
    public var escaped: String { Array(utf8).escaped }

    fileprivate func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: Swift.max(0, width - count)) + self
    }
}
