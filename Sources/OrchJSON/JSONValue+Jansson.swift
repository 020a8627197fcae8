// Every call into Jansson lives in this file.
internal import CJansson
import Dispatch
import Glibc
import Synchronization

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
        let result = withJansson(buffer, limits: limits, arena: false) { root in JSONValue(consuming: root) }
        // Jansson holds no number past Int64 or Double: with exact numbers asked for, such numbers
        // are read as strings and turned back (the rare case, so the usual parse pays nothing).
        guard limits.exactNumbers, case .failure(let error) = result, error.isNumberOutOfRange,
            let numbers = JSONNumberLiterals(buffer)
        else { return result }
        return numbers.quoted.withUnsafeBytes { quoted in
            withJansson(quoted, limits: limits, arena: false) { root in numbers.restore(JSONValue(consuming: root)) }
        }.mapError(numbers.unquoted)
    }

    /// Converts a tree that is freed afterwards: each subtree is released once converted.
    private init(consuming value: UnsafeMutablePointer<json_t>) {
        self.init(jansson: value, consume: true)
    }

    fileprivate init(jansson value: UnsafeMutablePointer<json_t>, consume: Bool) {
        switch json_type(UInt32(orch_json_typeof(value))) {
        case JSON_OBJECT:
            var keys: [String] = []
            var values: [JSONValue] = []
            // Room for one member more: an object that gains one (a request's `params` given its
            // envelope back by `JSONSetAside`) does not grow its storage; an empty one takes none.
            let size = json_object_size(value)
            let count = size == 0 ? 0 : size + 1
            keys.reserveCapacity(count)
            values.reserveCapacity(count)
            var iterator = json_object_iter(value)
            while let it = iterator {
                let key = json_object_iter_key(it)!
                let length = json_object_iter_key_len(it)
                keys.append(String(decoding: UnsafeRawBufferPointer(start: key, count: length), as: UTF8.self))
                values.append(JSONValue(jansson: json_object_iter_value(it)!, consume: consume))
                // Free each subtree once converted, so the Swift values reuse its memory instead
                // of faulting in fresh pages (null is a static singleton: no allocation).
                if consume { json_object_iter_set_new(value, it, json_null()) }
                iterator = json_object_iter_next(value, it)
            }
            self = .object(JSONObject(uniqueKeys: keys, values: values))
        case JSON_ARRAY:
            let count = json_array_size(value)
            var items: [JSONValue] = []
            items.reserveCapacity(count)
            for i in 0..<count {
                items.append(JSONValue(jansson: json_array_get(value, i)!, consume: consume))
                if consume { json_array_set_new(value, i, json_null()) }
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
    public var compact: String {
        // An id, a flag or a plain string is written here: Jansson's tree and two passes cost more
        // than the text, and every forwarded request and reply writes an id.
        switch self {
        case .integer(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .string(let s) where s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }):
            return "\"\(s)\""
        default: return serialized(flags: Int(JSON_COMPACT))
        }
    }

    /// The value as JSON text indented by two spaces, keys in order, without a trailing newline.
    public var pretty: String { serialized(flags: orch_json_flags_indent(2), indent: 2) }

    /// Compact JSON with reals written to `digits` significant digits (1-17). Fewer than 17 can
    /// lose the last bit of a double, so it is for measurements (`0.004`, not `0.0040000000000000001`).
    public func compact(realDigits digits: Int) -> String {
        serialized(flags: Int(JSON_COMPACT) | Int(orch_json_flags_real_precision(Int32(max(1, min(17, digits))))))
    }

    /// `indent`: the spaces of each level in `flags`, or nil for compact text.
    private func serialized(flags: Int, indent: Int? = nil) -> String {
        JanssonMemory.install()
        var hasLiterals = false
        let root = makeJansson(&hasLiterals)
        defer { orch_json_decref(root) }
        // Jansson cannot write a number it does not hold: the containers are then written in Swift.
        if hasLiterals { return JSONNumberLiterals.write(self, indent: indent) { $0.serialized(flags: flags) } }
        let allFlags = flags | Int(JSON_ENCODE_ANY)
        let size = json_dumpb(root, nil, 0, allFlags)
        return String(unsafeUninitializedCapacity: size) { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                json_dumpb(root, chars.baseAddress, size, allFlags)
            }
        }
    }

    /// Jansson's tree of the value; a `.number` becomes null there and sets `hasLiterals`.
    private func makeJansson(_ hasLiterals: inout Bool) -> UnsafeMutablePointer<json_t> {
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
        case .number:
            hasLiterals = true
            return json_null()
        case .string(var s):
            return withCString(&s) { json_stringn_nocheck($0, $1) }
        case .array(let items):
            let array = json_array()!
            for item in items { json_array_append_new(array, item.makeJansson(&hasLiterals)) }
            return array
        case .object(let object):
            let result = json_object()!
            for (key, value) in object {
                var key = key
                let member = value.makeJansson(&hasLiterals)
                withCString(&key) { _ = json_object_setn_new_nocheck(result, $0, $1, member) }
            }
            return result
        }
    }
}

