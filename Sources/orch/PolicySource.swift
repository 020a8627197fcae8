import ArgumentParser
import Foundation
import OrchPolicy

/// One side of `orch diff`: a file, or `git:REV`, the committed version of FILE at a revision
/// (`git show REV:./NAME`, run in FILE's folder, so FILE's path inside the repository is found by
/// git itself).
enum PolicySource {
    case file(String)
    case git(revision: String, file: String)

    init(_ argument: String, file: String) {
        if argument.hasPrefix("git:") {
            self = .git(revision: String(argument.dropFirst(4)), file: file)
        } else {
            self = .file(argument)
        }
    }

    /// How diagnostics name it: the path, or `PATH@REV`.
    var label: String {
        switch self {
        case .file(let path): path
        case .git(let revision, let file): "\(file)@\(revision)"
        }
    }

    /// The bytes; says why and exits 2 when they cannot be had.
    func read() throws -> [UInt8] {
        switch self {
        case .file(let path):
            do {
                return try PolicyFileError.read(path)
            } catch {
                Console.error("orch: cannot read \(error.path): \(error.reason)")
                throw ExitCode(2)
            }
        case .git(let revision, let file):
            guard !revision.isEmpty else {
                Console.error("orch: git: needs a revision (git:HEAD~1, git:main)")
                throw ExitCode(2)
            }
            let url = URL(fileURLWithPath: file)
            let (status, output, errors) = Self.run(["git", "show", "\(revision):./\(url.lastPathComponent)"], in: url.deletingLastPathComponent())
            guard status == 0 else {
                let reason = errors.split(separator: "\n").first.map(String.init) ?? "git exited with status \(status)"
                Console.error("orch: cannot read \(label): \(reason)")
                throw ExitCode(2)
            }
            return output
        }
    }

    /// Runs a command found on PATH; its stdout and stderr are read to the end.
    private static func run(_ arguments: [String], in folder: URL) -> (Int32, [UInt8], String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = folder
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return (127, [], "cannot run \(arguments[0]): \(error.localizedDescription)")
        }
        // stderr is read beside stdout, so that neither pipe fills while the other is read.
        nonisolated(unsafe) var errors = Data()
        let reading = DispatchGroup()
        DispatchQueue.global().async(group: reading) { errors = err.fileHandleForReading.readDataToEndOfFile() }
        let output = out.fileHandleForReading.readDataToEndOfFile()
        reading.wait()
        process.waitUntilExit()
        return (process.terminationStatus, [UInt8](output), String(decoding: errors, as: UTF8.self))
    }
}
