import Foundation
@testable import OrchGateway
import Testing

// Connected accounts as stored: sealed files, one per user and server.

private let keyA = Data((0..<32).map { UInt8($0) }).base64EncodedString()
private let keyB = Data((0..<32).map { UInt8(255 - $0) }).base64EncodedString()

private func folder() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("orch-connections-\(UUID().uuidString)").path
    return path
}

private func connection(_ token: String = "access-token-of-bob") -> StoredConnection {
    var stored = StoredConnection(accessToken: token, refreshToken: "refresh-token-of-bob", expiresAt: 2_000_000_000, scope: "tickets:read",
                                  issuer: "https://login.tickets.example", connectedAt: 1_765_000_000)
    stored.refreshedAt = 1_765_000_100
    return stored
}

@Test func aConnectionIsStoredSealedInAFileOfItsOwnAndReadBack() throws {
    let base = folder()
    defer { try? FileManager.default.removeItem(atPath: base) }
    let store = ConnectionStore(folder: "state/connections", relativeTo: base, keys: [keyA])
    #expect(store.folder == base + "/state/connections")
    #expect(store.read(user: "bob", server: "acme/tickets") == .none)
    try store.write(connection(), user: "bob", server: "acme/tickets")
    #expect(store.read(user: "bob", server: "acme/tickets") == .connection(connection()))
    // One file per user and server, mode 0600 in a folder of mode 0700, no token in plain text.
    let path = store.path(user: "bob", server: "acme/tickets")
    #expect(path == base + "/state/connections/bob/acme__tickets")
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    #expect((attributes[.posixPermissions] as? Int) == 0o600)
    #expect((try FileManager.default.attributesOfItem(atPath: base + "/state/connections/bob")[.posixPermissions] as? Int) == 0o700)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.hasPrefix("orchc1.") && text.hasSuffix("\n") && text.split(separator: "\n").count == 1)
    for secret in ["access-token-of-bob", "refresh-token-of-bob", "tickets:read", "login.tickets.example"] { #expect(!text.contains(secret)) }
    // Written again: replaced whole, no temporary file left beside it.
    try store.write(connection("a-newer-token"), user: "bob", server: "acme/tickets")
    #expect(store.read(user: "bob", server: "acme/tickets") == .connection(connection("a-newer-token")))
    #expect(try FileManager.default.contentsOfDirectory(atPath: base + "/state/connections/bob") == ["acme__tickets"])
    // Another replica with the same key and folder reads it; an absolute folder is taken as it is.
    #expect(ConnectionStore(folder: base + "/state/connections", relativeTo: "/elsewhere", keys: [keyA]).read(user: "bob", server: "acme/tickets")
        == .connection(connection("a-newer-token")))
    try store.remove(user: "bob", server: "acme/tickets")
    #expect(store.read(user: "bob", server: "acme/tickets") == .none)
    try store.remove(user: "bob", server: "acme/tickets")  // nothing stored: nothing to do
}

