import FuzzKit
import OrchPolicy

/// `${env:…}` expansion against a second reading of docs/reference/orch-json.md, on Unicode scalars.
enum EnvTarget {
    static let target = FuzzTarget("env", "EnvExpansion.expand against a reference reading of the docs", check: check)
    static let environment = ["A": "x", "HOME": "/home/u", "EMPTY": "", "D": "$", "B_2": "}", "_": "u"]

    static func check(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let got = EnvExpansion.expand(text, environment: environment)
        let want = reference(Array(text.unicodeScalars))
        let agree: Bool
        switch (got, want) {
        case (.success(let a), .success(let b)): agree = a == b
        case (.failure(.missing(let a)), .failure(.missing(let b))): agree = a == b
        case (.failure(.malformed), .failure(.malformed)): agree = true
        default: agree = false
        }
        require(agree, "expand(\(text.escaped)) = \(got), the reference gives \(want)")
        // On Unicode scalars, as expansion reads: `contains` on String compares Characters, and a
        // combining mark after the `:` would hide the `${env:` from it.
        let scalars = Array(text.unicodeScalars)
        let uses = scalars.indices.contains { scalars[$0...].starts(with: "${env:".unicodeScalars) }
        require(EnvExpansion.usesEnvironment(text) == uses, "usesEnvironment(\(text.escaped)) = \(!uses), expected \(uses)")
    }

    /// `$$` is `$`; `${env:NAME}` and `${env:NAME:-default}` (the default ends at the first `}`)
    /// take the variable; `${` without `}` or with another body is malformed; a `$` before
    /// anything else stays.
    static func reference(_ s: [Unicode.Scalar]) -> Result<String, EnvExpansion.Failure> {
        var out = String.UnicodeScalarView()
        var i = 0
        while i < s.count {
            guard s[i] == "$", i + 1 < s.count, s[i + 1] == "$" || s[i + 1] == "{" else {
                out.append(s[i])
                i += 1
                continue
            }
            if s[i + 1] == "$" {
                out.append("$")
                i += 2
                continue
            }
            guard let close = s[(i + 2)...].firstIndex(of: "}") else { return .failure(.malformed("no }")) }
            let body = Array(s[(i + 2)..<close])
            guard body.starts(with: Array("env:".unicodeScalars)) else { return .failure(.malformed("not env:")) }
            let spec = Array(body.dropFirst(4))
            var name = spec
            var fallback: [Unicode.Scalar]? = nil
            if let dash = spec.indices.first(where: { spec[$0] == ":" && $0 + 1 < spec.count && spec[$0 + 1] == "-" }) {
                name = Array(spec[..<dash])
                fallback = Array(spec[(dash + 2)...])
            }
            let isName = name.first.map { !("0"..."9").contains($0) } == true
                && name.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
            guard isName else { return .failure(.malformed("bad name")) }
            let key = String(String.UnicodeScalarView(name))
            if let value = environment[key] {
                out.append(contentsOf: value.unicodeScalars)
            } else if let fallback {
                out.append(contentsOf: fallback)
            } else {
                return .failure(.missing(key))
            }
            i = close + 1
        }
        return .success(String(out))
    }
}

/// Globs against a naive matcher on bytes; rules and scope entries parsed by OrchPolicy against the
/// policy tests' reference reading of them (ReferenceEvaluator.swift).
enum GlobTarget {
    static let target = FuzzTarget("glob", "Glob.matches against a naive recursive matcher; Rule/ScopeGlob against the reference", check: check)

    static func check(_ bytes: [UInt8]) {
        var c = Choices(bytes)
        if c.byte() & 1 == 0 {
            let pattern = String(decoding: c.data(max: 32), as: UTF8.self)
            let subject = String(decoding: bytes[c.position...], as: UTF8.self)
            let glob = Glob(pattern)
            let want = naive(Array(pattern.utf8)[...], Array(subject.utf8)[...])
            require(glob.matches(subject) == want, "Glob(\(pattern.escaped)).matches(\(subject.escaped)) = \(!want), expected \(want)")
            let everything = !pattern.isEmpty && pattern.utf8.allSatisfy { $0 == UInt8(ascii: "*") }
            require(glob.matchesEverything == everything, "Glob(\(pattern.escaped)).matchesEverything = \(glob.matchesEverything)")
        } else {
            rules(&c)
        }
    }

    /// `*` matches any run of bytes, anything else itself; memoised so that many stars stay cheap.
    static func naive(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        var memo: [Int: Bool] = [:]
        func go(_ i: Int, _ j: Int) -> Bool {
            let key = i << 16 | j
            if let known = memo[key] { return known }
            let result: Bool
            if i == p.endIndex {
                result = j == s.endIndex
            } else if p[i] == UInt8(ascii: "*") {
                result = go(i + 1, j) || (j < s.endIndex && go(i, j + 1))
            } else {
                result = j < s.endIndex && p[i] == s[j] && go(i + 1, j + 1)
            }
            memo[key] = result
            return result
        }
        return go(p.startIndex, s.startIndex)
    }

    /// Text from a small alphabet, so that the separators and prefixes of rules come up often.
    static let pieces = ["*", ":", "/", "a", "b", "e", "x", "_", "-", "prompts/", "resources/", "file://", "prompt/", "tools/", "A", " ", ".", "s"]

    static func text(_ c: inout Choices, max: Int) -> String {
        (0..<c.int(0...max)).map { _ in c.pick(pieces) }.joined()
    }

    /// A rule or scope entry with its resource glob in the normal form the policy matches with
    /// (`ResourceURI.normalizeGlob`, checked against an independent normalizer by the Swift
    /// tests): the reference matches text, so it is given the text the policy matches.
    static func inNormalForm(_ text: String) -> String {
        guard let written = ItemGlob.writtenResourceGlob(of: text) else { return text }
        return String(text.utf8.dropLast(written.utf8.count))! + ResourceURI.normalizeGlob(written).pattern
    }

    static func rules(_ c: inout Choices) {
        let ruleText = text(&c, max: 8)
        let scopeText = text(&c, max: 8)
        let org = c.pick(["a", "ab", "x", "a-b"])
        let server = c.pick(["a", "ab", "ex", "e", "b_x"])
        let item = c.pick(["", "prompts/", "resources/"]) + text(&c, max: 5)
        let (field, name) = Reference.kind(of: item)
        let kind: ItemKind = field == "prompts" ? .prompt : field == "resources" ? .resource : .tool
        if case .success(let rule) = Rule.parse(ruleText) {
            let allows = rule.server.matches(server) && (rule.item?.matches(kind, name) ?? true)
            require(allows == Reference.ruleAllows(inNormalForm(ruleText), server: server, item: item),
                    "rule \(ruleText.escaped) on \(server):\(item.escaped): parsed as server \(rule.server) item \(rule.item.map { "\($0)" } ?? "-"), allows = \(allows)")
        }
        if case .success(let scope) = ScopeGlob.parse(scopeText) {
            let covers = scope.matches(org: org, server: server, kind, name)
            require(covers == Reference.scopeMatches(inNormalForm(scopeText), org: org, server: server, item: item),
                    "scope \(scopeText.escaped) on \(org)/\(server):\(item.escaped): covers = \(covers)")
            require(scope.matches(org: org, server: server) == Reference.scopeMatches(scopeText, org: org, server: server, item: nil),
                    "scope \(scopeText.escaped) on \(org)/\(server)")
        }
    }
}
