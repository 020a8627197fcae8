import Foundation

/// A search over a caller's permitted tools, for the `find_tools` tool of search mode: Okapi BM25
/// (k1 1.2, b 0.75) over each tool's name and description, the name's words counted twice (a
/// tool is found by what it is called first). Words are runs of ASCII letters and digits,
/// lower-cased, with `snake_case`, `kebab-case` and `camelCase` names split into their words;
/// anything else separates words. A query is bounded (its first `maxQueryBytes` bytes, at most
/// `maxQueryTerms` distinct words): any query of any size or content is answered.
public struct ToolSearch: Sendable {
    public struct Entry: Sendable, Equatable {
        /// The exposed name a call takes.
        public let name: String
        public let description: String

        public init(name: String, description: String) {
            self.name = name
            self.description = description
        }
    }

    public static let maxQueryBytes = 1024
    public static let maxQueryTerms = 32
    static let k1 = 1.2
    static let b = 0.75
    static let nameWeight = 2

    public let entries: [Entry]
    /// For each word, the entries that have it and how often (name words weighted).
    private let postings: [String: [(entry: Int, count: Int)]]
    private let lengths: [Int]
    private let averageLength: Double

    public init(_ entries: [Entry]) {
        self.entries = entries
        var postings: [String: [(entry: Int, count: Int)]] = [:]
        var lengths: [Int] = []
        lengths.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            var counts: [String: Int] = [:]
            for word in Self.words(entry.name) { counts[word, default: 0] += Self.nameWeight }
            for word in Self.words(entry.description) { counts[word, default: 0] += 1 }
            lengths.append(counts.values.reduce(0, +))
            for (word, count) in counts { postings[word, default: []].append((index, count)) }
        }
        self.postings = postings
        self.lengths = lengths
        averageLength = entries.isEmpty ? 1 : max(1, Double(lengths.reduce(0, +)) / Double(entries.count))
    }

    /// The best `limit` entries for `query`, best first (ties in the entries' order); none for a
    /// query with no word the tools have.
    public func search(_ query: String, limit: Int) -> [Entry] {
        guard limit > 0 else { return [] }
        var terms: [String] = []
        for word in Self.words(String(decoding: query.utf8.prefix(Self.maxQueryBytes), as: UTF8.self)) where !terms.contains(word) {
            terms.append(word)
            if terms.count == Self.maxQueryTerms { break }
        }
        // Scores by entry index, and the entries any term touched.
        var scores = [Double](repeating: 0, count: entries.count)
        var touched: [Int] = []
        let total = Double(entries.count)
        for term in terms {
            guard let list = postings[term] else { continue }
            let having = Double(list.count)
            let idf: Double = Foundation.log(1 + (total - having + 0.5) / (having + 0.5))
            for (entry, count) in list {
                let tf = Double(count)
                let relative: Double = Double(lengths[entry]) / averageLength
                let damping: Double = Self.k1 * (1 - Self.b + Self.b * relative)
                if scores[entry] == 0 { touched.append(entry) }
                scores[entry] += idf * (tf * (Self.k1 + 1) / (tf + damping))
            }
        }
        // The best `limit`, kept in order as the touched entries go by (no sort of them all).
        func better(_ a: Int, _ b: Int) -> Bool { scores[a] != scores[b] ? scores[a] > scores[b] : a < b }
        var best: [Int] = []
        best.reserveCapacity(limit + 1)
        for entry in touched where best.count < limit || better(entry, best[best.count - 1]) {
            var at = best.count
            while at > 0, better(entry, best[at - 1]) { at -= 1 }
            best.insert(entry, at: at)
            if best.count > limit { best.removeLast() }
        }
        return best.map { entries[$0] }
    }

    /// The words of `text`: ASCII letter and digit runs, lower-cased, split where a lower-case
    /// letter or digit is followed by an upper-case one (`getUser` → get, user).
    static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current: [UInt8] = []
        var previousLower = false
        func flush() {
            if !current.isEmpty { words.append(String(decoding: current, as: UTF8.self)) }
            current.removeAll(keepingCapacity: true)
        }
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                if previousLower { flush() }
                current.append(byte + 32)
                previousLower = false
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                current.append(byte)
                previousLower = true
            default:
                flush()
                previousLower = false
            }
        }
        flush()
        return words
    }
}
