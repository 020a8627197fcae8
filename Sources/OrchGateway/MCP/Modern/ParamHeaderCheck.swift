import Foundation
import HTTPTypes
import OrchJSON

/// Whether a 2026-07-28 `tools/call`'s `Mcp-Param-*` headers agree with its arguments: for each
/// header the tool's schema declares, header and argument are present together and equal (after
/// decoding a base64 sentinel), or absent together (a null argument is absent). A header the schema
/// does not declare is not read.
enum ParamHeaderCheck {
    /// The first disagreement, in the schema's order, or nil when every declared header agrees.
    static func mismatch(_ declarations: ParamHeaderDeclarations, arguments: JSONObject, headers: HTTPFields) -> HeaderMismatch? {
        for declaration in declarations.declarations {
            let name = HTTPField.Name(declaration.header)
            let values = name.map { headers[values: $0] } ?? []
            let argument = declaration.path.joined(separator: ".")
            func refusal(_ problem: HeaderMismatch.ParameterProblem) -> HeaderMismatch {
                .parameter(header: declaration.header, argument: argument, problem)
            }
            // The last copy is the one compared (a repeated header is refused first anyway).
            let raw = values.last
            if raw != nil, values.count > 1 { return refusal(.duplicated) }
            guard let value = self.value(at: declaration.path, in: arguments) else {
                if raw != nil { return refusal(.argumentAbsent) }
                continue
            }
            guard let rendered = rendering(value) else {
                // No client mirrors an object or array, so a header claiming one cannot match.
                if raw != nil { return refusal(.differs) }
                continue
            }
            guard let raw else { return refusal(.headerMissing) }
            guard let decoded = HeaderValueEncoding.decode(raw) else { return refusal(.malformedEncoding) }
            if !matches(type: declaration.type, value: value, rendered: rendered, decoded: decoded) { return refusal(.differs) }
        }
        return nil
    }

    /// The argument at `path`, or nil when a step is missing, not an object, or the value is null.
    static func value(at path: [String], in arguments: JSONObject) -> JSONValue? {
        var node = JSONValue.object(arguments)
        for key in path {
            guard case .object(let object) = node, let next = object[key] else { return nil }
            node = next
        }
        // Spelled out: `nil` where a JSONValue is expected would be read as JSON null.
        if node.isNull { return nil }
        return node
    }

    /// The text a client mirrors a scalar as (`true`/`false`, numbers as Python's `str` writes
    /// them), or nil for a value no client mirrors.
    static func rendering(_ value: JSONValue) -> String? {
        switch value {
        case .bool(let flag): flag ? "true" : "false"
        case .string(let text): text
        case .integer(let number): String(number)
        case .real(let number): number.description
        case .number(let text): text
        case .null, .array, .object: nil
        }
    }

    /// An integer property with an integral argument compares numerically, exactly, against a
    /// header in plain decimal (`42` matches `42.0`); anything else compares as text.
    private static func matches(type: String, value: JSONValue, rendered: String, decoded: String) -> Bool {
        guard type == "integer", let integral = integralText(value), let header = plainDecimal(decoded) else {
            return decoded == rendered
        }
        return header.fraction.allSatisfy { $0 == "0" } && canonical(header.whole) == canonical(integral)
    }

    /// The decimal digits of an integral number argument (sign included), or nil.
    private static func integralText(_ value: JSONValue) -> String? {
        switch value {
        case .integer(let number): return String(number)
        case .real(let number) where number.isFinite && number.rounded() == number:
            return String(format: "%.0f", number)
        case .number(let text) where text.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }):
            return text
        default: return nil
        }
    }

    /// `-?[0-9]+(\.[0-9]+)?` split at the point, or nil for any other text (an exponent never
    /// compares numerically).
    private static func plainDecimal(_ text: String) -> (whole: Substring, fraction: Substring)? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let whole = parts[0].hasPrefix("-") ? parts[0].dropFirst() : parts[0]
        func digits(_ part: Substring) -> Bool { !part.isEmpty && part.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } }
        guard digits(whole), parts.count == 1 || digits(parts[1]) else { return nil }
        return (parts[0], parts.count == 2 ? parts[1] : "")
    }

    /// An integer's digits without leading zeros, with its sign unless it is zero.
    private static func canonical(_ text: some StringProtocol) -> String {
        let negative = text.hasPrefix("-")
        let digits = (negative ? text.dropFirst() : text[...]).drop { $0 == "0" }
        if digits.isEmpty { return "0" }
        return (negative ? "-" : "") + digits
    }
}
