/// Splits a text/event-stream into events (WHATWG rules that matter here: `event:` and `data:`
/// fields, multi-line data joined by newlines, a blank line dispatches, `:` comments ignored).
struct SSEParser {
    struct Event: Equatable {
        var name: String
        var data: [UInt8]
    }

    /// The largest event (or unfinished line) kept; a stream that passes it is refused.
    let maxEventBytes: Int
    private var buffer: [UInt8] = []
    private var name = ""
    private var data: [UInt8] = []
    private var hasData = false

    init(maxEventBytes: Int = 16 << 20) {
        self.maxEventBytes = maxEventBytes
    }

    /// Feeds bytes; returns the events they complete. Throws once an event, or a line without its
    /// end, grows past `maxEventBytes`.
    mutating func feed(_ bytes: some Collection<UInt8>) throws(UpstreamError) -> [Event] {
        guard buffer.count + bytes.count + data.count <= maxEventBytes else {
            throw .flooded("the server sent an event over \(maxEventBytes >> 20) MiB")
        }
        buffer.append(contentsOf: bytes)
        var events: [Event] = []
        var start = 0
        while let end = buffer[start...].firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) {
            var line = buffer[start..<end]
            start = end + 1
            if buffer[end] == 0x0D {
                if start < buffer.count && buffer[start] == 0x0A { start += 1 } else if start == buffer.count {
                    // A CR at the end of this chunk: the LF may come next; read the line again
                    // then (keeping only the CR would lose the line and make CRLF a blank line).
                    start = line.startIndex
                    break
                }
            }
            if line.isEmpty {
                if hasData { events.append(Event(name: name.isEmpty ? "message" : name, data: data)) }
                name = ""
                data = []
                hasData = false
                continue
            }
            if line.first == UInt8(ascii: ":") { continue }
            let colon = line.firstIndex(of: UInt8(ascii: ":"))
            let field = String(decoding: colon.map { line[line.startIndex..<$0] } ?? line, as: UTF8.self)
            if let colon {
                line = line[(colon + 1)...]
                if line.first == UInt8(ascii: " ") { line = line.dropFirst() }
            } else {
                line = line[line.endIndex...]
            }
            switch field {
            case "event": name = String(decoding: line, as: UTF8.self)
            case "data":
                if hasData { data.append(0x0A) }
                data.append(contentsOf: line)
                hasData = true
            default: break
            }
        }
        buffer.removeFirst(start)
        return events
    }
}
