import Foundation
import Glibc
import OrchJSON
import OrchPolicy

/// `--merge-into FILE`: puts a generated client config into the client's own file, which usually
/// lists other servers too. Every entry of the config's servers map (`mcpServers`, or `servers`
/// for VS Code) is added to the file's map, or replaces the entry of the same name; VS Code's
/// `orch-token` input is added or replaced by its `id`; every other entry and key of the file is
/// kept. A missing file (and its folders) is created.
///
/// Prepared before anything is written (so a file that is not a JSON object stops a command before
/// it mints or adds a key), then written through a temporary file renamed over it, mode 0600 when
/// the document holds a token, else the file's own mode.
struct ClientConfigMerge {
    struct Failure: Error {
        let message: String
    }

    /// What the command was given, for messages.
    let path: String
    /// The file written: a symlink's target.
    private let target: String
    private let original: [UInt8]?
    private let merged: JSONValue
    private let holdsSecret: Bool
    /// `added mcpServers.acme`, `replaced servers.notes`, … in the config's order.
    let changes: [String]
    /// How many entries of the file's servers map are neither added nor replaced.
    let kept: Int

    static func prepare(_ config: ClientConfig, into path: String) throws(Failure) -> ClientConfigMerge {
        var expanded = path
        if path.hasPrefix("~/"), let home = ProcessInfo.processInfo.environment["HOME"] { expanded = home + path.dropFirst(1) }
        let target = URL(fileURLWithPath: expanded).resolvingSymlinksInPath().path
        var original: [UInt8]? = nil
        var root = JSONObject()
        if FileManager.default.fileExists(atPath: target) {
            let bytes: [UInt8]
            do { bytes = try PolicyFileError.read(target) } catch { throw Failure(message: "cannot read \(path): \(error.reason)") }
            original = bytes
            if !bytes.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
                let value: JSONValue
                do { value = try JSONValue.parse(bytes) } catch {
                    throw Failure(message: "\(path):\(error.line):\(error.column): not JSON (\(error.message)); it was not changed: fix it, or merge by hand")
                }
                guard case .object(let object) = value else {
                    throw Failure(message: "\(path) holds \(value.typeDescription), not a JSON object; it was not changed")
                }
                root = object
            }
        }
        guard case .object(let document) = config.document else { throw Failure(message: "the generated config is not an object") }
        var changes: [String] = []
        var kept = 0
        for (key, value) in document {
            switch (value, root[key]) {
            case (.object(let entries), nil):
                root[key] = value
                changes += entries.map { "added \(key).\($0.key)" }
            case (.object(let entries), .object(var current)?):
                kept += current.keys.filter { entries[$0] == nil }.count
                for (name, entry) in entries {
                    changes.append("\(current[name] == nil ? "added" : "replaced") \(key).\(name)")
                    current[name] = entry
                }
                root[key] = .object(current)
            case (.array(let items), nil):
                root[key] = value
                changes += items.map { "added \(key) \($0["id"]?.stringValue ?? "item")" }
            case (.array(let items), .array(var current)?):
                for item in items {
                    if let id = item["id"], let i = current.firstIndex(where: { $0["id"] == id }) {
                        current[i] = item
                        changes.append("replaced \(key) \(id.stringValue ?? "item")")
                    } else {
                        current.append(item)
                        changes.append("added \(key) \(item["id"]?.stringValue ?? "item")")
                    }
                }
                root[key] = .array(current)
            case (_, let found?):
                throw Failure(message: "\"\(key)\" in \(path) is \(found.typeDescription), not \(value.typeDescription); it was not changed")
            default:
                root[key] = value
            }
        }
        let secret = if case .value = config.token { config.holdsToken } else { false }
        return ClientConfigMerge(path: path, target: target, original: original, merged: .object(root), holdsSecret: secret, changes: changes, kept: kept)
    }

    /// Writes the merged document, creating the file's folders.
    func write() throws(Failure) {
        let folder = URL(fileURLWithPath: target).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw Failure(message: "cannot create the folder \(folder.path): \(error.localizedDescription)")
        }
        // The file's owner and mode, through Foundation: Glibc's `stat` is also declared by
        // CoreFoundation, and which of the two a compile picks varies.
        let attributes = try? FileManager.default.attributesOfItem(atPath: target)
        let exists = attributes != nil
        let owner = (attributes?[.ownerAccountID] as? NSNumber).map { uid_t($0.uint32Value) } ?? geteuid()
        let group = (attributes?[.groupOwnerAccountID] as? NSNumber).map { gid_t($0.uint32Value) } ?? getegid()
        let currentMode = (attributes?[.posixPermissions] as? NSNumber).map { mode_t($0.uint32Value) } ?? 0o644
        let temp = folder.appendingPathComponent(".\(URL(fileURLWithPath: target).lastPathComponent).orch-\(getpid())").path
        // A token in the file: nobody else may read it. Otherwise the file keeps its mode (a new
        // one gets the umask's).
        let mode: mode_t? = holdsSecret ? 0o600 : exists ? currentMode & 0o7777 : nil
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode ?? 0o666)
        guard fd >= 0 else { throw Failure(message: "cannot create \(temp): \(String(cString: strerror(errno)))") }
        var problem: String? = nil
        let bytes = Array((merged.pretty + "\n").utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count && problem == nil {
                let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { problem = "cannot write \(temp): \(String(cString: strerror(errno)))" } else { offset += n }
            }
        }
        if problem == nil, exists, owner != geteuid() || group != getegid(), fchown(fd, owner, group) != 0 {
            problem = "cannot keep its owner \(owner):\(group): \(String(cString: strerror(errno)))"
        }
        if problem == nil, let mode, fchmod(fd, mode) != 0 { problem = "cannot set its mode: \(String(cString: strerror(errno)))" }
        if problem == nil, fsync(fd) != 0 { problem = "cannot sync \(temp): \(String(cString: strerror(errno)))" }
        close(fd)
        // The file must still be what was merged into: an edit in between is not overwritten.
        if problem == nil, (try? PolicyFileError.read(target)) != original {
            problem = "it changed while orch was merging into it; run the command again"
        }
        if problem == nil, rename(temp, target) != 0 { problem = "cannot replace it: \(String(cString: strerror(errno)))" }
        if let problem {
            unlink(temp)
            throw Failure(message: "\(path) was not changed: \(problem)")
        }
    }

    /// What was done, for stderr.
    var report: [String] {
        changes.map { "orch: \($0) \($0.hasPrefix("added") ? "to" : "in") \(path)" }
            + (kept > 0 ? ["orch: kept \(kept) other server\(kept == 1 ? "" : "s") in \(path)"] : [])
    }
}