/// Parses `buffer` with Jansson under `limits` and hands the root to `body`; the tree is freed
/// when `body` returns. With `arena`, the tree is built in an arena and dropped whole.
private func withJansson<T>(
    _ buffer: UnsafeRawBufferPointer, limits: JSONParseLimits, arena: Bool, _ body: (UnsafeMutablePointer<json_t>) -> T
) -> Result<T, JSONParseError> {
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
    let large = arena && buffer.count >= JanssonSplit.minimumBytes
    let (violation, split) = JSONDepthScanner.scan(buffer, maxDepth: limits.maxDepth, findSplit: large)
    JanssonMemory.install()
    if violation == nil, let split, let halves = JanssonSplit.parse(buffer, at: split) {
        defer { halves.release() }
        return .success(body(halves.root))
    }
    let memory = arena ? JanssonMemory.Arena(expecting: buffer.count) : nil
    defer { memory?.release() }
    var error = json_error_t()
    let parsed = JanssonMemory.allocating(from: memory) {
        json_loadb(buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count, Int(janssonFlags), &error)
    }
    guard let root = parsed else {
        let syntax = JSONParseError(jansson: error)
        if let violation, violation.position < syntax.position { return .failure(violation) }
        return .failure(syntax)
    }
    // An arena's tree goes with the arena, without a walk over every value.
    defer { if memory == nil { orch_json_decref(root) } }
    if let violation { return .failure(violation) }
    return .success(body(root))
}

private let janssonFlags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL

/// A large document parsed by two parsers at once: the scanner's cut splits its largest object
/// (an orch.json's `users`) between two members; one parser reads the document with that object
/// ended after the first half, the other the second half as an object of its own, and the second
/// half's members are then added to the first, in order. Anything unusual (a parse error in either
/// half, a key in both) gives nil, and the caller parses the document whole, so errors and their
/// positions are always the whole document's.
private struct JanssonSplit {
    static let minimumBytes = 1 << 20

    let root: UnsafeMutablePointer<json_t>
    private let arenas: [JanssonMemory.Arena]

    func release() { for arena in arenas { arena.release() } }

    static func parse(_ buffer: UnsafeRawBufferPointer, at split: JSONDepthScanner.Split) -> JanssonSplit? {
        // Read in place, as pieces: the document up to the cut, then from the object's end on;
        // and a brace, then the second half up to and with the object's closing brace.
        let opening: StaticString = "{"
        let inputs = [
            Pieces([UnsafeRawBufferPointer(rebasing: buffer[..<split.comma]), UnsafeRawBufferPointer(rebasing: buffer[split.close...])]),
            Pieces([UnsafeRawBufferPointer(start: opening.utf8Start, count: 1), UnsafeRawBufferPointer(rebasing: buffer[(split.comma + 1)...split.close])]),
        ]
        let arenas = inputs.map { JanssonMemory.Arena(expecting: $0.count) }
        let roots = Roots()
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            var input = inputs[i]
            var error = json_error_t()
            let root = JanssonMemory.allocating(from: arenas[i]) {
                withUnsafeMutablePointer(to: &input) { json_load_callback(Pieces.read, $0, Int(janssonFlags), &error) }
            }
            roots.set(i, root)
        }
        let result = JanssonMemory.allocating(from: arenas[0]) { () -> JanssonSplit? in
            guard let root = roots.get(0), let rest = roots.get(1), JSONNode(root).isObject else { return nil }
            let key = UnsafeRawBufferPointer(rebasing: buffer[split.key]).bindMemory(to: CChar.self)
            guard let object = json_object_getn(root, key.baseAddress, key.count), JSONNode(object).isObject else { return nil }
            var iterator = json_object_iter(rest)
            while let it = iterator {
                let name = json_object_iter_key(it)!, length = json_object_iter_key_len(it)
                guard json_object_getn(object, name, length) == nil,
                    json_object_setn_nocheck(object, name, length, json_object_iter_value(it)) == 0
                else { return nil }
                iterator = json_object_iter_next(rest, it)
            }
            return JanssonSplit(root: root, arenas: arenas)
        }
        if result == nil { for arena in arenas { arena.release() } }
        return result
    }

    /// Byte ranges read as one input, through `json_load_callback`.
    private struct Pieces: @unchecked Sendable {  // read-only memory, each copy read by one thread
        private let ranges: [UnsafeRawBufferPointer]
        private var index = 0
        private var offset = 0

        init(_ ranges: [UnsafeRawBufferPointer]) { self.ranges = ranges }

        var count: Int { ranges.reduce(0) { $0 + $1.count } }

        static let read: json_load_callback_t = { buffer, length, data in
            let pieces = data!.assumingMemoryBound(to: Pieces.self)
            while pieces.pointee.index < pieces.pointee.ranges.count {
                let range = pieces.pointee.ranges[pieces.pointee.index]
                let n = min(range.count - pieces.pointee.offset, length)
                if n == 0 {
                    pieces.pointee.index += 1
                    pieces.pointee.offset = 0
                    continue
                }
                buffer!.copyMemory(from: range.baseAddress! + pieces.pointee.offset, byteCount: n)
                pieces.pointee.offset += n
                return n
            }
            return 0
        }
    }

    /// The two roots, each written by its own parser thread.
    private final class Roots: Sendable {
        private let addresses = Mutex<[Int]>([0, 0])
        func set(_ i: Int, _ root: UnsafeMutablePointer<json_t>?) { addresses.withLock { $0[i] = Int(bitPattern: root) } }
        func get(_ i: Int) -> UnsafeMutablePointer<json_t>? { UnsafeMutablePointer(bitPattern: addresses.withLock { $0[i] }) }
    }
}