@Test func aFileThatDoesNotBelongWhereItIsDoesNotOpen() throws {
    let base = folder()
    defer { try? FileManager.default.removeItem(atPath: base) }
    let store = ConnectionStore(folder: base, relativeTo: "/", keys: [keyA])
    try store.write(connection(), user: "bob", server: "acme/tickets")
    let sealed = try Data(contentsOf: URL(fileURLWithPath: store.path(user: "bob", server: "acme/tickets")))
    func place(_ data: Data, user: String, server: String) throws {
        try FileManager.default.createDirectory(atPath: base + "/" + user, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: store.path(user: user, server: server)))
    }
    // Copied into another user's folder, or to another server's name: not a connection of theirs.
    try place(sealed, user: "eve", server: "acme/tickets")
    try place(sealed, user: "bob", server: "acme/wiki")
    for (user, server) in [("eve", "acme/tickets"), ("bob", "acme/wiki")] {
        guard case .unreadable(let why) = store.read(user: user, server: server) else { Issue.record("\(user) \(server) opened"); continue }
        #expect(why.contains("copied from another user or server"))
        #expect(store.state(user: user, server: server, at: 0) == .unreadable(why))
    }
    // Any byte changed.
    var changed = [UInt8](sealed)
    changed[changed.count - 5] = changed[changed.count - 5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
    try place(Data(changed), user: "bob", server: "acme/notes")
    #expect(store.read(user: "bob", server: "acme/notes") != .none)
    if case .connection = store.read(user: "bob", server: "acme/notes") { Issue.record("a changed file opened") }
    // Another stateKey: named as such; a rotation (new key first, the old one after) still opens it.
    guard case .unreadable(let why) = ConnectionStore(folder: base, relativeTo: "/", keys: [keyB]).read(user: "bob", server: "acme/tickets") else {
        Issue.record("opened under another key"); return
    }
    #expect(why.hasPrefix("it was sealed with another gateway.stateKey (key "))
    #expect(ConnectionStore(folder: base, relativeTo: "/", keys: [keyB, keyA]).read(user: "bob", server: "acme/tickets") == .connection(connection()))
    // Not sealed under the state key itself: what the state key seals for sessions never opens here.
    let plainSeal = StateSeal(keys: [keyA])
    try place(Data((plainSeal.seal(Array(#"{"accessToken":"x","issuer":"i","connectedAt":1}"#.utf8), purpose: ConnectionStore.purpose) + "\n").utf8),
              user: "bob", server: "acme/plain")
    if case .connection = store.read(user: "bob", server: "acme/plain") { Issue.record("opened under the underived key") }
}

@Test func aConnectionsStateSaysWhetherItCanBeUsed() throws {
    let base = folder()
    defer { try? FileManager.default.removeItem(atPath: base) }
    let store = ConnectionStore(folder: base, relativeTo: "/", keys: [keyA])
    #expect(store.state(user: "bob", server: "acme/tickets", at: 0) == .notConnected)
    var stored = connection()
    try store.write(stored, user: "bob", server: "acme/tickets")
    #expect(store.state(user: "bob", server: "acme/tickets", at: 1_000) == .connected)
    // Expired with a refresh token: the next call refreshes it.
    #expect(store.state(user: "bob", server: "acme/tickets", at: 3_000_000_000) == .connected)
    stored.refreshToken = nil
    try store.write(stored, user: "bob", server: "acme/tickets")
    #expect(store.state(user: "bob", server: "acme/tickets", at: 3_000_000_000) == .expired)
    #expect(store.state(user: "bob", server: "acme/tickets", at: 1_000) == .connected)
    stored.broken = "the authorization server refused the refresh token (invalid_grant)"
    try store.write(stored, user: "bob", server: "acme/tickets")
    #expect(store.state(user: "bob", server: "acme/tickets", at: 1_000) == .broken("the authorization server refused the refresh token (invalid_grant)"))
    #expect(ConnectionStore.State.broken("x").description == "broken (x): the user connects again")
}

@Test func aFolderThatCannotBeWrittenIsSaidSo() throws {
    let base = folder()
    defer { try? FileManager.default.removeItem(atPath: base) }
    try Data("not a folder".utf8).write(to: URL(fileURLWithPath: base))
    let store = ConnectionStore(folder: base, relativeTo: "/", keys: [keyA])
    #expect(store.checkWritable() != nil)
    #expect(throws: ConnectionStoreError.self) { try store.write(connection(), user: "bob", server: "acme/tickets") }
    let writable = ConnectionStore(folder: base + "-ok", relativeTo: "/", keys: [keyA])
    defer { try? FileManager.default.removeItem(atPath: base + "-ok") }
    #expect(writable.checkWritable() == nil)
    #expect(try FileManager.default.contentsOfDirectory(atPath: base + "-ok").isEmpty)
}
