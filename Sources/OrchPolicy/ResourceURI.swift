/// Resource URIs in the one form the policy decides on and the gateway forwards: RFC 3986's
/// syntax-based normalization (section 6.2.2) and a little of its scheme-based one (6.2.3), so
/// that two spellings a server reads as one resource are decided as one.
///
/// - The scheme and the host are lowercased.
/// - A percent-encoding of an unreserved character (`A-Z a-z 0-9 - . _ ~`) is decoded; every other
///   one keeps its encoding, with uppercase hex (`%2f` becomes `%2F`, never `/`).
/// - `.` and `..` segments of a path that starts with `/` are resolved (section 5.2.4), with or
///   without an authority; a rootless path (`urn:isbn:1`, `mailto:a@b`) is opaque. A path without
///   an authority that would start with `//` once resolved is written `/.//…`, so it stays a path.
/// - An empty port and its `:` are dropped, and the leading zeros of a port. For `http`, `https`,
///   `ws` and `wss` the default port is dropped and an empty path is `/`. `file://localhost/x`
///   and `file:/x` are `file:///x` (RFC 8089). Any other empty path stays empty (`notes://index`).
/// - The query and the fragment are kept, with their percent-encodings normalized.
///
/// Refused, because servers read them in ways that differ (see `Refusal`): an empty URI, a space
/// at either end, a control character, a backslash, no scheme, a `%` without two hex digits, a
/// user part (`USER@HOST`), an authority or port that does not parse, and a path segment that
/// holds a `.` or `..` segment behind an encoded `/` or `\` (`..%2F`).
///
/// Characters outside ASCII, and ASCII that RFC 3986 does not allow (an inner space, `"`, `{`),
/// are kept as they are: they are common in the URIs servers list.
public enum ResourceURI {
    /// Why a URI is refused, as the end of a sentence ("… is refused: it is empty"). Where several
    /// apply, the first of: a control character, backslash or bad `%` (the first in the text), a
    /// surrounding space, the scheme, a user part, the authority, the port, a hidden dot segment.
    public enum Refusal: Error, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case empty
        case surroundingSpace
        case controlCharacter
        case backslash
        case noScheme
        case badPercentEncoding
        case userPart
        case badAuthority
        case badPort
        case encodedDotSegment

