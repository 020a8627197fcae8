// Every call into Jansson lives in this file.
internal import CJansson

extension JSONValue {
    /// Parses one JSON document strictly: duplicate object keys, invalid UTF-8, trailing content,
    /// numbers out of range and nesting past `limits.maxDepth` are errors with a line and column.
    public static func parse(_ bytes: [UInt8], limits: JSONParseLimits = .default) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBytes { buffer in
            parse(buffer: buffer, limits: limits)
        }
        return try result.get()
    }

    /// Parses one JSON document from text; see `parse(_:limits:)` for bytes.
    public static func parse(_ text: String, limits: JSONParseLimits = .default) throws(JSONParseError) -> JSONValue {
        var text = text
        let result: Result<JSONValue, JSONParseError> = text.withUTF8 { buffer in
            parse(buffer: UnsafeRawBufferPointer(buffer), limits: limits)
        }
        return try result.get()
    }

    /// Parses one JSON document from raw memory; see `parse(_:limits:)`.
    public static func parse(buffer: UnsafeRawBufferPointer, limits: JSONParseLimits = .default) -> Result<JSONValue, JSONParseError> {
        if buffer.count > limits.maxBytes {
            return .failure(JSONParseError(
                line: 1, column: 1, position: 0,
                message: "input is \(buffer.count) bytes, more than the limit of \(limits.maxBytes)"))
        }
        if buffer.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return .failure(JSONParseError(line: 1, column: 1, position: 0, message: "empty input: expected a JSON value"))
        }
        // Jansson bounds its own recursion (2048 levels), so it may run first; whichever problem
        // comes earlier in the input is the one reported.
        let violation = JSONDepthScanner.firstViolation(in: buffer, maxDepth: limits.maxDepth)
        var error = json_error_t()
        let flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL
        guard let root = json_loadb(buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count, Int(flags), &error) else {
            let syntax = JSONParseError(jansson: error)
            if let violation, violation.position < syntax.position { return .failure(violation) }
            return .failure(syntax)
        }
        defer { orch_json_decref(root) }
        if let violation { return .failure(violation) }
        return .success(JSONValue(jansson: root))
    }

    private init(jansson value: UnsafeMutablePointer<json_t>) {
        switch json_type(UInt32(orch_json_typeof(value))) {
        case JSON_OBJECT:
            var keys: [String] = []
            var values: [JSONValue] = []
            let count = json_object_size(value)
            keys.reserveCapacity(count)
            values.reserveCapacity(count)
            var iterator = json_object_iter(value)
            while let it = iterator {
                let key = json_object_iter_key(it)!
                let length = json_object_iter_key_len(it)
                keys.append(String(decoding: UnsafeRawBufferPointer(start: key, count: length), as: UTF8.self))
                values.append(JSONValue(jansson: json_object_iter_value(it)!))
                // Free each subtree once converted, so the Swift values reuse its memory instead
                // of faulting in fresh pages (null is a static singleton: no allocation).
                json_object_iter_set_new(value, it, json_null())
                iterator = json_object_iter_next(value, it)
            }
            self = .object(JSONObject(uniqueKeys: keys, values: values))
        case JSON_ARRAY:
            let count = json_array_size(value)
            var items: [JSONValue] = []
            items.reserveCapacity(count)
            for i in 0..<count {
                items.append(JSONValue(jansson: json_array_get(value, i)!))
                json_array_set_new(value, i, json_null())
            }
            self = .array(items)
        case JSON_STRING:
            let text = json_string_value(value)!
            self = .string(String(decoding: UnsafeRawBufferPointer(start: text, count: json_string_length(value)), as: UTF8.self))
        case JSON_INTEGER:
            self = .integer(json_integer_value(value))
        case JSON_REAL:
            self = .real(json_real_value(value))
        case JSON_TRUE:
            self = .bool(true)
        case JSON_FALSE:
            self = .bool(false)
        default:
            self = .null
        }
    }

    /// The value as compact JSON text, keys in order (`{"a":1,"b":[true,null]}`).
    public var compact: String { serialized(flags: Int(JSON_COMPACT)) }

    /// The value as JSON text indented by two spaces, keys in order, without a trailing newline.
    public var pretty: String { serialized(flags: orch_json_flags_indent(2)) }

    /// Compact JSON with reals written to `digits` significant digits (1-17). Fewer than 17 can
    /// lose the last bit of a double, so it is for measurements (`0.004`, not `0.0040000000000000001`).
    public func compact(realDigits digits: Int) -> String {
        serialized(flags: Int(JSON_COMPACT) | Int(orch_json_flags_real_precision(Int32(max(1, min(17, digits))))))
    }

    private func serialized(flags: Int) -> String {
        let root = makeJansson()
        defer { orch_json_decref(root) }
        let allFlags = flags | Int(JSON_ENCODE_ANY)
        let size = json_dumpb(root, nil, 0, allFlags)
        return String(unsafeUninitializedCapacity: size) { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                json_dumpb(root, chars.baseAddress, size, allFlags)
            }
        }
    }

    private func makeJansson() -> UnsafeMutablePointer<json_t> {
        switch self {
        case .null:
            return json_null()
        case .bool(let b):
            return b ? json_true() : json_false()
        case .integer(let i):
            return json_integer(i)
        case .real(let d):
            // JSON has no NaN or infinity.
            return json_real(d) ?? json_null()
        case .string(var s):
            return withCString(&s) { json_stringn_nocheck($0, $1) }
        case .array(let items):
            let array = json_array()!
            for item in items { json_array_append_new(array, item.makeJansson()) }
            return array
        case .object(let object):
            let result = json_object()!
            for (key, value) in object {
                var key = key
                withCString(&key) { _ = json_object_setn_new_nocheck(result, $0, $1, value.makeJansson()) }
            }
            return result
        }
    }
}

/// Calls `body` with the string's UTF-8 bytes (which may hold NUL) and their count.
private func withCString<T>(_ s: inout String, _ body: (UnsafePointer<CChar>, Int) -> T) -> T {
    if s.isEmpty { return body("", 0) }
    return s.withUTF8 { utf8 in
        utf8.withMemoryRebound(to: CChar.self) { body($0.baseAddress!, $0.count) }
    }
}

extension JSONParseError {
    fileprivate init(jansson error: json_error_t) {
        var error = error
        let text = withUnsafeBytes(of: &error.text) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        self.init(line: max(Int(error.line), 1), column: max(Int(error.column), 1), position: max(Int(error.position), 0), message: text)
    }
}
