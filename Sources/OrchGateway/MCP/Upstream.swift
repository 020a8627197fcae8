/// Where a session's messages go: a process on stdio, or a remote MCP server the gateway holds its
/// own session with. Each message is one JSON-RPC message's bytes.
protocol Upstream: Sendable {
    /// Everything the upstream sends; ends when it goes away.
    var messages: AsyncStream<[UInt8]> { get }
    func send(_ message: [UInt8]) async
    /// Ends the upstream (stops the process, or ends the remote session); waits until it is done.
    func stop() async
    /// For stdio upstreams, the process id.
    var pid: Int32? { get }
    var isRunning: Bool { get }
}