        public var description: String {
            switch self {
            case .empty: "it is empty"
            case .surroundingSpace: "it starts or ends with a space"
            case .controlCharacter: "it contains a control character"
            case .backslash: "it contains a backslash, which some servers read as '/'"
            case .noScheme: "it does not start with a scheme (SCHEME:…)"
            case .badPercentEncoding: "a '%' is not followed by two hex digits"
            case .userPart: "it names a user before its host (USER@HOST), which servers may ignore"
            case .badAuthority: "its host does not parse (a '[' not closed, or followed by more than :PORT)"
            case .badPort: "its port is not a number"
            case .encodedDotSegment: "an encoded '/' or '\\' (%2F, %5C) hides a '.' or '..' segment, which a server that decodes it would resolve"
            }
        }
    }

    /// The normal form of `uri`, or why it is refused. A URI already in normal form comes back as
    /// it is, and then nothing is allocated on the heap (for URIs up to about a kilobyte).
    public static func normalize(_ uri: String) -> Result<String, Refusal> {
        var text = uri
        let outcome: Result<String?, Refusal> = text.withUTF8 { input in
            Writer.withBuffer(capacity: input.count + 4) { writer in
                if let refusal = write(input, to: &writer, glob: false) { return .failure(refusal) }
                if writer.written.elementsEqual(input) { return .success(nil) }
                return .success(String(decoding: writer.written, as: UTF8.self))
            }
        }
        return outcome.map { $0 ?? uri }
    }

    /// Writes the normal form of `b`. In a glob (`glob`), `*` is an ordinary character of the path,
    /// query and fragment (the caller checks it stands in no other part), a `%` next to a `*` is
    /// kept as it is, and a `.` or `..` segment after a segment with a `*` cannot be resolved.
    static func write(_ b: UnsafeBufferPointer<UInt8>, to w: inout Writer, glob: Bool) -> Refusal? {
        if let refusal = characterRefusal(b, glob: glob) { return refusal }
        let n = b.count
        // The scheme.
        var i = 0
        while i < n, b[i] != ASCII.colon {
            guard ASCII.isAlpha(b[i]) || (i > 0 && ASCII.isSchemeCharacter(b[i])) else { return .noScheme }
            i += 1
        }
        guard i > 0, i < n else { return .noScheme }
        for j in 0..<i { w.append(ASCII.lowercased(b[j])) }
        w.append(ASCII.colon)
        let scheme = Scheme(w.written)
        i += 1

        // The authority.
        var hasAuthority = false
        if i + 1 < n, b[i] == ASCII.slash, b[i + 1] == ASCII.slash {
            hasAuthority = true
            let start = i + 2
            var end = start
            while end < n, !ASCII.endsAuthority(b[end]) { end += 1 }
            if let refusal = writeAuthority(b, start..<end, scheme: scheme, to: &w) { return refusal }
            i = end
        } else if scheme == .file, i < n, b[i] == ASCII.slash {
            w.append(ASCII.slash)
            w.append(ASCII.slash)
            hasAuthority = true
        }

        // The path.
        var end = i
        while end < n, b[end] != ASCII.question, b[end] != ASCII.hash { end += 1 }
        let pathStart = w.count
        writePercentNormalized(b, i..<end, to: &w, lowercase: false)
        if w.count > pathStart, w[pathStart] == ASCII.slash {
            if glob, DotSegments.followStar(w, from: pathStart) {
                w.unresolvedDotSegments = true
            } else {
                w.count = DotSegments.remove(&w, from: pathStart)
            }
        }
        if hasAuthority, scheme.isSpecial, w.count == pathStart { w.append(ASCII.slash) }
        if !hasAuthority, w.count - pathStart >= 2, w[pathStart] == ASCII.slash, w[pathStart + 1] == ASCII.slash {
            w.insert([ASCII.slash, ASCII.dot], at: pathStart)
        }
        if !glob, DotSegments.hiddenBehindEncodedSlash(w, from: pathStart) { return .encodedDotSegment }

        // The query and the fragment.
        writePercentNormalized(b, end..<n, to: &w, lowercase: false)
        return nil
    }

    /// Refusals that concern single characters wherever they stand, the first one found: a
    /// control character, a backslash, a `%` without two hex digits (in a glob, one next to a
    /// `*` is kept); then a space at either end.
    static func characterRefusal(_ b: UnsafeBufferPointer<UInt8>, glob: Bool) -> Refusal? {
        guard let first = b.first, let last = b.last else { return .empty }
        var previous: UInt8 = 0
        for (index, byte) in b.enumerated() {
            if byte < 0x20 || byte == 0x7F { return .controlCharacter }
            // C1 controls (U+0080…U+009F) are 0xC2 0x80…0x9F in UTF-8.
            if previous == 0xC2, (0x80...0x9F).contains(byte) { return .controlCharacter }
            if byte == ASCII.backslash { return .backslash }
            if byte == ASCII.percent, !isPercentEncoding(b, at: index) {
                if !(glob && b[(index + 1)..<min(index + 3, b.count)].contains(ASCII.star)) { return .badPercentEncoding }
            }
            previous = byte
        }
        if first == ASCII.space || last == ASCII.space { return .surroundingSpace }
        return nil
    }

    private static func isPercentEncoding(_ b: UnsafeBufferPointer<UInt8>, at index: Int) -> Bool {
        index + 2 < b.count && ASCII.hexValue(b[index + 1]) != nil && ASCII.hexValue(b[index + 2]) != nil
    }

    /// `//` and the authority `b[range]`: no user part, the host lowercased (`localhost` dropped
    /// for `file`), the port without leading zeros and without the scheme's default.
    private static func writeAuthority(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, scheme: Scheme, to w: inout Writer) -> Refusal? {
        if b[range].contains(ASCII.at) { return .userPart }
        var hostEnd = range.upperBound
        if range.lowerBound < range.upperBound, b[range.lowerBound] == ASCII.openBracket {
            guard let close = b[range].firstIndex(of: ASCII.closeBracket) else { return .badAuthority }
            hostEnd = close + 1
            if hostEnd < range.upperBound, b[hostEnd] != ASCII.colon { return .badAuthority }
        } else if let colon = b[range].firstIndex(of: ASCII.colon) {
            hostEnd = colon
        }
        let port = hostEnd < range.upperBound ? (hostEnd + 1)..<range.upperBound : nil
        if let port, !b[port].allSatisfy(ASCII.isDigit) { return .badPort }

        w.append(ASCII.slash)
        w.append(ASCII.slash)
        let hostStart = w.count
        writePercentNormalized(b, range.lowerBound..<hostEnd, to: &w, lowercase: true)
        if scheme == .file, w.written[hostStart...].elementsEqual("localhost".utf8) { w.count = hostStart }
        guard let port else { return nil }
        var digits = b[port].drop { $0 == ASCII.zero }
        if digits.isEmpty, !port.isEmpty { digits = b[(port.upperBound - 1)..<port.upperBound] }  // "000" is port 0
        if digits.isEmpty || (scheme.defaultPort.map { digits.elementsEqual($0.utf8) } ?? false) { return nil }
        w.append(ASCII.colon)
        for digit in digits { w.append(digit) }
        return nil
    }

    /// `b[range]` with each percent-encoding of an unreserved character decoded and every other
    /// one in uppercase hex; letters lowercased when `lowercase` (a host), hex digits never. A `%`
    /// without two hex digits (only in a glob, next to a `*`) is kept as it is.
    static func writePercentNormalized(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, to w: inout Writer, lowercase: Bool) {
        var j = range.lowerBound
        while j < range.upperBound {
            let byte = b[j]
            guard byte == ASCII.percent, j + 2 < range.upperBound, let high = ASCII.hexValue(b[j + 1]), let low = ASCII.hexValue(b[j + 2]) else {
                w.append(lowercase ? ASCII.lowercased(byte) : byte)
                j += 1
                continue
            }
            let value = high << 4 | low
            if ASCII.isUnreserved(value) {
                w.append(lowercase ? ASCII.lowercased(value) : value)
            } else {
                w.append(ASCII.percent)
                w.append(ASCII.upperHex(high))
                w.append(ASCII.upperHex(low))
            }
            j += 3
        }
    }

    /// The schemes whose own normalization applies.
    enum Scheme: Equatable {
        case http, https, ws, wss, file, other

        private static let named: [(Scheme, [UInt8])] = [
            (.http, Array("http:".utf8)), (.https, Array("https:".utf8)), (.ws, Array("ws:".utf8)), (.wss, Array("wss:".utf8)),
            (.file, Array("file:".utf8)),
        ]

        /// From the lowercased scheme and its ':'.
        init(_ written: UnsafeBufferPointer<UInt8>) {
            self = Self.named.first { written.elementsEqual($0.1) }?.0 ?? .other
        }

        var isSpecial: Bool { defaultPort != nil }

        var defaultPort: String? {
            switch self {
            case .http, .ws: "80"
            case .https, .wss: "443"
            case .file, .other: nil
            }
        }
    }
}
