import Testing

@testable import OrchGateway

// Found by the `sse` fuzz target (Fuzz/): a chunk that ended on the CR of a CRLF lost its line, and
// the CRLF then read as a blank line, which ended the event early.

@Test func aCRLFSplitAcrossChunksKeepsItsLine() throws {
    let stream = Array("event: endpoint\r\ndata: /messages?sessionId=abc\r\n\r\n".utf8)
    for split in 1..<stream.count {
        var parser = SSEParser()
        let events = try parser.feed(stream[..<split]) + parser.feed(stream[split...])
        #expect(events == [SSEParser.Event(name: "endpoint", data: Array("/messages?sessionId=abc".utf8))], "split at \(split)")
    }
}

@Test func everyByteInItsOwnChunkReadsAsTheWholeStream() throws {
    let stream = Array("data: {\r\ndata:  \"a\": 1\r\ndata: }\r\n\r\n: keep-alive\r\n\r\nevent: x\rdata\r\r".utf8)
    var whole = SSEParser()
    var bytewise = SSEParser()
    let expected = try whole.feed(stream)
    let events = try stream.flatMap { try bytewise.feed([$0]) }
    #expect(events == expected)
    #expect(expected.first == SSEParser.Event(name: "message", data: Array("{\n \"a\": 1\n}".utf8)))
}
