import Foundation
import Glibc
import Testing

/// `orch serve` started in the background: its stderr is read until it says something, then it is
/// stopped with SIGTERM (or killed, if it does not stop).
private final class ServeProcess {
    private let process = Process()
    private let errURL: URL

    init(_ arguments: [String], in sandbox: Sandbox) throws {
        errURL = sandbox.directory.appendingPathComponent("serve-\(UUID().uuidString).stderr")
        try Data().write(to: errURL)
        process.executableURL = OrchBinary.url
        process.arguments = ["serve"] + arguments
        process.currentDirectoryURL = sandbox.directory
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": sandbox.directory.path, "LANG": "C.UTF-8"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: errURL)
        try process.run()
    }

    var stderr: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    /// Waits up to `seconds` for `done` to hold of stderr, or for the process to exit.
    func wait(seconds: Double, until done: (String) -> Bool) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline && process.isRunning && !done(stderr) { usleep(50_000) }
    }

    /// Stops it and returns its exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit { stop() }
}

/// A TCP socket listening on a free loopback port, so that the port is busy.
private struct BusyPort: ~Copyable {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

@Suite(.serialized) struct ServeCommandTests {
    @Test func aBusyPortIsOneLineAndStatus2() throws {
        let busy = try BusyPort()
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let serve = try ServeProcess(["--listen", "127.0.0.1:\(busy.port)"], in: sandbox)
        serve.wait(seconds: 20) { _ in false }
        let status = serve.stop()
        #expect(status == 2)
        let lines = serve.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains("orch: cannot listen on 127.0.0.1:\(busy.port): address in use (use --listen HOST:PORT)"))
        #expect(!serve.stderr.contains("Error:"))
        #expect(!serve.stderr.contains("errno"))
    }

