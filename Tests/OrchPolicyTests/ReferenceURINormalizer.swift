import OrchPolicy

// A second, deliberately plain reading of the normal form of resource URIs (RFC 3986 sections
// 5.2.4 and 6, and the refusals in ResourceURI's documentation), written from the text alone. It
// shares no code with OrchPolicy: it splits the URI as Appendix B does, works on arrays of Unicode
// scalars, and runs remove_dot_segments step by step on an input and an output buffer. Only the
// names of the refusals are shared, to compare them.

enum ReferenceURI {
    typealias Scalars = [Unicode.Scalar]

    static func normalize(_ uri: String) -> Result<String, ResourceURI.Refusal> {
        let s = Scalars(uri.unicodeScalars)
        if s.isEmpty { return .failure(.empty) }
        for (i, c) in s.enumerated() {
            if c.value < 0x20 || c.value == 0x7F || (0x80...0x9F).contains(c.value) { return .failure(.controlCharacter) }
            if c == "\\" { return .failure(.backslash) }
            if c == "%" && !(i + 2 < s.count && isHex(s[i + 1]) && isHex(s[i + 2])) { return .failure(.badPercentEncoding) }
        }
        if s.first == " " || s.last == " " { return .failure(.surroundingSpace) }

        // Appendix B: scheme ":" ["//" authority] path ["?" query] ["#" fragment].
        guard let colon = s.firstIndex(where: { ":/?#".unicodeScalars.contains($0) }), s[colon] == ":", colon > 0 else {
            return .failure(.noScheme)
        }
        let schemeText = s[..<colon]
        guard isLetter(schemeText.first!), schemeText.allSatisfy({ isLetter($0) || isDigit($0) || "+-.".unicodeScalars.contains($0) }) else {
            return .failure(.noScheme)
        }
        let scheme = String(String.UnicodeScalarView(schemeText)).lowercased()
        var rest = Scalars(s[(colon + 1)...])
        var authority: Scalars? = nil
        if rest.starts(with: Scalars("//".unicodeScalars)) {
            rest.removeFirst(2)
            let end = rest.firstIndex { "/?#".unicodeScalars.contains($0) } ?? rest.count
            authority = Scalars(rest[..<end])
            rest.removeFirst(end)
        }
        let pathEnd = rest.firstIndex { $0 == "?" || $0 == "#" } ?? rest.count
        var path = Scalars(rest[..<pathEnd])
        let queryAndFragment = Scalars(rest[pathEnd...])

        // The authority: no user part; host, then ":" and a port of digits.
        var host: Scalars? = nil
        var port: Scalars? = nil
        if let authority {
            if authority.contains("@") { return .failure(.userPart) }
            if authority.first == "[" {
                guard let close = authority.firstIndex(of: "]") else { return .failure(.badAuthority) }
                host = Scalars(authority[...close])
                let after = authority[(close + 1)...]
                if !after.isEmpty {
                    guard after.first == ":" else { return .failure(.badAuthority) }
                    port = Scalars(after.dropFirst())
                }
            } else if let c = authority.firstIndex(of: ":") {
                host = Scalars(authority[..<c])
                port = Scalars(authority[(c + 1)...])
            } else {
                host = authority
            }
            if let port, !port.allSatisfy(isDigit) { return .failure(.badPort) }
        }
        let defaultPort = ["http": "80", "ws": "80", "https": "443", "wss": "443"][scheme]

        var out = scheme + ":"
        if var h = host.map({ lowercaseOutsideEncodings(percentNormalized($0)) }) {
            if scheme == "file" && string(h) == "localhost" { h = [] }
            out += "//" + string(h)
            if var digits = port {
                while digits.count > 1 && digits.first == "0" { digits.removeFirst() }
                if !digits.isEmpty && string(digits) != defaultPort { out += ":" + string(digits) }
            }
        } else if scheme == "file" && path.first == "/" {
            out += "//"
            host = []
        }
        path = percentNormalized(path)
        if path.first == "/" { path = removeDotSegments(path) }
        if host != nil && defaultPort != nil && path.isEmpty { path = ["/"] }
        if host == nil && path.starts(with: Scalars("//".unicodeScalars)) { path = Scalars("/.".unicodeScalars) + path }
        if hidesDotSegment(path) { return .failure(.encodedDotSegment) }
        return .success(out + string(path) + string(percentNormalized(queryAndFragment)))
    }