/// Where Jansson's memory comes from: malloc, or, while a thread parses a large document (an
/// orch.json of thousands of users is a tree of millions of small blocks), an arena of large
/// chunks, dropped whole once the document is read. Freeing that tree block by
/// block and faulting its pages in one by one cost more than parsing it.
///
/// Every block carries an 8-byte header saying where it came from, so that a block freed through
/// Jansson goes back to malloc, or to nothing when the arena owns it. Blocks are 8-byte aligned,
/// which is all Jansson's values (pointers, sizes, doubles) need.
private enum JanssonMemory {
    private static let headerSize = 8
    private static let fromMalloc: UInt64 = 0
    private static let fromArena: UInt64 = 1

    /// Sets Jansson's allocation functions; runs once, before any other Jansson call (every entry
    /// point of this file calls it first), so no block predates the headers.
    static func install() { _ = installed }

    private static let installed: Bool = {
        json_set_alloc_funcs(allocate, free)
        return true
    }()

    /// The arena of the calling thread, if it is parsing into one.
    private static let arenaKey: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
        return key
    }()

    /// Runs `body` with the calling thread's Jansson allocations taken from `arena` (when given).
    static func allocating<T>(from arena: Arena?, _ body: () -> T) -> T {
        guard let arena else { return body() }
        pthread_setspecific(arenaKey, Unmanaged.passUnretained(arena).toOpaque())
        defer { pthread_setspecific(arenaKey, nil) }
        return withExtendedLifetime(arena) { body() }
    }

    private static let allocate: @convention(c) (Int) -> UnsafeMutableRawPointer? = { size in
        if let current = pthread_getspecific(arenaKey),
            let block = Unmanaged<Arena>.fromOpaque(current)._withUnsafeGuaranteedRef({ $0.allocate(headerSize + size) })
        {
            block.storeBytes(of: fromArena, as: UInt64.self)
            return block + headerSize
        }
        guard let block = Glibc.malloc(headerSize + size) else { return nil }
        block.storeBytes(of: fromMalloc, as: UInt64.self)
        return block + headerSize
    }

    private static let free: @convention(c) (UnsafeMutableRawPointer?) -> Void = { pointer in
        guard let pointer else { return }
        let block = pointer - headerSize
        if block.load(as: UInt64.self) == fromMalloc { Glibc.free(block) }
    }

    /// Chunks of address space handed out front to back; `release` unmaps them all, on another
    /// thread (unmapping a large tree takes milliseconds nobody needs to wait for). Pages are
    /// touched only as blocks are handed out, so a chunk larger than needed costs no memory.
    final class Arena: @unchecked Sendable {  // used by one thread at a time
        private var chunks: [(start: UnsafeMutableRawPointer, length: Int)] = []
        private var next: UnsafeMutableRawPointer? = nil
        private var remaining = 0
        private let chunkSize: Int

        /// For a document of `bytes` bytes: its tree takes about five times its size, so one
        /// chunk usually holds it.
        init(expecting bytes: Int) {
            chunkSize = max(bytes * 8, 1 << 20)
        }

        /// An 8-byte aligned block, or nil when no address space is left (the block then comes
        /// from malloc).
        func allocate(_ size: Int) -> UnsafeMutableRawPointer? {
            let size = (size + 7) & ~7
            if size > remaining && !grow(minimum: size) { return nil }
            let block = next!
            next = block + size
            remaining -= size
            return block
        }

        private func grow(minimum: Int) -> Bool {
            let length = max(chunkSize, minimum)
            let start = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            guard let start, start != MAP_FAILED else { return false }
            chunks.append((start, length))
            next = start
            remaining = length
            return true
        }

        func release() {
            let addresses = chunks.map { (Int(bitPattern: $0.start), $0.length) }
            chunks = []
            next = nil
            remaining = 0
            DispatchQueue.global().async {
                for (address, length) in addresses { munmap(UnsafeMutableRawPointer(bitPattern: address), length) }
            }
        }
    }
}

