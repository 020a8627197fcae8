import Foundation
import Glibc
import Synchronization

/// inotify on a folder: calls `onEvent` for anything that happens in it (finished writes, renames
/// into it, creations, deletions, symlink swaps), from a thread of its own. nil where inotify is
/// missing. Not for every single write (`IN_MODIFY`): the audit log often lives in the same folder
/// and is written on every call; an editor, `git` or a ConfigMap swap closes or renames the file,
/// and the periodic check catches anything else.
final class FolderWatch: Sendable {
    private let fd: Int32
    private let stopped = Atomic<Bool>(false)

    init?(folder: String) {
        let fd = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
        guard fd >= 0 else { return nil }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
        guard inotify_add_watch(fd, folder, mask) >= 0 else {
            close(fd)
            return nil
        }
        self.fd = fd
    }

    /// Calls `onChange` once the folder has settled: at once for events that finish a write (a
    /// file closed after writing, a rename into the folder: the file is whole and can be read),
    /// else `debounce` after the first of a burst (a file created, then written), unless a
    /// finished write comes first.
    func start(debounce: Duration, onChange: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var settles: ContinuousClock.Instant? = nil
            while !stopped.load(ordering: .relaxed) {
                let wait = settles.map { max(0, Int(($0 - .now).milliseconds.rounded(.up))) } ?? 200
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&descriptor, 1, Int32(min(wait, 200))) > 0 {
                    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    guard n > 0 else { continue }
                    if Self.includesFinishedWrite(buffer[..<n]) {
                        settles = nil
                        onChange()
                    } else if settles == nil {
                        settles = .now + debounce
                    }
                } else if let deadline = settles, deadline <= .now {
                    settles = nil
                    onChange()
                }
            }
            close(fd)
        }
        thread.name = "orch-inotify"
        thread.start()
    }

    /// Whether a batch of `struct inotify_event` records holds IN_CLOSE_WRITE or IN_MOVED_TO.
    static func includesFinishedWrite(_ events: ArraySlice<UInt8>) -> Bool {
        let finished = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO)
        let header = MemoryLayout<inotify_event>.size
        var offset = 0
        while offset + header <= events.count {
            let event = events.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: inotify_event.self) }
            if event.mask & finished != 0 { return true }
            offset += header + Int(event.len)
        }
        return false
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
    }
}
