public import Foundation
import Glibc

/// What identifies the contents behind a path without reading them: the resolved target (for
/// Kubernetes' `..data` symlink swaps), device, inode, size and modification time.
public struct FileFingerprint: Equatable, Sendable {
    public let target: String
    public let device: UInt64
    public let inode: UInt64
    public let size: Int64
    public let mtime: Int64
    public let mtimeNanos: Int64
    /// Permission bits: a chmod changes whether a secret file may be used.
    public let mode: UInt32

    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map { _ in
            URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        } ?? path
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        mtime = Int64(info.st_mtim.tv_sec)
        mtimeNanos = Int64(info.st_mtim.tv_nsec)
        mode = UInt32(info.st_mode & 0o7777)
    }
}
