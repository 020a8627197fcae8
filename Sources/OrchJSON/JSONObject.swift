/// A JSON object that keeps its keys in the order they were written or inserted.
///
/// Small objects are searched linearly; larger ones carry a key index so lookups stay O(1).
public struct JSONObject: Sendable, Hashable, RandomAccessCollection {
    public typealias Element = (key: String, value: JSONValue)

    public private(set) var keys: [String] = []
    public private(set) var values: [JSONValue] = []
    @usableFromInline var index: [String: Int]? = nil

    private static let indexThreshold = 12

    public init() {}

    public init(_ pairs: some Sequence<(String, JSONValue)>) {
        for (k, v) in pairs { self[k] = v }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { keys.count }
    public subscript(position: Int) -> Element { (keys[position], values[position]) }

    /// Inlinable, as the getter is: a lookup in a message's small objects is a few comparisons,
    /// which a call across the module would cost more than. A key of another length is passed over
    /// without comparing its characters.
    @inlinable
    public func position(of key: String) -> Int? {
        if let index { return index[key] }
        let count = key.utf8.count
        return keys.firstIndex { $0.utf8.count == count && $0 == key }
    }

    public subscript(key: String) -> JSONValue? {
        @inlinable get { position(of: key).map { values[$0] } }
        set {
            if let i = position(of: key) {
                if let newValue {
                    values[i] = newValue
                } else {
                    keys.remove(at: i)
                    values.remove(at: i)
                    if index != nil { rebuildIndex() }
                }
            } else if let newValue {
                keys.append(key)
                values.append(newValue)
                if index != nil {
                    index![key] = keys.count - 1
                } else if keys.count > Self.indexThreshold {
                    rebuildIndex()
                }
            }
        }
    }

    fileprivate mutating func rebuildIndex() {
        guard keys.count > Self.indexThreshold else { index = nil; return }
        var map = [String: Int](minimumCapacity: keys.count)
        for (i, k) in keys.enumerated() { map[k] = i }
        index = map
    }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        lhs.keys == rhs.keys && lhs.values == rhs.values
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(keys)
        hasher.combine(values)
    }
}

extension JSONObject: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}

extension JSONObject {
    /// Builds an object from keys already known to be distinct (the parser rejects duplicates).
    init(uniqueKeys keys: [String], values: [JSONValue]) {
        self.keys = keys
        self.values = values
        self.rebuildIndex()
    }

    /// Makes `change` to the object under `key` in place (while it runs, the only reference to that
    /// object is its argument, so nothing is copied); false when there is no object under `key`, or
    /// `change` gives false.
    mutating func changingObject(under key: String, _ change: (inout JSONObject) -> Bool) -> Bool {
        guard let position = position(of: key), case .object(var inner) = values[position] else { return false }
        values[position] = .null
        defer { values[position] = .object(inner) }
        return change(&inner)
    }

    /// Puts `value` under `key` (not among the keys yet) at `position` in the order.
    mutating func insert(_ value: JSONValue, forKey key: String, at position: Int) {
        if position == keys.count {
            keys.append(key)
            values.append(value)
        } else {
            keys.insert(key, at: position)
            values.insert(value, at: position)
        }
        if index != nil || keys.count > Self.indexThreshold { rebuildIndex() }
    }
}