/// A value inside a parsed document, read in place from the parser's tree instead of being
/// copied into `JSONValue` first: a large file (orch.json with thousands of users) is decoded
/// without building a second tree. A node is valid only inside the `parse` closure that gave it.
/// Reading a node changes nothing in the tree, so threads may read one document at once.
public struct JSONNode: @unchecked Sendable {
    private let raw: UnsafeMutableRawPointer

    fileprivate init(_ value: UnsafeMutablePointer<json_t>) { raw = UnsafeMutableRawPointer(value) }

    private var json: UnsafeMutablePointer<json_t> { raw.assumingMemoryBound(to: json_t.self) }

    /// Parses `bytes` as `JSONValue.parse` does and calls `body` with the root; the tree is freed
    /// when `body` returns, so no node may outlive it.
    public static func parse<T>(_ bytes: [UInt8], limits: JSONParseLimits = .default, _ body: (JSONNode) -> T) -> Result<T, JSONParseError> {
        bytes.withUnsafeBytes { buffer in withJansson(buffer, limits: limits, arena: true) { root in body(JSONNode(root)) } }
    }

    private var type: json_type { json_type(UInt32(orch_json_typeof(json))) }

    public var isObject: Bool { type == JSON_OBJECT }
    public var isArray: Bool { type == JSON_ARRAY }

    public var string: String? {
        guard type == JSON_STRING, let text = json_string_value(json) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: text, count: json_string_length(json)), as: UTF8.self)
    }

    public var integer: Int64? { type == JSON_INTEGER ? json_integer_value(json) : nil }

    public var bool: Bool? {
        switch type {
        case JSON_TRUE: true
        case JSON_FALSE: false
        default: nil
        }
    }

    /// The value copied into a `JSONValue` (for small parts: a message, a comparison).
    public var value: JSONValue { JSONValue(jansson: json, consume: false) }

    /// The name of the value's type as a person reads it ("a string", "an array").
    public var typeDescription: String {
        switch type {
        case JSON_OBJECT: "an object"
        case JSON_ARRAY: "an array"
        case JSON_STRING: "a string"
        case JSON_INTEGER, JSON_REAL: "a number"
        case JSON_TRUE, JSON_FALSE: "a boolean"
        default: "null"
        }
    }

    /// The member named `key` of an object; nil for a missing key or a value that is not an object.
    public subscript(key: String) -> JSONNode? {
        var key = key
        return withCString(&key) { json_object_getn(json, $0, $1) }.map(JSONNode.init)
    }

    /// An object's members in the order written; empty for any other value.
    public var members: Members { Members(object: type == JSON_OBJECT ? json : nil) }

    /// An array's items; empty for any other value.
    public var items: Items { Items(array: type == JSON_ARRAY ? json : nil) }

    public struct Members: Sequence, IteratorProtocol {
        fileprivate let object: UnsafeMutablePointer<json_t>?
        private var iterator: UnsafeMutableRawPointer?

        fileprivate init(object: UnsafeMutablePointer<json_t>?) {
            self.object = object
            self.iterator = object.flatMap { json_object_iter($0) }
        }

        /// The number of members.
        public var count: Int { object.map { json_object_size($0) } ?? 0 }

        public mutating func next() -> (key: String, value: JSONNode)? {
            guard let object, let it = iterator else { return nil }
            let key = String(
                decoding: UnsafeRawBufferPointer(start: json_object_iter_key(it), count: json_object_iter_key_len(it)), as: UTF8.self)
            let value = JSONNode(json_object_iter_value(it))
            iterator = json_object_iter_next(object, it)
            return (key, value)
        }
    }

    public struct Items: RandomAccessCollection {
        fileprivate let array: UnsafeMutablePointer<json_t>?
        public var startIndex: Int { 0 }
        public var endIndex: Int { array.map { json_array_size($0) } ?? 0 }
        public subscript(position: Int) -> JSONNode { JSONNode(json_array_get(array, position)) }
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
        isNumberOutOfRange = json_error_code(&error) == json_error_numeric_overflow
    }
}
