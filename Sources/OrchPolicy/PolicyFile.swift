public import Foundation
import Glibc

/// Rewrites a policy file safely, for commands that edit it (`orch keys new --write`): under a
/// lock file (`FILE.lock`, created exclusively, removed after), only if the file still holds the
/// bytes the command read, through a temporary file beside it that gets the old file's owner,
/// group and mode before it is renamed over it. A symlink (a ConfigMap, a checkout elsewhere) is
/// followed: its target is replaced.
public enum PolicyFile {
    public static func replace(_ path: String, expecting old: [UInt8], with new: [UInt8]) throws(PolicyFileError) {
        let target = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let lock = target + ".lock"
        let lockFD = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else {
            if errno == EEXIST {
                throw PolicyFileError(path: path, reason: "\(lock) exists: another command is writing the file (if none is, remove the lock file)")
            }
            throw PolicyFileError(path: path, reason: "cannot create \(lock): \(String(cString: strerror(errno)))")
        }
        defer {
            close(lockFD)
            unlink(lock)
        }
        // Read again under the lock: an edit since the command read the file must not be lost.
        guard try PolicyFileError.read(target) == old else {
            throw PolicyFileError(path: path, reason: "changed since it was read; nothing was written: run the command again")
        }
        var info = stat()
        guard stat(target, &info) == 0 else { throw PolicyFileError(path: path, reason: "cannot stat: \(String(cString: strerror(errno)))") }
        let temp = target + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, info.st_mode & 0o7777)
        guard fd >= 0 else { throw PolicyFileError(path: path, reason: "cannot create \(temp): \(String(cString: strerror(errno)))") }
        var problem: String? = nil
        new.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count && problem == nil {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { problem = "cannot write \(temp): \(String(cString: strerror(errno)))" } else { offset += n }
            }
        }
        // The new file is the old one's: same owner and group (when they are not ours, only root
        // may do that, and anyone else must not silently take the file over), same mode.
        if problem == nil, info.st_uid != geteuid() || info.st_gid != getegid(), fchown(fd, info.st_uid, info.st_gid) != 0 {
            problem = "cannot keep its owner \(info.st_uid):\(info.st_gid): \(String(cString: strerror(errno)))"
        }
        if problem == nil, fchmod(fd, info.st_mode & 0o7777) != 0 { problem = "cannot keep its mode: \(String(cString: strerror(errno)))" }
        if problem == nil, fsync(fd) != 0 { problem = "cannot sync \(temp): \(String(cString: strerror(errno)))" }
        close(fd)
        if problem == nil, rename(temp, target) != 0 { problem = "cannot replace it: \(String(cString: strerror(errno)))" }
        if let problem {
            unlink(temp)
            throw PolicyFileError(path: path, reason: problem)
        }
    }
}
