import Foundation

/// Expands `${env:NAME}` and `${env:NAME:-default}` in server fields; `$$` is a literal `$`.
/// The result is a secret: it is never echoed back in a diagnostic.
///
/// With `keepingUser`, `${user:NAME}` (the calling user's own secret, known only when a session
/// starts) is kept, and the result is a template in the same syntax: every other `$` is written
/// `$$`, so `UserSecrets.render` can fill the secrets in without mistaking a `$` of a value for one.
public enum EnvExpansion {
    public enum Failure: Error, Sendable, Hashable {
        case missing(String)
        case malformed(String)
    }

    /// Whether the text refers to a user's secret, `${user:NAME}`.
    public static func usesUserSecret(_ text: String) -> Bool {
        text.utf8.firstRange(of: "${user:".utf8) != nil
    }

    public static func expand(_ text: String, environment: [String: String], keepingUser: Bool = false) -> Result<String, Failure> {
        guard text.utf8.contains(UInt8(ascii: "$")) else { return .success(text) }
        // A literal `$` of the result: `$$` in a template, so that it stays literal when rendered.
        let dollar: String.UnicodeScalarView = keepingUser ? "$$".unicodeScalars : "$".unicodeScalars
        func literal(_ scalars: some Sequence<Unicode.Scalar>) -> String.UnicodeScalarView {
            var out = String.UnicodeScalarView()
            for c in scalars { if c == "$" { out.append(contentsOf: dollar) } else { out.append(c) } }
            return out
        }
        // Unicode scalars, not Characters: a combining mark after `$`, `{` or `}` must not hide it.
        let text = text.unicodeScalars
        var out = String.UnicodeScalarView()
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            guard c == "$" else {
                out.append(c)
                i = text.index(after: i)
                continue
            }
            let next = text.index(after: i)
            if next < text.endIndex, text[next] == "$" {
                out.append(contentsOf: dollar)
                i = text.index(after: next)
                continue
            }
            guard next < text.endIndex, text[next] == "{" else {
                out.append(contentsOf: dollar)
                i = next
                continue
            }
            guard let close = text[next...].firstIndex(of: "}") else {
                return .failure(.malformed("\"${\" without a closing \"}\"; write \"$$\" for a literal \"$\""))
            }
            let body = text[text.index(after: next)..<close]
            if keepingUser, body.starts(with: "user:".unicodeScalars) {
                guard UserSecrets.isName(Substring(body.dropFirst(5))) else {
                    return .failure(.malformed("\"\(Substring(body.dropFirst(5)))\" is not a secret name (letters, digits, '_', '-' and '.')"))
                }
                out.append(contentsOf: "${".unicodeScalars)
                out.append(contentsOf: body)
                out.append("}")
                i = text.index(after: close)
                continue
            }
            guard body.starts(with: "env:".unicodeScalars) else {
                return .failure(.malformed("\"${\(Substring(body))}\" is not supported: write ${env:NAME}, ${env:NAME:-default} or, in a server's env, headers or url, ${user:NAME}"))
            }
            let spec = body.dropFirst(4)
            var name = Substring(spec)
            var fallback: Substring? = nil
            if let colon = spec.indices.first(where: { spec[$0] == ":" && spec.index(after: $0) < spec.endIndex && spec[spec.index(after: $0)] == "-" }) {
                name = Substring(spec[..<colon])
                fallback = Substring(spec[spec.index(colon, offsetBy: 2)...])
            }
            guard isVariableName(name) else {
                return .failure(.malformed("\"\(name)\" is not an environment variable name"))
            }
            if let value = environment[String(name)] {
                out.append(contentsOf: literal(value.unicodeScalars))
            } else if let fallback {
                out.append(contentsOf: literal(fallback.unicodeScalars))
            } else {
                return .failure(.missing(String(name)))
            }
            i = text.index(after: close)
        }
        return .success(String(out))
    }

    /// True when the text takes a value from the environment rather than writing it literally.
    public static func usesEnvironment(_ text: String) -> Bool {
        // Bytes, as `expand` reads scalars: a combining mark after the `:` hides it from Characters.
        text.utf8.firstRange(of: "${env:".utf8) != nil
    }

    static func isVariableName(_ name: Substring) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { return false }
        return name.utf8.allSatisfy {
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "_")
        }
    }
}
