import Foundation
import Logging
import OrchGateway
import OrchJSON
import OrchPolicy
import Synchronization
import Testing

/// A policy file in a fresh folder, a gateway over it and a running watcher.
final class ReloadFixture: Sendable {
    let folder: URL
    let path: String
    let gateway: Gateway
    let watcher: ReloadWatcher

    init(inotify: Bool = true, layout: (URL) throws -> String = { $0.appendingPathComponent("orch.json").path }) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("orch-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        path = try layout(folder)
        gateway = Gateway(
            store: PolicyStore(source: path), audit: try AuditLog(destination: folder.appendingPathComponent("audit.jsonl").path),
            logger: Logger(label: "test"))
        watcher = ReloadWatcher(
            path: path, gateway: gateway, pollInterval: .milliseconds(100), debounce: .milliseconds(20), useInotify: inotify,
            environment: { [:] })
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    var digest: String? { gateway.store.policy?.digest }

    /// Runs `body` while the watcher runs.
    func watching(_ body: () async throws -> Void) async throws {
        watcher.reload()
        // A watcher that fails shows up as the change never arriving.
        let task = Task { try? await watcher.run() }
        defer { task.cancel() }
        try await body()
    }

    /// Waits until `condition` holds. The bound is generous because the whole test suite shares
    /// two cores: CPU-heavy tests elsewhere can hold the watcher back for seconds.
    func eventually(_ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }
}

func policyBytes(extraUser: String = "") -> Data { Data(testPolicyJSON(extraUser: extraUser).utf8) }
let erinJSON = #", "erin": { "keys": [] }"#

@Test func inPlaceWriteIsReloaded() async throws {
    let f = try ReloadFixture()
    try policyBytes().write(to: URL(fileURLWithPath: f.path))
    try await f.watching {
        let before = try #require(f.digest)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: f.path))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: policyBytes(extraUser: erinJSON))
        try handle.close()
        #expect(try await f.eventually { f.digest != before && f.gateway.store.policy?.user(named: "erin") != nil })
    }
}

@Test func writeAndRenameIsReloaded() async throws {
    let f = try ReloadFixture()
    try policyBytes().write(to: URL(fileURLWithPath: f.path))
    try await f.watching {
        let before = try #require(f.digest)
        let temp = f.folder.appendingPathComponent(".orch.json.swp")
        try policyBytes(extraUser: erinJSON).write(to: temp)
        #expect(rename(temp.path, f.path) == 0)
        #expect(try await f.eventually { f.digest != before })
    }
}

@Test func kubernetesConfigMapSymlinkSwapIsReloaded() async throws {
    // ConfigMap layout: orch.json -> ..data/orch.json, ..data -> ..v1; an update writes ..v2 and
    // renames a new ..data symlink over the old one.
    let f = try ReloadFixture { folder in
        let v1 = folder.appendingPathComponent("..v1")
        try FileManager.default.createDirectory(at: v1, withIntermediateDirectories: true)
        try policyBytes().write(to: v1.appendingPathComponent("orch.json"))
        try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("..data").path, withDestinationPath: "..v1")
        let link = folder.appendingPathComponent("orch.json").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "..data/orch.json")
        return link
    }
    try await f.watching {
        let before = try #require(f.digest)
        let v2 = f.folder.appendingPathComponent("..v2")
        try FileManager.default.createDirectory(at: v2, withIntermediateDirectories: true)
        try policyBytes(extraUser: erinJSON).write(to: v2.appendingPathComponent("orch.json"))
        let temp = f.folder.appendingPathComponent("..data_tmp").path
        try FileManager.default.createSymbolicLink(atPath: temp, withDestinationPath: "..v2")
        #expect(rename(temp, f.folder.appendingPathComponent("..data").path) == 0)
        #expect(try await f.eventually { f.digest != before })
    }
}

