/// Writes one flat JSON object (string, integer, number and null members) straight into bytes,
/// for records written on every request (the audit log), where building a `JSONValue` and
/// serialising it through Jansson costs more than the request itself. Keys are written as given
/// and must not need escaping; string values are escaped as RFC 8259 requires.
public struct JSONLineWriter {
    public private(set) var bytes: [UInt8] = []
    private var first = true

    public init(capacity: Int = 512) {
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ name: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    /// A string member. With `limit`, a value of more UTF-8 bytes than that is cut at a character
    /// boundary and marked `…[+N bytes]`, so a client cannot make a record as large as it likes.
    public mutating func string(_ name: StaticString, _ value: String?, limit: Int = .max) {
        key(name)
        guard let value else { return bytes.append(contentsOf: "null".utf8) }
        bytes.append(UInt8(ascii: "\""))
        let utf8 = value.utf8
        var end = utf8.count
        if end > limit {
            end = limit
            // Back off to the first byte of a character (never a continuation byte 10xxxxxx).
            while end > 0 && utf8[utf8.index(utf8.startIndex, offsetBy: end)] & 0xC0 == 0x80 { end -= 1 }
        }
        for byte in utf8.prefix(end) {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]])
            default: bytes.append(byte)
            }
        }
        if end < utf8.count { bytes.append(contentsOf: "…[+\(utf8.count - end) bytes]".utf8) }
        bytes.append(UInt8(ascii: "\""))
    }

    public mutating func integer(_ name: StaticString, _ value: Int64) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    /// A non-negative number with at most three decimals (a duration in milliseconds).
    public mutating func milliseconds(_ name: StaticString, _ value: Double) {
        key(name)
        let thousandths = Int64((max(value, 0) * 1000).rounded())
        bytes.append(contentsOf: String(thousandths / 1000).utf8)
        var fraction = thousandths % 1000
        guard fraction > 0 else { return }
        var digits = 3
        while fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        let text = String(fraction)
        bytes.append(UInt8(ascii: "."))
        bytes.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: digits - text.utf8.count))
        bytes.append(contentsOf: text.utf8)
    }

    /// The finished object and a newline.
    public mutating func line() -> [UInt8] {
        bytes.append(contentsOf: [UInt8(ascii: "}"), 0x0A])
        return bytes
    }
}
