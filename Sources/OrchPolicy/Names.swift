/// The identifier rule shared by orgs, users, roles, teams, servers and keys:
/// `^[a-z0-9][a-z0-9_-]{0,62}$`. No dots, slashes or colons: those separate the parts of a target.
public enum Name {
    public static func isValid(_ name: String) -> Bool {
        let utf8 = name.utf8
        guard let first = utf8.first, utf8.count <= 63, isLowerOrDigit(first) else { return false }
        return utf8.dropFirst().allSatisfy { isLowerOrDigit($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    static func isLowerOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// Why an org or server name cannot be a part of an aggregated name (`ORG__PREFIX__NAME`):
    /// it holds the separator, or (`trailing`) ends with `_`, which runs into the one after it.
    static func separatorProblem(_ name: String, trailing: Bool) -> String? {
        if name.contains("__") { return "it may not contain \"__\", which separates the parts of the names on the aggregated endpoints" }
        if trailing && name.hasSuffix("_") { return "it may not end with '_', which runs into the \"__\" after it on the aggregated endpoints" }
        return nil
    }

    public static let ruleDescription = "names are 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit"

    /// The candidate closest to `word` by edit distance, when it is close enough to be a likely
    /// typo: within `limit` edits (by default a third of the word's length, 1 to 3).
    static func suggestion(for word: String, among candidates: some Sequence<String>, limit: Int? = nil) -> String? {
        var best: (String, Int)? = nil
        let limit = limit ?? max(1, min(3, word.count / 3))
        for candidate in candidates {
            let d = editDistance(word.lowercased(), candidate.lowercased())
            if d <= limit, d < (best?.1 ?? .max) { best = (candidate, d) }
        }
        return best?.0
    }

    public static func didYouMean(_ word: String, among candidates: some Sequence<String>, limit: Int? = nil) -> String {
        suggestion(for: word, among: candidates, limit: limit).map { " (did you mean \"\($0)\"?)" } ?? ""
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