    /// RFC 3986 section 5.2.4, step by step.
    static func removeDotSegments(_ path: Scalars) -> Scalars {
        func s(_ text: String) -> Scalars { Scalars(text.unicodeScalars) }
        var input = path
        var output: Scalars = []
        while !input.isEmpty {
            if input.starts(with: s("../")) {
                input.removeFirst(3)
            } else if input.starts(with: s("./")) {
                input.removeFirst(2)
            } else if input.starts(with: s("/./")) {
                input = s("/") + input.dropFirst(3)
            } else if input == s("/.") {
                input = s("/")
            } else if input.starts(with: s("/../")) {
                input = s("/") + input.dropFirst(4)
                removeLastSegment(&output)
            } else if input == s("/..") {
                input = s("/")
                removeLastSegment(&output)
            } else if input == s(".") || input == s("..") {
                input = []
            } else {
                var segment = 0
                if input.first == "/" { segment = 1 }
                while segment < input.count && input[segment] != "/" { segment += 1 }
                output += input[..<segment]
                input.removeFirst(segment)
            }
        }
        return output
    }

    /// "the last segment in the output buffer and its preceding '/' (if any)".
    static func removeLastSegment(_ output: inout Scalars) {
        if let slash = output.lastIndex(of: "/") { output.removeSubrange(slash...) } else { output = [] }
    }

    /// Every `%XX` in uppercase hex, decoded when it encodes an unreserved character.
    static func percentNormalized(_ text: Scalars) -> Scalars {
        var out: Scalars = []
        var i = 0
        while i < text.count {
            if text[i] == "%" && i + 2 < text.count && isHex(text[i + 1]) && isHex(text[i + 2]) {
                let hex = String(String.UnicodeScalarView(text[(i + 1)...(i + 2)]))
                let value = UInt8(hex, radix: 16)!
                let c = Unicode.Scalar(value)
                if isLetter(c) || isDigit(c) || "-._~".unicodeScalars.contains(c) {
                    out.append(c)
                } else {
                    out += Scalars(("%" + hex.uppercased()).unicodeScalars)
                }
                i += 3
            } else {
                out.append(text[i])
                i += 1
            }
        }
        return out
    }

    /// ASCII letters lowercased, except the hex digits of a `%XX`.
    static func lowercaseOutsideEncodings(_ text: Scalars) -> Scalars {
        var out: Scalars = []
        var keep = 0
        for c in text {
            if c == "%" { keep = 3 }
            if keep > 0 {
                out.append(c)
                keep -= 1
            } else {
                out.append(("A"..."Z").contains(c) ? Unicode.Scalar(c.value + 32)! : c)
            }
        }
        return out
    }

    /// A segment with an encoded `/` or `\` whose pieces between them include `.` or `..`.
    static func hidesDotSegment(_ path: Scalars) -> Bool {
        for segment in path.split(separator: "/", omittingEmptySubsequences: false) {
            var pieces: [Scalars] = [[]]
            var i = segment.startIndex
            while i < segment.endIndex {
                let three = string(Scalars(segment[i..<min(i + 3, segment.endIndex)]))
                if three == "%2F" || three == "%5C" {
                    pieces.append([])
                    i += 3
                } else {
                    pieces[pieces.count - 1].append(segment[i])
                    i += 1
                }
            }
            if pieces.count > 1 && pieces.contains(where: { $0 == ["."] || $0 == [".", "."] }) { return true }
        }
        return false
    }

    static func string(_ scalars: Scalars) -> String { String(String.UnicodeScalarView(scalars)) }
    static func isHex(_ c: Unicode.Scalar) -> Bool { isDigit(c) || ("a"..."f").contains(c) || ("A"..."F").contains(c) }
    static func isDigit(_ c: Unicode.Scalar) -> Bool { ("0"..."9").contains(c) }
    static func isLetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
}
