/// A unified diff of two texts, line by line (`diff -u`'s format, three lines of context), for
/// `orch fmt --check`. The lines between the common start and end are matched by Myers' shortest
/// edit script; past `maxEdits` edits they are shown as one block replaced, which is still a
/// correct diff, only a longer one.
struct LineDiff {
    private enum Edit {
        case same(Int, Int)
        case delete(Int)
        case insert(Int)

        var isSame: Bool {
            if case .same = self { return true }
            return false
        }
    }

    static let context = 3
    static let maxEdits = 1_000

    /// Each line with its newline (CR LF lines keep both); a last line without one is kept apart
    /// from the same line with one.
    private let old: [String]
    private let new: [String]

    init(old: [UInt8], new: [UInt8]) {
        self.old = Self.lines(old)
        self.new = Self.lines(new)
    }

    private static func lines(_ bytes: [UInt8]) -> [String] {
        var lines: [String] = []
        var start = 0
        for i in bytes.indices where bytes[i] == UInt8(ascii: "\n") {
            lines.append(String(decoding: bytes[start...i], as: UTF8.self))
            start = i + 1
        }
        if start < bytes.count { lines.append(String(decoding: bytes[start...], as: UTF8.self)) }
        return lines
    }

    /// `--- OLD`, `+++ NEW` and the hunks; empty when the texts are equal.
    func unified(oldName: String, newName: String) -> String {
        let edits = self.edits()
        // The lines of each side before each edit, for the hunks' headers.
        var oldBefore: [Int] = [], newBefore: [Int] = []
        var o = 0, n = 0
        for edit in edits {
            oldBefore.append(o)
            newBefore.append(n)
            switch edit {
            case .same: (o, n) = (o + 1, n + 1)
            case .delete: o += 1
            case .insert: n += 1
            }
        }
        // Changes at most 2 * context lines apart share a hunk.
        var groups: [(first: Int, last: Int)] = []
        for i in edits.indices where !edits[i].isSame {
            if let last = groups.last, i - last.last - 1 <= 2 * Self.context {
                groups[groups.count - 1].last = i
            } else {
                groups.append((i, i))
            }
        }
        guard !groups.isEmpty else { return "" }
        var out = "--- \(oldName)\n+++ \(newName)\n"
        for group in groups {
            let start = max(0, group.first - Self.context)
            let stop = min(edits.count, group.last + 1 + Self.context)
            out += hunk(edits[start..<stop], oldBefore: oldBefore[start], newBefore: newBefore[start])
        }
        return out
    }

    private func hunk(_ edits: ArraySlice<Edit>, oldBefore: Int, newBefore: Int) -> String {
        var oldCount = 0, newCount = 0
        var body = ""
        func line(_ mark: String, _ text: String) {
            body += mark + text + (text.utf8.last == UInt8(ascii: "\n") ? "" : "\n\\ No newline at end of file\n")
        }
        for edit in edits {
            switch edit {
            case .same(let o, _):
                oldCount += 1
                newCount += 1
                line(" ", old[o])
            case .delete(let o):
                oldCount += 1
                line("-", old[o])
            case .insert(let n):
                newCount += 1
                line("+", new[n])
            }
        }
        // `diff -u`'s ranges: START,COUNT, COUNT left out when 1, START the line before when 0.
        func range(_ before: Int, _ count: Int) -> String {
            count == 0 ? "\(before),0" : count == 1 ? "\(before + 1)" : "\(before + 1),\(count)"
        }
        return "@@ -\(range(oldBefore, oldCount)) +\(range(newBefore, newCount)) @@\n" + body
    }

    /// The edit script: the common start and end as they are, the middle by Myers' algorithm.
    private func edits() -> [Edit] {
        var prefix = 0
        while prefix < old.count && prefix < new.count && old[prefix] == new[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < old.count - prefix && suffix < new.count - prefix && old[old.count - 1 - suffix] == new[new.count - 1 - suffix] { suffix += 1 }
        let a = prefix..<(old.count - suffix), b = prefix..<(new.count - suffix)
        var edits = (0..<prefix).map { Edit.same($0, $0) }
        edits += middle(a, b) ?? (a.map(Edit.delete) + b.map(Edit.insert))
        edits += (0..<suffix).map { Edit.same(old.count - suffix + $0, new.count - suffix + $0) }
        return edits
    }

    /// Myers' shortest edit script of `old[a]` into `new[b]`; nil past `maxEdits` edits. It keeps
    /// the furthest point of each diagonal after each round (round d: diagonals -d...d), then walks
    /// back through them.
    private func middle(_ a: Range<Int>, _ b: Range<Int>) -> [Edit]? {
        let n = a.count, m = b.count
        let limit = min(n + m, Self.maxEdits)
        var v = [Int](repeating: 0, count: 2 * limit + 3)
        let offset = limit + 1
        var rounds: [[Int]] = []
        for d in 0...limit {
            for k in stride(from: -d, through: d, by: 2) {
                var x = k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]) ? v[offset + k + 1] : v[offset + k - 1] + 1
                var y = x - k
                while x < n && y < m && old[a.lowerBound + x] == new[b.lowerBound + y] {
                    x += 1
                    y += 1
                }
                v[offset + k] = x
                if x >= n && y >= m {
                    return backtrack(a, b, rounds: rounds, d: d, x: n, y: m)
                }
            }
            rounds.append(Array(v[(offset - d)...(offset + d)]))
        }
        return nil
    }

    private func backtrack(_ a: Range<Int>, _ b: Range<Int>, rounds: [[Int]], d: Int, x: Int, y: Int) -> [Edit] {
        var reversed: [Edit] = []
        var (x, y) = (x, y)
        for d in stride(from: d, to: 0, by: -1) {
            let previous = rounds[d - 1]  // diagonals -(d-1)...(d-1), at index k + d - 1
            let k = x - y
            let down = k == -d || (k != d && previous[k - 1 + d - 1] < previous[k + 1 + d - 1])
            let previousK = down ? k + 1 : k - 1
            let previousX = previous[previousK + d - 1]
            let previousY = previousX - previousK
            while x > (down ? previousX : previousX + 1) && y > (down ? previousY + 1 : previousY) {
                x -= 1
                y -= 1
                reversed.append(.same(a.lowerBound + x, b.lowerBound + y))
            }
            if down {
                y -= 1
                reversed.append(.insert(b.lowerBound + y))
            } else {
                x -= 1
                reversed.append(.delete(a.lowerBound + x))
            }
        }
        while x > 0 && y > 0 {
            x -= 1
            y -= 1
            reversed.append(.same(a.lowerBound + x, b.lowerBound + y))
        }
        return reversed.reversed()
    }
}
