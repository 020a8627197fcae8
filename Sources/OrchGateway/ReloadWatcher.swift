public import Foundation
public import Logging
public import OrchPolicy
public import ServiceLifecycle
import Synchronization
import UnixSignals

/// Reloads the policy when its file changes, as a service beside the HTTP server.
///
/// It watches the file's folder with inotify (so in-place writes, write-and-rename, `git checkout`
/// and ConfigMap `..data` symlink swaps are all seen), polls as a fallback, and reloads on SIGHUP
/// (which also reopens the audit log). Bursts are debounced. Each reload runs the same compile as
/// `orch check`; a file that fails leaves the running policy in place.
public final class ReloadWatcher: Service, Sendable {
    public let path: String
    let gateway: Gateway
    let pollInterval: Duration
    let debounce: Duration
    let useInotify: Bool
    let environment: @Sendable () -> [String: String]
    /// The fingerprint of the file as last read, so that a change between two looks is never missed.
    private let lastRead = Mutex<FileFingerprint?>(nil)
    /// `orch.lock.json` beside the file, and its fingerprint as last read.
    public var lockPath: String { URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(PinLock.fileName).path }
    private let lastLockRead = Mutex<FileFingerprint?>(nil)
    /// Every file of the secrets folder as last looked at, and the folder watches on it.
    private let lastSecrets = Mutex<[String: FileFingerprint]?>(nil)
    private let secretWatches = Mutex<[String: FolderWatch]>([:])
    private let onSecretChange = Mutex<(@Sendable () -> Void)?>(nil)

    /// `useInotify: false` forces the polling fallback (for tests, and file systems where inotify
    /// sees nothing, such as some network mounts).
    public init(
        path: String, gateway: Gateway, pollInterval: Duration = .seconds(2), debounce: Duration = .milliseconds(100),
        useInotify: Bool = true,
        environment: @escaping @Sendable () -> [String: String] = { ProcessInfo.processInfo.environment }
    ) {
        self.path = path
        self.gateway = gateway
        self.pollInterval = pollInterval
        self.debounce = debounce
        self.useInotify = useInotify
        self.environment = environment
    }

    /// `settled`: the folder watch saw a change and its debounce has passed; `changed`: a periodic
    /// look, which debounces here; `signal`: SIGHUP.
    enum Trigger { case changed, settled, signal }

