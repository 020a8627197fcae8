import OrchPolicy
import Testing

// Found by the `env` fuzz target (Fuzz/): expansion read Characters, so a combining mark after `$`,
// `{` or `}` hid it (U+0301 COMBINING ACUTE ACCENT below).

@Test func aCombiningMarkAfterABraceDoesNotHideIt() {
    #expect(EnvExpansion.expand("${env:A}\u{301}", environment: ["A": "x"]) == .success("x\u{301}"))
    #expect(EnvExpansion.expand("$$\u{301}", environment: [:]) == .success("$\u{301}"))
    #expect(EnvExpansion.expand("${env:NOPE:-\u{301}d}", environment: [:]) == .success("\u{301}d"))
    guard case .failure(.malformed) = EnvExpansion.expand("x${\u{301}env:A}", environment: ["A": "x"]) else {
        Issue.record("\"${\" followed by a combining mark is not an ${env:…} reference")
        return
    }
}

@Test func aCombiningMarkAfterTheColonStillUsesTheEnvironment() {
    #expect(EnvExpansion.usesEnvironment("${env:\u{1DED}X}"))
    #expect(EnvExpansion.usesEnvironment("Bearer ${env:TOKEN}"))
    #expect(!EnvExpansion.usesEnvironment("$env:TOKEN"))
}