    @Test func aBusyPortFromTheFileIsReportedTheSameWay() throws {
        let busy = try BusyPort()
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy.replacingOccurrences(of: #""version": 1,"#, with: #""version": 1, "gateway": { "listen": "127.0.0.1:\#(busy.port)" },"#))
        let serve = try ServeProcess([], in: sandbox)
        serve.wait(seconds: 20) { _ in false }
        #expect(serve.stop() == 2)
        #expect(serve.stderr.contains("orch: cannot listen on 127.0.0.1:\(busy.port): address in use (use --listen HOST:PORT)\n"))
    }

    @Test func startingOnAnInvalidFileSaysNotReadyOnceWithEachDiagnosticOnce() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy.replacingOccurrences(of: #""version": 1,"#, with: #""version": 1, "rolez": {},"#))
        let serve = try ServeProcess(["--listen", "127.0.0.1:0"], in: sandbox)
        serve.wait(seconds: 20) { $0.contains("orch is serving") }
        // The watcher's first look at the file comes right after start: give it time to (not) repeat.
        Thread.sleep(forTimeInterval: 1.5)
        serve.stop()
        let lines = serve.stderr.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.contains("orch is serving") }, "\(serve.stderr)")
        #expect(lines.filter { $0.contains(#"unknown key "rolez""#) }.count == 1, "\(serve.stderr)")
        #expect(lines.filter { $0.hasSuffix("orch.json does not compile (1 error); not ready: waiting for a valid orch.json") }.count == 1, "\(serve.stderr)")
        #expect(!serve.stderr.contains("keeping the running policy"))
        #expect(!serve.stderr.contains("errors)"))
    }

    @Test func withoutAStateKeyTheLogSaysReplicasAndRestartsNeedOne() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let serve = try ServeProcess(["--listen", "127.0.0.1:0"], in: sandbox)
        serve.wait(seconds: 20) { $0.contains("gateway.stateKey is not set") }
        serve.stop()
        #expect(serve.stderr.contains("gateway.stateKey is not set: the state this gateway hands out (session ids, requestState) is sealed with a random key of this process, which no other replica has and a restart forgets; replicas and restarts need one"), "\(serve.stderr)")
        // With one, nothing is said of it (and the key itself never is).
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        try sandbox.write("orch.json", Fixtures.policy.replacingOccurrences(of: #""version": 1,"#, with: #""version": 1, "gateway": { "stateKey": "\#(key)" },"#))
        let keyed = try ServeProcess(["--listen", "127.0.0.1:0"], in: sandbox)
        keyed.wait(seconds: 20) { $0.contains("orch is serving") }
        Thread.sleep(forTimeInterval: 0.3)
        keyed.stop()
        #expect(keyed.stderr.contains("orch is serving"), "\(keyed.stderr)")
        #expect(!keyed.stderr.contains("gateway.stateKey is not set") && !keyed.stderr.contains(key), "\(keyed.stderr)")
    }

    @Test func aConnectionsFolderThatCannotBeWrittenIsSaidAtStart() throws {
        let sandbox = try Sandbox()
        try sandbox.write("blocked", "a file where the folder would go")
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        let policy = #"""
            { "version": 1, "gateway": { "stateKey": "\#(key)", "connections": "CONNECTIONS" },
              "roles": { "dev": { "allow": ["tickets"] } },
              "orgs": { "acme": { "members": { "bob": "dev" }, "servers": { "tickets": { "url": "https://mcp.tickets.example/mcp",
                "oauth": { "client": { "id": "orch" }, "authorizationServer": "https://login.tickets.example" } } } } },
              "users": { "bob": {} } }
            """#
        try sandbox.write("orch.json", policy.replacingOccurrences(of: "CONNECTIONS", with: "blocked/connections"))
        let blocked = try ServeProcess(["--listen", "127.0.0.1:0"], in: sandbox)
        blocked.wait(seconds: 20) { $0.contains("connected accounts are off") }
        blocked.stop()
        #expect(blocked.stderr.contains("connected accounts are off: the connections folder (gateway.connections) cannot be written: "), "\(blocked.stderr)")
        // A folder that can be: made at start (mode 0700), nothing said.
        try sandbox.write("orch.json", policy.replacingOccurrences(of: "CONNECTIONS", with: "state/connections"))
        let fine = try ServeProcess(["--listen", "127.0.0.1:0"], in: sandbox)
        fine.wait(seconds: 20) { $0.contains("orch is serving") }
        Thread.sleep(forTimeInterval: 0.3)
        fine.stop()
        #expect(!fine.stderr.contains("connected accounts are off"), "\(fine.stderr)")
        #expect((try FileManager.default.attributesOfItem(atPath: sandbox.path("state/connections"))[.posixPermissions] as? Int) == 0o700)
    }

    @Test func anInvalidFileIsWaitedForAtItsOwnListenAddress() throws {
        let port = try { () throws -> Int in let busy = try BusyPort(); return busy.port }()
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy.replacingOccurrences(
            of: #""version": 1,"#, with: #""version": 1, "rolez": {}, "gateway": { "listen": "127.0.0.1:\#(port)" },"#))
        let serve = try ServeProcess([], in: sandbox)
        serve.wait(seconds: 20) { $0.contains("orch is serving") }
        serve.stop()
        #expect(serve.stderr.contains("on http://127.0.0.1:\(port)"), "\(serve.stderr)")
        #expect(!serve.stderr.contains("8080"), "\(serve.stderr)")
    }

    @Test func aFileThatSaysNothingReadableOfWhereToListenNeedsListen() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", #"{"version": 1, "gateway": {"listen": "everywhere"}}"#)
        let invalid = try ServeProcess([], in: sandbox)
        invalid.wait(seconds: 20) { _ in false }
        #expect(invalid.stop() == 2)
        #expect(invalid.stderr.contains("orch: gateway.listen everywhere in orch.json is not HOST:PORT: fix it, or pass --listen HOST:PORT\n"), "\(invalid.stderr)")
        try sandbox.write("orch.json", #"{"version": 1,"#)
        let broken = try ServeProcess([], in: sandbox)
        broken.wait(seconds: 20) { _ in false }
        #expect(broken.stop() == 2)
        #expect(broken.stderr.contains("orch: orch.json: is not a JSON object, so its gateway.listen is unknown: pass --listen HOST:PORT to wait for it there\n"), "\(broken.stderr)")
        let absent = try ServeProcess(["absent.json"], in: sandbox)
        absent.wait(seconds: 20) { _ in false }
        #expect(absent.stop() == 2)
        #expect(absent.stderr.contains("orch: absent.json: no such file, so its gateway.listen is unknown"), "\(absent.stderr)")
        // With --listen it waits there, as before.
        let waiting = try ServeProcess(["absent.json", "--listen", "127.0.0.1:0"], in: sandbox)
        waiting.wait(seconds: 20) { $0.contains("orch is serving") }
        #expect(waiting.stop() == 0)
        #expect(waiting.stderr.contains("cannot read absent.json: no such file; waiting for it"), "\(waiting.stderr)")
    }

}
