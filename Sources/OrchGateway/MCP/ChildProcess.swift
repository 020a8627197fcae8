import Foundation
import Glibc

// glibc declares these only under _GNU_SOURCE, which Swift's Glibc module does not set; both
// take plain pointers and ints, so the C symbols are called directly.
@_silgen_name("pipe2")
private func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32
@_silgen_name("posix_spawn_file_actions_addchdir_np")
private func posix_spawn_file_actions_addchdir_np(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ path: UnsafePointer<CChar>) -> Int32
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func posix_spawn_file_actions_addclosefrom_np(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

/// A started upstream process and the gateway's ends of its three pipes. The process leads a
/// process group of its own, so a wrapper (`sh -c`, `npx`, `uvx`) and everything it starts are
/// signalled together and nothing outlives the session. Every system call of the stdio upstream
/// lives in this file.
struct ChildProcess: Sendable {
    let pid: pid_t
    /// The write end of the child's stdin, the read ends of its stdout and stderr: owned by the
    /// caller, who hands them to NIO.
    let stdin: Int32
    let stdout: Int32
    let stderr: Int32

    /// Starts `executable` (an absolute path) with exactly `environment`, in `cwd` when given, in a
    /// new process group, with default signal dispositions and an empty signal mask (the gateway
    /// ignores SIGPIPE; its children must not inherit that), and no descriptor but its stdin,
    /// stdout and stderr.
    static func spawn(executable: String, arguments: [String], environment: [String: String], cwd: String?) throws(UpstreamError) -> ChildProcess {
        // One SIGPIPE-free gateway: a write to a pipe whose reader died is an error, not a signal.
        signal(SIGPIPE, SIG_IGN)
        var input: [Int32] = [-1, -1], output: [Int32] = [-1, -1], errors: [Int32] = [-1, -1]
        guard pipe2(&input, O_CLOEXEC) == 0 else { throw .couldNotStart("pipe: \(String(cString: strerror(errno)))") }
        guard pipe2(&output, O_CLOEXEC) == 0 else {
            closeAll(input)
            throw .couldNotStart("pipe: \(String(cString: strerror(errno)))")
        }
        guard pipe2(&errors, O_CLOEXEC) == 0 else {
            closeAll(input + output)
            throw .couldNotStart("pipe: \(String(cString: strerror(errno)))")
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, output[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        if let cwd { posix_spawn_file_actions_addchdir_np(&actions, cwd) }
        // Nothing of the gateway but the three pipes: not its listening socket, other clients'
        // connections or event-loop descriptors, whatever their close-on-exec flag (glibc ≥ 2.34).
        guard posix_spawn_file_actions_addclosefrom_np(&actions, 3) == 0 else {
            closeAll(input + output + errors)
            throw .couldNotStart("posix_spawn_file_actions_addclosefrom_np: \(String(cString: strerror(errno)))")
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        closeAll([input[0], output[1], errors[1]])
        guard status == 0 else {
            closeAll([input[1], output[0], errors[0]])
            let reason = String(cString: strerror(status))
            throw .couldNotStart(cwd != nil && status == ENOENT ? "\(reason) (command or cwd \(cwd!))" : reason)
        }
        return ChildProcess(pid: pid, stdin: input[1], stdout: output[0], stderr: errors[0])
    }

    private static func closeAll(_ fds: [Int32]) {
        for fd in fds where fd >= 0 { close(fd) }
    }

    /// The absolute path of `command`, searched in `path` when it has no slash.
    static func resolve(_ command: String, path: String) throws(UpstreamError) -> String {
        if command.contains("/") {
            guard access(command, X_OK) == 0 else { throw .couldNotStart("command \(command) is not executable") }
            return command
        }
        for folder in path.split(separator: ":") {
            let candidate = "\(folder)/\(command)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw .couldNotStart("command \(command) not found in PATH")
    }

    /// Sends `signal` to the whole process group.
    func signalGroup(_ signal: Int32) {
        _ = kill(-pid, signal)
    }

    /// Reaps the process (and any other exited member of its group that is the gateway's child)
    /// without waiting; true once the process itself has been reaped.
    func reap() -> Bool {
        var reaped = false
        while true {
            var status: Int32 = 0
            let result = waitpid(-pid, &status, WNOHANG)
            if result == pid { reaped = true }
            if result <= 0 { break }
        }
        if !reaped, waitpid(pid, nil, WNOHANG) == pid { reaped = true }
        // ECHILD: someone else (or an earlier call) already reaped it.
        if !reaped, kill(pid, 0) != 0, errno == ESRCH { reaped = true }
        return reaped
    }

    /// True while some process of the group still runs (zombies waiting for their parent do not count).
    var groupIsAlive: Bool {
        guard kill(-pid, 0) == 0 else { return false }
        return !Self.groupMembers(pid).isEmpty
    }

    /// The live (not zombie) processes of process group `group`, from /proc.
    static func groupMembers(_ group: pid_t) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var members: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // After "pid (comm) ": state, ppid, pgrp.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] != "Z", pid_t(fields[2]) == group else { continue }
            members.append(pid)
        }
        return members
    }
}
