import ArgumentParser
import Foundation
import Logging
import OrchGateway
import OrchJSON
import OrchPolicy

/// `orch pin`: writes or checks `orch.lock.json` beside orch.json (docs/guide/reviewing-changes.md, "Tool pinning").
struct Pin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pin what each server's tools and prompts look like, or check them against the pins.",
        discussion: """
            Starts (or connects to) each server, as the gateway would, reads its tools and prompts, and \
            writes orch.lock.json beside FILE: per server, a SHA-256 of each definition (name, title, \
            description, schemas, annotations; a prompt's arguments) and the definition itself. With \
            --server, only those servers are pinned again; the others keep their pins. --check writes \
            nothing: it prints what changed since the pins (new, changed with old and new text, gone) \
            and exits 1 when anything did. With gateway.pinning "enforce" the gateway hides and refuses \
            what does not match; with "warn" it logs, audits and counts it.

            Examples: orch pin; orch pin --server acme/notes; orch pin --check
            """
    )

    @OptionGroup var options: ConfigOption
    @Argument(help: "The orch.json (default: --config, $ORCH_CONFIG, else ./orch.json).") var file: String?
    @Option(name: .customLong("server"), help: ArgumentHelp("Only this server (repeatable).", valueName: "ORG/SERVER")) var servers: [String] = []
    @Flag(help: "Check the servers against the pins; write nothing.") var check = false

    func run() async throws {
        let loaded = try options.load(positional: file)
        let policy = loaded.policy
        let lockPath = URL(fileURLWithPath: loaded.path).deletingLastPathComponent().appendingPathComponent(PinLock.fileName).path
        var selected: [ServerID] = []
        for path in servers {
            let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, let id = policy.server(org: parts[0], name: parts[1]) else {
                Console.error("orch: no server \(path) in \(loaded.path) (ORG/SERVER)")
                throw ExitCode(2)
            }
            selected.append(id)
        }
        if selected.isEmpty { selected = policy.serverIDs }
        var lock = PinLock()
        if FileManager.default.fileExists(atPath: lockPath) {
            do {
                lock = try PinLock.parse(String(decoding: FileManager.default.contents(atPath: lockPath) ?? Data(), as: UTF8.self))
            } catch {
                Console.error("orch: \(lockPath) \(error.description)")
                throw ExitCode(2)
            }
        } else if check {
            Console.error("orch: no \(PinLock.fileName) beside \(loaded.path): run `orch pin` first")
            throw ExitCode(2)
        }
        let gateway = try Self.gateway(loaded)
        var failed = false, changed = false, counts = (tools: 0, prompts: 0, servers: 0)
        let now = Date()
        for id in selected {
            let path = policy.serverPath(id)
            switch await gateway.currentDefinitions(policy, id) {
            case .failure(let error):
                Console.error("orch: cannot list \(path): \(error.description)")
                failed = true
            case .success(let (tools, prompts)):
                if check {
                    let report = Self.changes(lock.servers[path], path: path, tools: tools, prompts: prompts)
                    if !report.isEmpty {
                        changed = true
                        Console.out(report.joined(separator: "\n"))
                    }
                } else {
                    var server = PinLock.Server(pinnedAt: now)
                    server.pin(.tool, tools)
                    server.pin(.prompt, prompts)
                    lock.servers[path] = server
                    counts = (counts.tools + tools.count, counts.prompts + prompts.count, counts.servers + 1)
                }
            }
        }
        if check {
            if !changed && !failed { Console.out("every tool and prompt of \(selected.count) server\(selected.count == 1 ? "" : "s") matches its pin") }
        } else {
            // Servers no longer in the file lose their pins.
            lock.servers = lock.servers.filter { path, _ in policy.serverIDs.contains { policy.serverPath($0) == path } }
            try Self.write(lock, to: lockPath)
            Console.out("pinned \(counts.tools) tools and \(counts.prompts) prompts of \(counts.servers) server\(counts.servers == 1 ? "" : "s") in \(lockPath)")
        }
        if failed { throw ExitCode(2) }
        if changed { throw ExitCode(1) }
    }

    /// A gateway over the policy, for its upstream sessions only (no server, no audit).
    static func gateway(_ loaded: LoadedPolicy) throws -> Gateway {
        let store = PolicyStore(source: loaded.path)
        store.install(PolicyCompiler.compile(loaded.bytes))
        var logger = Logger(label: "orch pin")
        logger.logLevel = .critical
        return Gateway(store: store, audit: try AuditLog(destination: "/dev/null"), logger: logger)
    }

    /// What changed of one server since its pins: new, changed (old and new text) and gone items.
    static func changes(_ pins: PinLock.Server?, path: String, tools: [JSONValue], prompts: [JSONValue]) -> [String] {
        guard let pins else { return ["\(path): not pinned (\(tools.count) tools, \(prompts.count) prompts): run `orch pin --server \(path)`"] }
        var lines: [String] = []
        for (kind, listed) in [(ItemKind.tool, tools), (.prompt, prompts)] {
            var seen: Set<String> = []
            for entry in listed {
                guard let name = entry["name"]?.stringValue else { continue }
                seen.insert(name)
                let now = PinLock.pinned(kind, entry)
                guard let hash = pins.hashes(kind)[name] else {
                    lines.append("\(path): new \(kind) \(name), not pinned")
                    lines += now.pretty.split(separator: "\n").map { "  + \($0)" }
                    continue
                }
                guard hash != PinLock.hash(now) else { continue }
                lines.append("\(path): \(kind) \(name) changed since it was pinned at \(Timestamp.format(pins.pinnedAt))")
                let old = pins.definitions(kind)[name].map { PinLock.canonical($0).pretty } ?? "(the old definition is not in the lock file)"
                lines += lineDiff(old, PinLock.canonical(now).pretty)
            }
            for name in pins.hashes(kind).keys.sorted() where !seen.contains(name) {
                lines.append("\(path): \(kind) \(name) is gone (pinned at \(Timestamp.format(pins.pinnedAt)))")
            }
        }
        return lines
    }

    /// The lines of `old` missing from `new` (`-`) and of `new` missing from `old` (`+`).
    static func lineDiff(_ old: String, _ new: String) -> [String] {
        let a = old.split(separator: "\n").map(String.init), b = new.split(separator: "\n").map(String.init)
        let (inA, inB) = (Set(a), Set(b))
        return a.filter { !inB.contains($0) }.map { "  - \($0)" } + b.filter { !inA.contains($0) }.map { "  + \($0)" }
    }

    /// Writes the lock file whole (a temp file in the same folder, renamed over it).
    static func write(_ lock: PinLock, to path: String) throws {
        let temp = path + ".tmp-\(getpid())"
        do {
            try Data((lock.json.pretty + "\n").utf8).write(to: URL(fileURLWithPath: temp))
            guard rename(temp, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            Console.error("orch: cannot write \(path): \(error.localizedDescription)")
            throw ExitCode(2)
        }
    }
}
