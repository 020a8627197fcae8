import Foundation
import Testing

/// `orch --version`: the release and the commit it was built from, written in at build time by the
/// GitCommit plugin (Plugins/GitCommit).
@Suite struct VersionTests {
    @Test func versionIsTheReleaseAndTheCommit() throws {
        let run = try Sandbox().run(["--version"])
        #expect(run.status == 0)
        #expect(run.err == [])
        let line = try #require(run.out.first)
        #expect(run.out.count == 1)
        #expect(line.wholeMatch(of: /\d+\.\d+\.\d+ \(([0-9a-f]{7,}|unknown)\)/) != nil, "\(line)")
    }

    /// Built from this checkout, the commit is its HEAD (`swift test` builds first). In a checkout
    /// where someone commits while the tests build or run, HEAD may have moved on since: then the
    /// commit built must be where HEAD was, an ancestor of it; a commit older than that would mean
    /// the plugin did not run.
    @Test func commitIsTheCheckoutsHead() throws {
        let line = try #require(try Sandbox().run(["--version"]).out.first)
        let built = String(try #require(line.firstMatch(of: /\((.+)\)$/)).1)
        guard let head = Self.git("rev-parse", "--short", "HEAD") else {
            #expect(built == "unknown")
            return
        }
        if built == head { return }
        let linked = try #require(try FileManager.default.attributesOfItem(atPath: OrchBinary.url.path)[.modificationDate] as? Date)
        let headCommitted = Date(timeIntervalSince1970: try #require(Self.git("log", "-1", "--format=%ct", "HEAD").flatMap(Double.init)))
        #expect(headCommitted > linked.addingTimeInterval(-120),
                "orch says \(built), HEAD is \(head), committed before orch was built")
        #expect(Self.git("merge-base", "--is-ancestor", built, "HEAD") != nil, "\(built) is not an ancestor of HEAD \(head)")
    }

    /// `git ARGS` in the package, its output trimmed; nil where there is no `.git`, no git, or git
    /// fails.
    static func git(_ arguments: String...) -> String? {
        let root = PackageRoot.url
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent(".git").path) else { return nil }
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", root.path] + arguments
        let out = Pipe()
        git.standardOutput = out
        git.standardError = FileHandle.nullDevice
        guard (try? git.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        git.waitUntilExit()
        guard git.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