@Test func brokenFileKeepsTheOldPolicyAndALaterGoodFileRecovers() async throws {
    let f = try ReloadFixture()
    try policyBytes().write(to: URL(fileURLWithPath: f.path))
    try await f.watching {
        let good = try #require(f.digest)
        try Data(#"{"version": 1, "users": {"x": {"keys": [{"id": "k", "token": "plain"}]}}}"#.utf8).write(to: URL(fileURLWithPath: f.path))
        #expect(try await f.eventually { f.gateway.store.snapshot.lastReload?.ok == false })
        #expect(f.digest == good)
        let diagnostics = f.gateway.store.snapshot.lastReload?.diagnostics ?? []
        #expect(diagnostics.contains { $0.path == "users.x.keys[0].token" })
        #expect(!diagnostics.contains { $0.message.contains("plain\"") })
        #expect(String(decoding: f.gateway.metrics.render(), as: UTF8.self).contains(#"orch_reloads_total{result="error"} 1"#))

        try policyBytes(extraUser: erinJSON).write(to: URL(fileURLWithPath: f.path))
        #expect(try await f.eventually { f.digest != good && f.gateway.store.snapshot.lastReload?.ok == true })
    }
}

@Test func revertingABrokenFileToTheRunningOneClearsTheError() async throws {
    let f = try ReloadFixture()
    try policyBytes().write(to: URL(fileURLWithPath: f.path))
    try await f.watching {
        let good = try #require(f.digest)
        try Data(#"{"version": 1, "orgs": 3}"#.utf8).write(to: URL(fileURLWithPath: f.path))
        #expect(try await f.eventually { f.gateway.store.snapshot.lastReload?.ok == false })
        // Back to the very file that is running: nothing to install, and no error any more.
        try policyBytes().write(to: URL(fileURLWithPath: f.path))
        #expect(try await f.eventually { f.gateway.store.snapshot.lastReload?.ok == true })
        #expect(f.digest == good)
        #expect(f.gateway.store.snapshot.lastReload?.diagnostics.isEmpty == true)
    }
}

@Test func deletedFileKeepsTheOldPolicy() async throws {
    let f = try ReloadFixture()
    try policyBytes().write(to: URL(fileURLWithPath: f.path))
    try await f.watching {
        let good = try #require(f.digest)
        try FileManager.default.removeItem(atPath: f.path)
        #expect(try await f.eventually { f.gateway.store.snapshot.lastReload?.ok == false })
        #expect(f.digest == good)
        #expect(f.gateway.store.snapshot.lastReload?.diagnostics.first?.message.contains("no such file") == true)
    }
}

@Test func pollingFallbackSeesChangesWithoutInotify() async throws {
    let f = try ReloadFixture(inotify: false)
    try policyBytes().write(to: URL(fileURLWithPath: f.path))
    try await f.watching {
        let before = try #require(f.digest)
        try policyBytes(extraUser: erinJSON).write(to: URL(fileURLWithPath: f.path))
        #expect(try await f.eventually { f.digest != before })
    }
}

@Test func revokedKeysAndGrantsAreToldToListeners() async throws {
    let f = try ReloadFixture()
    try policyBytes().write(to: URL(fileURLWithPath: f.path))
    let changes = Mutex<[PolicyChange]>([])
    f.gateway.store.onChange { change in changes.withLock { $0.append(change) } }
    try await f.watching {
        // Bob's laptop key disappears; alice loses acme/clock (a deny rule is added to admin).
        let edited = testPolicyJSON()
            .replacingOccurrences(of: #"{ "id": "laptop", "sha256": "\#(Tokens.hash(Tokens.bob))", "expires": "2099-01-01" },"#, with: "")
            .replacingOccurrences(of: #""admin": { "allow": ["*"] }"#, with: #""admin": { "allow": ["*"], "deny": ["clock"] }"#)
        try Data(edited.utf8).write(to: URL(fileURLWithPath: f.path))
        #expect(try await f.eventually { changes.withLock { $0.count } >= 2 })
    }
    let change = try #require(changes.withLock { $0.last })
    #expect(change.revokedKeys == [KeyHash(token: Tokens.bob)])
    #expect(!change.survives(key: KeyHash(token: Tokens.alice), user: "alice", org: "acme", server: "clock"))
    #expect(change.survives(key: KeyHash(token: Tokens.alice), user: "alice", org: "acme", server: "notes"))
    #expect(!change.survives(key: KeyHash(token: Tokens.bob), user: "bob", org: "acme", server: "notes"))
    #expect(change.survives(key: KeyHash(token: Tokens.bobCI), user: "bob", org: "acme", server: "clock"))
}

@Test func aFIFOOrADeviceInPlaceOfTheFileIsRefusedAndLaterFilesStillLoad() async throws {
    let f = try ReloadFixture()
    try policyBytes().write(to: URL(fileURLWithPath: f.path))
    try await f.watching {
        let good = try #require(f.digest)
        // A FIFO renamed over the file: opening it for reading would wait for a writer forever.
        let fifo = f.folder.appendingPathComponent("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(rename(fifo, f.path) == 0)
        #expect(try await f.eventually { f.gateway.store.snapshot.lastReload?.diagnostics.first?.message.contains("is a FIFO, not a regular file") == true })
        #expect(f.digest == good)
        // A symlink to /dev/zero would be read without end.
        try FileManager.default.removeItem(atPath: f.path)
        try FileManager.default.createSymbolicLink(atPath: f.path, withDestinationPath: "/dev/zero")
        #expect(try await f.eventually { f.gateway.store.snapshot.lastReload?.diagnostics.first?.message.contains("is a character device, not a regular file") == true })
        // A regular file past the size limit is refused before it is read.
        try FileManager.default.removeItem(atPath: f.path)
        #expect(FileManager.default.createFile(atPath: f.path, contents: nil))
        #expect(truncate(f.path, 65 << 20) == 0)
        #expect(try await f.eventually { f.gateway.store.snapshot.lastReload?.diagnostics.first?.message.contains("is larger than 64 MiB") == true })
        #expect(f.digest == good)
        // The watch goes on: a valid file is loaded.
        try FileManager.default.removeItem(atPath: f.path)
        try policyBytes(extraUser: erinJSON).write(to: URL(fileURLWithPath: f.path))
        #expect(try await f.eventually { f.digest != good && f.gateway.store.snapshot.lastReload?.ok == true })
    }
}

@Test func theCommandsRefuseAFIFOWithoutWaitingForAWriter() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("orch-fifo-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let fifo = folder.appendingPathComponent("orch.json").path
    #expect(mkfifo(fifo, 0o600) == 0)
    #expect(throws: PolicyFileError.self) { try PolicyFileError.read(fifo) }
    do { _ = try PolicyFileError.read(fifo) } catch { #expect(error.reason == "is a FIFO, not a regular file: only a regular file (or a symlink to one) is read") }
    do { _ = try PolicyFileError.read("/dev/zero") } catch { #expect(error.reason.hasPrefix("is a character device")) }
    let small = folder.appendingPathComponent("small").path
    #expect(FileManager.default.createFile(atPath: small, contents: Data(repeating: 0x20, count: 100)))
    do { _ = try PolicyFileError.read(small, limit: 99) } catch { #expect(error.reason == "is larger than 99 bytes") }
    #expect(try PolicyFileError.read(small, limit: 100).count == 100)
}
