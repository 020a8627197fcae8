import HTTPTypes
import Hummingbird
import NIOCore

/// Server-sent events, written one way for every stream the gateway serves.
enum SSEEncoder {
    static let headers: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache",
        // Tells nginx-style proxies not to buffer the stream.
        HTTPField.Name("X-Accel-Buffering")!: "no",
    ]
    static let keepAliveComment = ByteBuffer(string: ": keep-alive\n\n")

    /// One `message` event. Each line of the payload gets its own `data:` line, so a payload with
    /// line breaks (pretty-printed JSON from a remote server) can neither break the stream nor
    /// inject fields or events into it.
    static func event(_ message: [UInt8], name: String = "message") -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(message.count + name.utf8.count + 16)
        buffer.writeString("event: \(name)\n")
        if !message.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
            buffer.writeStaticString("data: ")
            buffer.writeBytes(message)
            buffer.writeStaticString("\n\n")
            return buffer
        }
        var start = message.startIndex
        var index = message.startIndex
        while index <= message.endIndex {
            if index == message.endIndex || message[index] == 0x0A || message[index] == 0x0D {
                buffer.writeStaticString("data: ")
                buffer.writeBytes(message[start..<index])
                buffer.writeStaticString("\n")
                // CRLF is one line break.
                if index < message.endIndex, message[index] == 0x0D, index + 1 < message.endIndex, message[index + 1] == 0x0A { index += 1 }
                start = index + 1
            }
            index += 1
        }
        buffer.writeStaticString("\n")
        return buffer
    }

    /// A complete SSE body of fixed events.
    static func response(events: [[UInt8]]) -> Response {
        var body = ByteBuffer()
        for message in events {
            var event = event(message)
            body.writeBuffer(&event)
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: body))
    }

    /// An SSE response that carries `queue` until it ends or the client goes away, with a
    /// keep-alive comment whenever the queue is woken for one; `closed` runs once at the end.
    static func response(queue: MessageQueue, first: ByteBuffer? = nil, closed: @escaping @Sendable () -> Void = {}) -> Response {
        let body = ResponseBody { writer in
            defer {
                queue.hangUp()
                closed()
            }
            if let first { try await writer.write(first) }
            loop: while true {
                switch await queue.next() {
                case .message(let message): try await writer.write(event(message))
                case .keepAlive: try await writer.write(keepAliveComment)
                case .end: break loop
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
