import Foundation
import Testing

/// The built `orch` binary: SwiftPM puts it in the same folder as the test executable.
enum OrchBinary {
    static let url: URL = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/proc/self/exe"
        return URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("orch")
    }()
}

/// The package root (this file is `Tests/OrchCLITests/Sandbox.swift`).
enum PackageRoot {
    static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// What one run of `orch` did.
struct OrchRun {
    let status: Int32
    let stdout: String
    let stderr: String

    /// The output split into lines, without the newline that ends the last one.
    var out: [String] { Self.lines(stdout) }
    var err: [String] { Self.lines(stderr) }

    private static func lines(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        var lines = text.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}

/// A fresh temporary folder for one test: fixture files go in it, `orch` runs in it, and it is
/// removed when the test lets go of it.
final class Sandbox {
    /// The working directory of every run.
    let directory: URL
    private let root: URL

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("orch-cli-\(UUID().uuidString)")
        directory = root.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: root)
    }

    func path(_ name: String) -> String {
        directory.appendingPathComponent(name).path
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    func read(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    func readText(_ name: String) throws -> String {
        String(decoding: try read(name), as: UTF8.self)
    }

    /// Runs `orch ARGS` in `directory` with a small fixed environment (plus `environment`), so that
    /// the caller's own `ORCH_CONFIG` or secrets never leak into a test.
    func run(_ arguments: [String], stdin: String = "", environment: [String: String] = [:]) throws -> OrchRun {
        let io = root.appendingPathComponent("io-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: io, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: io) }
        let inURL = io.appendingPathComponent("stdin"), outURL = io.appendingPathComponent("stdout"), errURL = io.appendingPathComponent("stderr")
        try Data(stdin.utf8).write(to: inURL)
        try Data().write(to: outURL)
        try Data().write(to: errURL)
        let input = try FileHandle(forReadingFrom: inURL)
        let output = try FileHandle(forWritingTo: outURL)
        let error = try FileHandle(forWritingTo: errURL)
        defer {
            try? input.close()
            try? output.close()
            try? error.close()
        }

        let process = Process()
        process.executableURL = OrchBinary.url
        process.arguments = arguments
        process.currentDirectoryURL = directory
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": root.path, "LANG": "C.UTF-8"].merging(environment) { $1 }
        process.standardInput = input
        process.standardOutput = output
        process.standardError = error
        try process.run()
        process.waitUntilExit()
        return OrchRun(
            status: process.terminationStatus,
            stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }
}

/// True when `text` holds 64 hex characters in a row, that is a whole SHA-256.
func containsFullHash(_ text: String) -> Bool {
    var run = 0
    for c in text.unicodeScalars {
        run = ("0"..."9").contains(c) || ("a"..."f").contains(c) || ("A"..."F").contains(c) ? run + 1 : 0
        if run >= 64 { return true }
    }
    return false
}
