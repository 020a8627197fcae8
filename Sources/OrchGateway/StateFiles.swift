import Foundation

/// The gateway's state files beside orch.json (connected accounts, pending approvals): each one
/// line of sealed text, mode 0600 in folders of mode 0700, written through a temporary file renamed
/// over it, so a reader (on any replica sharing the folder) sees the old text or the new, never half.
enum StateFiles {
    static func write(_ text: String, to target: String) throws(StateFileError) {
        if let problem = makeFolder((target as NSString).deletingLastPathComponent) { throw problem }
        let temp = target + ".\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StateFileError(path: temp, reason: String(cString: strerror(errno))) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temp, target) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temp)
            throw StateFileError(path: target, reason: reason)
        }
    }

    /// The file's text, trimmed; nil when there is none.
    static func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    /// Removes `path` (nothing there is nothing to do).
    static func remove(_ path: String) throws(StateFileError) {
        if unlink(path) != 0, errno != ENOENT { throw StateFileError(path: path, reason: String(cString: strerror(errno))) }
    }

    /// Whether a file can be written in `folder`: made if missing, then a file made and removed.
    static func checkWritable(_ folder: String) -> StateFileError? {
        if let problem = makeFolder(folder) { return problem }
        let probe = folder + "/.probe.\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return StateFileError(path: folder, reason: String(cString: strerror(errno))) }
        close(fd)
        unlink(probe)
        return nil
    }

    /// Makes `path` and the folders above it that are missing, each mode 0700.
    static func makeFolder(_ path: String) -> StateFileError? {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            return nil
        } catch {
            return StateFileError(path: path, reason: (error as NSError).localizedDescription)
        }
    }
}

public struct StateFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "cannot write \(path): \(reason)" }
}
