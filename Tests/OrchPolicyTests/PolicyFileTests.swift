import Foundation
import Glibc
import OrchPolicy
import Testing

/// A temp folder with `orch.json` holding `text`.
private func policyFolder(_ text: String = "old\n") throws -> (folder: String, path: String) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("orch-file-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let path = folder + "/orch.json"
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    return (folder, path)
}

@Test func aReplacementKeepsModeOwnerAndGroup() throws {
    let (folder, path) = try policyFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    #expect(chmod(path, 0o640) == 0)
    // As root (CI, the container), hand the file to another owner first; elsewhere our own ids.
    let (uid, gid): (uid_t, gid_t) = geteuid() == 0 ? (12345, 23456) : (geteuid(), getegid())
    #expect(chown(path, uid, gid) == 0)
    try PolicyFile.replace(path, expecting: Array("old\n".utf8), with: Array("new\n".utf8))
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "new\n")
    var info = stat()
    #expect(stat(path, &info) == 0)
    #expect(info.st_mode & 0o7777 == 0o640)
    #expect(info.st_uid == uid)
    #expect(info.st_gid == gid)
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["orch.json"])
}

@Test func aFileChangedSinceItWasReadIsLeftAlone() throws {
    let (folder, path) = try policyFolder("edited by someone else\n")
    defer { try? FileManager.default.removeItem(atPath: folder) }
    #expect(throws: PolicyFileError.self) {
        try PolicyFile.replace(path, expecting: Array("old\n".utf8), with: Array("new\n".utf8))
    }
    do {
        try PolicyFile.replace(path, expecting: Array("old\n".utf8), with: Array("new\n".utf8))
    } catch {
        #expect(error.reason == "changed since it was read; nothing was written: run the command again")
    }
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "edited by someone else\n")
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["orch.json"])
}

@Test func anotherWriterHoldingTheLockStopsTheReplacement() throws {
    let (folder, path) = try policyFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try Data().write(to: URL(fileURLWithPath: path + ".lock"))
    do {
        try PolicyFile.replace(path, expecting: Array("old\n".utf8), with: Array("new\n".utf8))
        Issue.record("replaced the file while another writer held the lock")
    } catch {
        #expect(error.reason.hasSuffix("orch.json.lock exists: another command is writing the file (if none is, remove the lock file)"))
    }
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "old\n")
    // The lock is the other writer's: still there.
    #expect(FileManager.default.fileExists(atPath: path + ".lock"))
}

@Test func aSymlinkedFileIsReplacedAtItsTarget() throws {
    let (folder, path) = try policyFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let link = folder + "/link.json"
    try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: path)
    try PolicyFile.replace(link, expecting: Array("old\n".utf8), with: Array("new\n".utf8))
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == path)
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "new\n")
}
