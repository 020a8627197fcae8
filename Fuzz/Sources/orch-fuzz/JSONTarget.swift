import FuzzKit
import OrchJSON

/// `JSONValue.parse` on raw bytes. For every input that parses: compact and pretty text parse back
/// to the same value, compact text is a fixed point, and nesting stays within the limit. For every
/// input that does not: the error's place lies inside the input.
enum JSONTarget {
    static let target = FuzzTarget(
        "json", "JSONValue.parse: parse → .compact → parse is the identity", flags: ["-max_len=8192"], check: check)

    static func check(_ bytes: [UInt8]) {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            require(error.line >= 1 && error.column >= 1 && error.position >= 0 && error.position <= bytes.count,
                    "parse error outside the input (\(bytes.count) bytes): \(error)")
            return
        }
        require(depth(value) <= JSONParseLimits.default.maxDepth, "accepted nesting deeper than the limit: \(depth(value))")
        let compact = value.compact
        roundTrip(compact, value, "compact", input: bytes)
        roundTrip(value.pretty, value, "pretty", input: bytes)
        let again = try? JSONValue.parse(compact)
        require(again?.compact == compact, "compact text is not a fixed point:\n\(compact.escaped)\n\(again?.compact.escaped ?? "-")")
    }

    static func roundTrip(_ text: String, _ value: JSONValue, _ form: String, input: [UInt8]) {
        do {
            let again = try JSONValue.parse(text)
            require(same(again, value), "\(form) text parses to another value\ninput: \(input.escaped)\n\(form): \(text.escaped)\nback: \(again.compact.escaped)")
        } catch {
            fuzzFailure("\(form) text does not parse: \(error)\ninput: \(input.escaped)\n\(form): \(text.escaped)")
        }
    }

    /// Equality that also tells 0.0 from -0.0 (`==` on Double does not).
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.real(let x), .real(let y)): return x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN)
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(same)
        case (.object(let x), .object(let y)):
            return x.keys == y.keys && zip(x.values, y.values).allSatisfy(same)
        default: return a == b
        }
    }

    static func depth(_ value: JSONValue) -> Int {
        switch value {
        case .array(let items): 1 + (items.map(depth).max() ?? 0)
        case .object(let object): 1 + (object.values.map(depth).max() ?? 0)
        default: 0
        }
    }
}
