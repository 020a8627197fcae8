extension ResourceURI {
    /// The bytes of a normal form as they are written, in a buffer the caller sized (a normal form
    /// is at most 2 bytes longer than what it is written from).
    struct Writer {
        private let buffer: UnsafeMutableBufferPointer<UInt8>
        var count = 0
        /// In a glob: a `.` or `..` segment after a segment with a `*` was left as written.
        var unresolvedDotSegments = false

        /// Runs `body` with a writer over a buffer on the stack (on the heap when large).
        static func withBuffer<R>(capacity: Int, _ body: (inout Writer) -> R) -> R {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
                var writer = Writer(buffer: buffer)
                return body(&writer)
            }
        }

        private init(buffer: UnsafeMutableBufferPointer<UInt8>) {
            self.buffer = buffer
        }

        var written: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: buffer[..<count]) }

        subscript(index: Int) -> UInt8 {
            get { buffer[index] }
            set { buffer[index] = newValue }
        }

        mutating func append(_ byte: UInt8) {
            buffer[count] = byte
            count += 1
        }

        /// Inserts `bytes` at `index`, moving what follows.
        mutating func insert(_ bytes: [UInt8], at index: Int) {
            var from = count - 1
            while from >= index {
                buffer[from + bytes.count] = buffer[from]
                from -= 1
            }
            for (offset, byte) in bytes.enumerated() { buffer[index + offset] = byte }
            count += bytes.count
        }
    }

    /// Work on the path at the end of a writer, from `start` (a `/`) on.
    enum DotSegments {
        /// Resolves `.` and `..` in place and returns the new end: each segment is copied down
        /// unless it is `.` (dropped) or `..` (which drops the last segment copied); either as the
        /// last segment leaves a trailing `/`.
        static func remove(_ w: inout Writer, from start: Int) -> Int {
            let end = w.count
            var read = start, write = start
            while read < end {
                // w[read] is the '/' before a segment.
                var next = read + 1
                while next < end, w[next] != ASCII.slash { next += 1 }
                let length = next - read - 1
                let isLast = next == end
                let isDot = length == 1 && w[read + 1] == ASCII.dot
                let isDotDot = length == 2 && w[read + 1] == ASCII.dot && w[read + 2] == ASCII.dot
                if isDot || isDotDot {
                    if isDotDot {
                        while write > start {
                            write -= 1
                            if w[write] == ASCII.slash { break }
                        }
                    }
                    if isLast {
                        w[write] = ASCII.slash
                        write += 1
                    }
                } else {
                    for index in read..<next {
                        w[write] = w[index]
                        write += 1
                    }
                }
                read = next
            }
            return write
        }

        /// In a glob: whether a `.` or `..` segment follows a segment with a `*`, which may stand
        /// for any number of segments, so the dot segment cannot be resolved.
        static func followStar(_ w: Writer, from start: Int) -> Bool {
            var starSeen = false
            var segmentStart = start + 1
            for index in (start + 1)...w.count where index == w.count || w[index] == ASCII.slash {
                let segment = UnsafeBufferPointer(rebasing: w.written[segmentStart..<index])
                if starSeen, segment.elementsEqual([ASCII.dot]) || segment.elementsEqual([ASCII.dot, ASCII.dot]) { return true }
                if segment.contains(ASCII.star) { starSeen = true }
                segmentStart = index + 1
            }
            return false
        }

        /// Whether a segment, cut at its `%2F` and `%5C` (a normal form has uppercase hex), has a
        /// piece that is `.` or `..`: a piece between two real `/` is a segment, resolved already.
        static func hiddenBehindEncodedSlash(_ w: Writer, from start: Int) -> Bool {
            func isEncodedSlash(at index: Int) -> Bool {
                index + 2 < w.count && w[index] == ASCII.percent
                    && ((w[index + 1] == UInt8(ascii: "2") && w[index + 2] == UInt8(ascii: "F"))
                        || (w[index + 1] == UInt8(ascii: "5") && w[index + 2] == UInt8(ascii: "C")))
            }
            var index = start, pieceStart = start
            var afterRealSlash = true
            while index <= w.count {
                let encoded = index < w.count && isEncodedSlash(at: index)
                guard index == w.count || w[index] == ASCII.slash || encoded else {
                    index += 1
                    continue
                }
                let length = index - pieceStart
                let isDots = (length == 1 || length == 2) && (pieceStart..<index).allSatisfy { w[$0] == ASCII.dot }
                if isDots && (encoded || !afterRealSlash) { return true }
                afterRealSlash = !encoded
                index += encoded ? 3 : 1
                pieceStart = index
            }
            return false
        }
    }

    /// The bytes the normalizer looks at.
    enum ASCII {
        static let colon = UInt8(ascii: ":"), slash = UInt8(ascii: "/"), question = UInt8(ascii: "?"), hash = UInt8(ascii: "#")
        static let at = UInt8(ascii: "@"), percent = UInt8(ascii: "%"), dot = UInt8(ascii: "."), star = UInt8(ascii: "*")
        static let space = UInt8(ascii: " "), backslash = UInt8(ascii: "\\"), zero = UInt8(ascii: "0")
        static let openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]")

        static func isAlpha(_ b: UInt8) -> Bool { (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) }
        static func isDigit(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) }

        static func isSchemeCharacter(_ b: UInt8) -> Bool {
            isAlpha(b) || isDigit(b) || b == UInt8(ascii: "+") || b == UInt8(ascii: "-") || b == dot
        }

        static func isUnreserved(_ b: UInt8) -> Bool {
            isAlpha(b) || isDigit(b) || b == UInt8(ascii: "-") || b == dot || b == UInt8(ascii: "_") || b == UInt8(ascii: "~")
        }

        static func endsAuthority(_ b: UInt8) -> Bool { b == slash || b == question || b == hash }

        static func lowercased(_ b: UInt8) -> UInt8 { (0x41...0x5A).contains(b) ? b + 0x20 : b }

        static func hexValue(_ b: UInt8) -> UInt8? {
            switch b {
            case 0x30...0x39: b - 0x30
            case 0x41...0x46: b - 0x41 + 10
            case 0x61...0x66: b - 0x61 + 10
            default: nil
            }
        }

        static func upperHex(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x41 + value - 10 }
    }
}
