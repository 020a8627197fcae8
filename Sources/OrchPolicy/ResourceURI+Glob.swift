extension ResourceURI {
    /// A resource glob of orch.json (in a rule, a key scope or a server's `resources` filter) as
    /// the policy matches it: its literal text in normal form, so that `NOTES://Host/a/./b*` means
    /// `notes://host/a/b*`, the only form a URI is decided in.
    public struct GlobForm: Sendable, Hashable {
        /// What the policy matches with.
        public let pattern: String
        /// Why the glob as written deserves a warning; nil when it is written in normal form.
        public let note: Note?

        public enum Note: Sendable, Hashable {
            /// Written otherwise than in normal form; `pattern` is the normal form.
            case rewritten
            /// No URI the gateway decides can match: such URIs are refused first. Kept as written.
            case matchesNothing(Refusal)
            /// A `.` or `..` segment after a segment with a `*`, which may stand for any number of
            /// segments, so it cannot be resolved. Kept as written.
            case unresolvedDotSegment
        }

        /// The warning `orch check` gives for the glob as `written`; nil for none.
        public func warning(written: String) -> String? {
            switch note {
            case nil:
                nil
            case .rewritten:
                "resource glob \"\(written)\" is read in normal form, as \"\(pattern)\" (resource URIs are decided with scheme and host in lowercase, unreserved characters decoded and dot segments resolved): write it so"
            case .matchesNothing(let refusal):
                "resource glob \"\(written)\" matches no resource: a resource URI is refused when \(refusal)"
            case .unresolvedDotSegment:
                "resource glob \"\(written)\" has a '.' or '..' segment after a '*', which cannot be resolved: it matches no resource path, since URIs are decided with their dot segments resolved"
            }
        }
    }

    /// The normal form of a resource glob's literal text. The scheme, authority and path are put in
    /// normal form only when no `*` stands in the scheme or the authority (where a `*` could span
    /// parts); otherwise only the percent-encodings are. A `%` next to a `*` is kept as written.
    public static func normalizeGlob(_ pattern: String) -> GlobForm {
        guard pattern.utf8.contains(ASCII.star) else {
            switch normalize(pattern) {
            case .success(let normal): return GlobForm(pattern: normal, note: normal == pattern ? nil : .rewritten)
            case .failure(let refusal): return GlobForm(pattern: pattern, note: .matchesNothing(refusal))
            }
        }
        var text = pattern
        let outcome: Result<(String, unresolved: Bool), Refusal> = text.withUTF8 { input in
            Writer.withBuffer(capacity: input.count + 4) { w in
                if literalSchemeAndAuthority(input) {
                    if let refusal = write(input, to: &w, glob: true) { return .failure(refusal) }
                } else {
                    if let refusal = characterRefusal(input, glob: true) { return .failure(refusal) }
                    writeLiteralScheme(input, to: &w)
                    writePercentNormalized(input, w.count..<input.count, to: &w, lowercase: false)
                }
                return .success((String(decoding: w.written, as: UTF8.self), w.unresolvedDotSegments))
            }
        }
        switch outcome {
        case .failure(let refusal): return GlobForm(pattern: pattern, note: .matchesNothing(refusal))
        case .success(let (_, unresolved)) where unresolved: return GlobForm(pattern: pattern, note: .unresolvedDotSegment)
        case .success(let (normal, _)): return GlobForm(pattern: normal, note: normal == pattern ? nil : .rewritten)
        }
    }

    /// A scheme that ends before the glob's first `*`, lowercased, with its ':'; nothing else.
    private static func writeLiteralScheme(_ p: UnsafeBufferPointer<UInt8>, to w: inout Writer) {
        guard let colon = p.firstIndex(where: { !ASCII.isSchemeCharacter($0) }), p[colon] == ASCII.colon, colon > 0,
            ASCII.isAlpha(p[0])
        else { return }
        for byte in p[...colon] { w.append(ASCII.lowercased(byte)) }
    }

    /// Whether no `*` stands before the end of the glob's scheme and authority, or before the text
    /// shows that it has no authority (`notes:/*` may be `notes://host`).
    static func literalSchemeAndAuthority(_ p: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let star = p.firstIndex(of: ASCII.star) else { return true }
        guard let colon = p[..<star].firstIndex(of: ASCII.colon) else { return false }
        let after = colon + 1
        if star - after >= 2, p[after] == ASCII.slash, p[after + 1] == ASCII.slash {
            return p[(after + 2)..<star].contains(where: ASCII.endsAuthority)
        }
        return star - after >= 2 || (star - after == 1 && p[after] != ASCII.slash)
    }
}