    public func run() async throws {
        let (triggers, continuation) = AsyncStream.makeStream(of: Trigger.self, bufferingPolicy: .bufferingNewest(16))
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let watch = useInotify ? FolderWatch(folder: folder) : nil
        if let watch {
            watch.start(debounce: debounce) { continuation.yield(.settled) }
        } else {
            gateway.logger.warning("inotify unavailable; polling \(path) every \(pollInterval)")
        }
        defer {
            watch?.stop()
            for watch in secretWatches.withLock({ Array($0.values) }) { watch.stop() }
        }
        onSecretChange.withLock { $0 = { continuation.yield(.settled) } }
        watchSecrets()
        // Whatever changed between the first load and now is picked up at once.
        continuation.yield(.changed)
        // Ends quietly on graceful shutdown or cancellation: stopping is not a failure.
        try? await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in await UnixSignalsSequence(trapping: .sighup) { continuation.yield(.signal) }
                }
                group.addTask {
                    // With inotify the poll is only a safety net, so it can be slow.
                    let interval = watch == nil ? self.pollInterval : self.pollInterval * 5
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        continuation.yield(.changed)
                    }
                }
                group.addTask { await self.consume(triggers) }
                await group.next()
                group.cancelAll()
            }
        }
    }

    private func consume(_ triggers: AsyncStream<Trigger>) async {
        var iterator = triggers.makeAsyncIterator()
        while let trigger = await iterator.next() {
            let forced = trigger == .signal
            // Debounce: let a burst of events (an editor's write, rename and chmod) settle first;
            // the rest of the burst then finds the fingerprint unchanged. The folder watch has
            // debounced already, and lets a finished write through at once.
            if trigger != .settled { try? await Task.sleep(for: debounce) }
            if forced {
                gateway.audit.reopen()
                gateway.logger.info("SIGHUP: reloading \(path) and reopening the audit log")
            }
            if forced || FileFingerprint(path: lockPath) != lastLockRead.withLock({ $0 }) { reloadPins() }
            checkSecrets(forced: forced)
            if !forced && FileFingerprint(path: path) == lastRead.withLock({ $0 }) { continue }
            reload(force: forced)
        }
    }

    /// Reads and compiles the file now; installs it if it compiles and differs from the running one.
    @discardableResult
    public func reload(force: Bool = false) -> Bool {
        // Taken before reading: a write that lands during the read shows up as a change next time.
        let fingerprint = FileFingerprint(path: path)
        lastRead.withLock { $0 = fingerprint }
        let bytes: [UInt8]
        do {
            bytes = try PolicyFileError.read(path)
        } catch {
            let outcome = gateway.store.policy == nil ? "not ready: waiting for a readable \(path)" : "keeping the running policy"
            gateway.logger.error("reload failed: cannot read \(error.path): \(error.reason); \(outcome)")
            gateway.store.recordFailure(Diagnostic(.error, path: "", message: "cannot read \(error.path): \(error.reason)"))
            gateway.metrics.reload(result: "error")
            return false
        }
        let digest = Token.digest(of: bytes)
        if !force, let running = gateway.store.policy, running.digest == digest {
            gateway.metrics.reload(result: "unchanged")
            if gateway.store.recordUnchanged() {
                gateway.logger.info("\(path) is back to the running policy \(running.digest); the earlier reload error no longer applies")
            }
            return false
        }
        return Self.install(PolicyCompiler.compile(bytes, digest: digest, options: CompileOptions(environment: environment())), path: path, gateway: gateway)
    }

    /// The users' secrets folder (`gateway.secrets`) of the running policy.
    var secretsFolder: String? { gateway.store.policy.map { gateway.userSecrets($0).folder } }

    /// Looks at every file of the secrets folder; when any changed (or on SIGHUP), the sessions
    /// that run with a changed or removed secret end, and new user folders get a watch.
    func checkSecrets(forced: Bool = false) {
        guard let folder = secretsFolder else { return }
        let files = Self.secretFiles(folder)
        let (first, changed) = lastSecrets.withLock { last -> (Bool, Bool) in
            defer { last = files }
            return (last == nil, last != nil && last != files)
        }
        // The first look compares every session with the files too: a session may have started
        // before it, with a value changed since.
        if changed || forced || first {
            if changed { gateway.logger.info("the secrets in \(folder) changed") }
            gateway.secretsChanged()
            watchSecrets()
        }
    }

    /// Watches the secrets folder and each user's folder in it (created ones too, on the next look).
    private func watchSecrets() {
        guard useInotify, let folder = secretsFolder, let onChange = onSecretChange.withLock({ $0 }) else { return }
        let users = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for path in [folder] + users.map({ "\(folder)/\($0)" }) where secretWatches.withLock({ $0[path] == nil }) {
            guard let watch = FolderWatch(folder: path) else { continue }
            watch.start(debounce: debounce, onChange: onChange)
            secretWatches.withLock { $0[path] = watch }
        }
    }

    /// Every file `FOLDER/USER/NAME`, by path, with what identifies its contents and mode.
    static func secretFiles(_ folder: String) -> [String: FileFingerprint] {
        var files: [String: FileFingerprint] = [:]
        for user in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: "\(folder)/\(user)")) ?? [] {
                let path = "\(folder)/\(user)/\(name)"
                if let fingerprint = FileFingerprint(path: path) { files[path] = fingerprint }
            }
        }
        return files
    }

    /// Reads `orch.lock.json` beside the file now; one that cannot be read keeps the pins running.
    public func reloadPins() {
        lastLockRead.withLock { $0 = FileFingerprint(path: lockPath) }
        do {
            try gateway.pins.load(lockPath)
            if let lock = gateway.pins.lock { gateway.logger.info("loaded \(lockPath): \(lock.servers.count) servers pinned") }
        } catch {
            gateway.logger.error("\(lockPath) \(error.description); keeping the pins running")
        }
    }

    /// Installs a compile result in the gateway's store, logging and counting it either way.
    @discardableResult
    public static func install(_ result: CompileResult, path: String, gateway: Gateway) -> Bool {
        for d in result.diagnostics where d.severity == .warning {
            gateway.logger.warning("\(d.rendered(file: path))")
        }
        guard gateway.store.install(result) else {
            for d in result.errors { gateway.logger.error("\(d.rendered(file: path))") }
            let count = result.errors.count == 1 ? "1 error" : "\(result.errors.count) errors"
            let outcome = gateway.store.policy == nil ? "not ready: waiting for a valid \(path)" : "keeping the running policy"
            gateway.logger.error("\(path) does not compile (\(count)); \(outcome)")
            gateway.metrics.reload(result: "error")
            return false
        }
        if let policy = result.policy { gateway.redaction.policyLoaded(policy) }
        gateway.metrics.reload(result: "ok")
        gateway.metrics.policyLoaded(digest: result.digest)
        gateway.logger.info("loaded \(path) \(result.digest)")
        return true
    }
}
