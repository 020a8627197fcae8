extension Glob {
    /// Whether some string matches both globs (`read_*` and `*_file` do; `read_*` and
    /// `delete_*` do not). A walk over pairs of positions in the two patterns, where a `*` may be
    /// passed over or take one byte of the other side's literal.
    public func overlaps(_ other: Glob) -> Bool {
        let a = Array(pattern.utf8), b = Array(other.pattern.utf8)
        let star = UInt8(ascii: "*")
        var seen = Set<Int>()
        var pending = [(0, 0)]
        while let (i, j) = pending.popLast() {
            guard seen.insert(i * (b.count + 1) + j).inserted else { continue }
            if i == a.count && j == b.count { return true }
            if i < a.count && a[i] == star { pending.append((i + 1, j)) }
            if j < b.count && b[j] == star { pending.append((i, j + 1)) }
            guard i < a.count, j < b.count else { continue }
            switch (a[i] == star, b[j] == star) {
            case (true, false): pending.append((i, j + 1))
            case (false, true): pending.append((i + 1, j))
            case (false, false): if a[i] == b[j] { pending.append((i + 1, j + 1)) }
            case (true, true): break  // both stars taking the same byte lead back here
            }
        }
        return false
    }
}

extension ItemGlob {
    /// Whether some item matches both: of the same kind, with overlapping globs.
    public func overlaps(_ other: ItemGlob) -> Bool {
        kind == other.kind && glob.overlaps(other.glob)
    }
}
