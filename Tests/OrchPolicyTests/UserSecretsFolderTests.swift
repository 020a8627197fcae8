import Foundation
import OrchPolicy
import Testing

// Reading FOLDER/USER/NAME: symlinks are followed only inside the folder and only to the same
// user's secret of the same name.

private struct Folder {
    let root: String
    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("orch-secrets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }
    func write(_ relative: String, _ value: String) throws {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data(value.utf8), attributes: [.posixPermissions: 0o600])
    }
    func link(_ relative: String, to destination: String) throws {
        let path = root + "/" + relative
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: destination)
    }
    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

@Test func aKubernetesSecretVolumesLinksInsideTheMountAreFollowed() throws {
    let folder = try Folder()
    defer { folder.remove() }
    // One Secret for everyone, items [{key: bob.TOKEN, path: bob/TOKEN}]: the kubelet makes
    // bob -> ..data/bob, ..data -> ..2026_12_04_10_00_00.1, and the file inside.
    try folder.write("..2026_12_04_10_00_00.1/bob/TOKEN", "bob-value\n")
    try folder.link("..data", to: "..2026_12_04_10_00_00.1")
    try folder.link("bob", to: "..data/bob")
    // One Secret a user, mounted at carol: TOKEN -> ..data/TOKEN inside carol's own folder.
    try folder.write("carol/..2026_12_04_10_00_00.2/TOKEN", "carol-value")
    try folder.link("carol/..data", to: "..2026_12_04_10_00_00.2")
    try folder.link("carol/TOKEN", to: "..data/TOKEN")
    let secrets = UserSecrets(folder: folder.root)
    #expect(secrets.read(user: "bob", name: "TOKEN") == .success("bob-value"))
    #expect(secrets.read(user: "carol", name: "TOKEN") == .success("carol-value"))
}

@Test func aLinkToAnotherUsersSecretOrOutOfTheFolderIsRefused() throws {
    let folder = try Folder()
    defer { folder.remove() }
    try folder.write("alice/TOKEN", "alice-value")
    try folder.write("alice/OTHER", "alice-other")
    let outside = try Folder()
    defer { outside.remove() }
    try outside.write("mallory/TOKEN", "outside-value")
    // A user's folder linked to another user's, a file linked to another user's file, and links
    // out of the folder (absolute and relative). A link to another secret of one's own is fine.
    try folder.link("bob", to: "alice")
    try folder.link("dave/TOKEN", to: "../alice/TOKEN")
    try folder.link("alice/THIRD", to: "OTHER")
    try folder.link("frank", to: "..hidden/alice")
    try folder.write("..hidden/alice/TOKEN", "alice-copy")
    try folder.link("mallory", to: outside.root + "/mallory")
    try folder.link("erin/TOKEN", to: "../../" + (outside.root as NSString).lastPathComponent + "/mallory/TOKEN")
    let secrets = UserSecrets(folder: folder.root)
    #expect(secrets.read(user: "alice", name: "TOKEN") == .success("alice-value"))
    #expect(secrets.read(user: "alice", name: "THIRD") == .success("alice-other"))
    for (user, name) in [("bob", "TOKEN"), ("dave", "TOKEN"), ("frank", "TOKEN"), ("mallory", "TOKEN"), ("erin", "TOKEN")] {
        let result = secrets.read(user: user, name: name)
        #expect(result == .failure(.misplaced(name: name, path: "\(folder.root)/\(user)/\(name)")), "\(user)/\(name)")
        if case .failure(let problem) = result {
            #expect(!problem.description.contains("value"))
            #expect(problem.description.contains("must stay in it, in the user's own folder or at USER/NAME"))
        }
    }
}
