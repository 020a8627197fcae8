import Foundation
import OrchJSON
import Testing

private func isToken(_ text: String) -> Bool {
    text.range(of: "^orch_[A-Za-z0-9_-]{43}$", options: .regularExpression) != nil
}

@Test func keysNewPrintsTokenOnStdoutAndKeyObjectOnStderr() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let run = try sandbox.run(["keys", "new", "--user", "bob", "--id", "tablet", "--expires", "2041-06-30", "--scope", "acme/notes:read_*"])
    #expect(run.status == 0)
    #expect(run.out.count == 1)
    let token = try #require(run.out.first)
    #expect(isToken(token))
    #expect(run.err.first == "add this key to users.bob.keys in orch.json (the token above is shown only now):")
    let key = try #require(try JSONValue.parse(run.err.dropFirst().joined(separator: "\n")).objectValue)
    #expect(key.keys == ["id", "sha256", "created", "expires", "scope"])
    #expect(key["id"] == "tablet")
    #expect(key["sha256"] == .string(SHA256.hex(token)))
    #expect(key["expires"] == "2041-06-30")
    #expect(key["scope"] == ["acme/notes:read_*"])
    #expect(!run.stderr.contains(token))
}

@Test func keysNewWithoutWriteLeavesTheFileAlone() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let before = try sandbox.read("orch.json")
    let run = try sandbox.run(["keys", "new", "orch.json", "--user", "alice", "--id", "spare"])
    #expect(run.status == 0)
    #expect(try sandbox.read("orch.json") == before)
}

@Test func keysNewMintsADifferentTokenEachTime() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let first = try sandbox.run(["keys", "new", "--user", "bob", "--id", "one"])
    let second = try sandbox.run(["keys", "new", "--user", "bob", "--id", "one"])
    #expect(isToken(first.stdout.trimmingCharacters(in: .newlines)))
    #expect(first.stdout != second.stdout)
}

@Test func keysNewJSONPrintsTokenAndKey() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let run = try sandbox.run(["keys", "new", "--json", "--user", "bob", "--id", "tablet"])
    #expect(run.status == 0)
    #expect(run.out.count == 1)
    let answer = try JSONValue.parse(run.stdout)
    #expect(answer.objectValue?.keys == ["token", "key"])
    let token = try #require(answer["token"]?.stringValue)
    #expect(isToken(token))
    #expect(answer["key"]?["sha256"] == .string(SHA256.hex(token)))
}

@Test func keysNewWriteAddsTheKeyKeepingKeyOrderAndTheFileStillChecks() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let original = try JSONValue.parse(try sandbox.read("orch.json"))
    let run = try sandbox.run(["keys", "new", "orch.json", "--user", "bob", "--id", "tablet", "--expires", "2041-06-30", "--write"])
    #expect(run.status == 0)
    let token = try #require(run.out.first)
    #expect(isToken(token))
    #expect(run.err.first == "added key tablet to users.bob.keys in orch.json (the token above is shown only now):")

    let written = try sandbox.read("orch.json")
    let updated = try JSONValue.parse(written)
    #expect(updated.objectValue?.keys == original.objectValue?.keys)
    #expect(updated["users"]?.objectValue?.keys == ["alice", "bob"])
    #expect(updated["users"]?["bob"]?.objectValue?.keys == original["users"]?["bob"]?.objectValue?.keys)
    #expect(updated["roles"] == original["roles"])
    #expect(updated["orgs"] == original["orgs"])
    #expect(updated["tests"] == original["tests"])
    let keys = try #require(updated["users"]?["bob"]?["keys"]?.arrayValue)
    #expect(keys.map { $0["id"] } == ["ci", "old", "tablet"])
    #expect(Array(keys.prefix(2)) == original["users"]?["bob"]?["keys"]?.arrayValue)
    #expect(keys.last?["sha256"] == .string(SHA256.hex(token)))
    #expect(keys.last?["expires"] == "2041-06-30")
    // Inserted into the text, not written again: the rest of the file is as it was.
    let tests = try #require(Fixtures.policy.range(of: #"  "tests""#))
    #expect(String(decoding: written, as: UTF8.self).hasSuffix(Fixtures.policy[tests.lowerBound...]))

    let hash = try sandbox.run(["keys", "hash"], stdin: token)
    #expect(hash.out == [SHA256.hex(token)])
    let check = try sandbox.run(["check", "orch.json"])
    #expect(check.status == 0)
    #expect(check.out.first?.hasPrefix("orch.json: ok (1 org, 2 users, 4 keys, 2 servers, 1 test passed) sha256:") == true)
}

@Test func keysNewWriteToUnknownUserExits2AndLeavesTheFileByteIdentical() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let before = try sandbox.read("orch.json")
    let run = try sandbox.run(["keys", "new", "orch.json", "--user", "zed", "--write"])
    #expect(run.status == 2)
    #expect(run.out == [])
    #expect(run.err == ["orch: no user zed in orch.json"])
    #expect(try sandbox.read("orch.json") == before)
}

@Test func keysNewWriteWithATakenIdExits2AndLeavesTheFileByteIdentical() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let before = try sandbox.read("orch.json")
    let run = try sandbox.run(["keys", "new", "--user", "bob", "--id", "ci", "--write"])
    #expect(run.status == 2)
    #expect(run.out == [])
    #expect(run.err == [#"orch: user bob already has a key "ci"; choose another --id"#])
    #expect(try sandbox.read("orch.json") == before)
}

@Test(arguments: [
    ["keys", "new", "--user", "bob", "--id", "Bad.Id"],
    ["keys", "new", "--user", "bob", "--expires", "next-week"],
    ["keys", "new", "--user", "bob", "--scope", "notes"],
    ["keys", "new"],
])
func keysNewUsageErrorsExit2AndMintNothing(arguments: [String]) throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let before = try sandbox.read("orch.json")
    let run = try sandbox.run(arguments + ["--write"])
    #expect(run.status == 2)
    #expect(run.out == [])
    #expect(try sandbox.read("orch.json") == before)
}

@Test func keysHashPrintsTheSHA256OfTheTokenOnStdin() throws {
    let sandbox = try Sandbox()
    let run = try sandbox.run(["keys", "hash"], stdin: "abc")
    #expect(run.status == 0)
    #expect(run.err == [])
    #expect(run.out == ["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"])
}

@Test func keysHashIgnoresTheTrailingNewline() throws {
    let run = try Sandbox().run(["keys", "hash"], stdin: "abc\n")
    #expect(run.out == ["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"])
}

@Test func keysHashMatchesTheHashesInTheFile() throws {
    let run = try Sandbox().run(["keys", "hash"], stdin: Fixtures.bobCIToken)
    #expect(run.out == [SHA256.hex(Fixtures.bobCIToken)])
    #expect(Fixtures.policy.contains(SHA256.hex(Fixtures.bobCIToken)))
}

@Test func keysHashWithoutATokenExits2() throws {
    let run = try Sandbox().run(["keys", "hash"], stdin: "\n")
    #expect(run.status == 2)
    #expect(run.out == [])
    #expect(run.err == ["orch: no token on stdin"])
}

@Test func keysListShowsKeysWithShortHashesOnly() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let run = try sandbox.run(["keys", "list"])
    #expect(run.status == 0)
    #expect(run.out == [
        "USER   KEY     STATUS  EXPIRES               SCOPE              HASH",
        "alice  laptop  valid   -                     *                  \(SHA256.hex(Fixtures.aliceToken).prefix(8))…",
        "bob    ci      valid   -                     acme/notes:read_*  \(SHA256.hex(Fixtures.bobCIToken).prefix(8))…",
        "bob    old     valid   2040-01-01T00:00:00Z  *                  \(SHA256.hex(Fixtures.bobOldToken).prefix(8))…",
    ])
    #expect(!containsFullHash(run.stdout + run.stderr))
}

@Test func keysListJSONNeverPrintsAFullHash() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let run = try sandbox.run(["keys", "list", "orch.json", "--user", "bob", "--json"])
    #expect(run.status == 0)
    #expect(run.out == [
        #"{"user":"bob","key":"ci","status":"valid","expires":null,"scope":["acme/notes:read_*"],"sha256Prefix":"\#(SHA256.hex(Fixtures.bobCIToken).prefix(8))"}"#,
        #"{"user":"bob","key":"old","status":"valid","expires":"2040-01-01T00:00:00Z","scope":null,"sha256Prefix":"\#(SHA256.hex(Fixtures.bobOldToken).prefix(8))"}"#,
    ])
    #expect(!containsFullHash(run.stdout + run.stderr))
    for token in [Fixtures.aliceToken, Fixtures.bobCIToken, Fixtures.bobOldToken] {
        #expect(!run.stdout.contains(SHA256.hex(token)))
    }
}

@Test func keysListOfUnknownUserExits2() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", Fixtures.policy)
    let run = try sandbox.run(["keys", "list", "--user", "zed"])
    #expect(run.status == 2)
    #expect(run.out == [])
    #expect(run.err == ["orch: no user zed in orch.json"])
}

@Test func fullHashDetectorFindsA64HexRun() {
    #expect(containsFullHash("x " + SHA256.hex("abc") + " y"))
    #expect(!containsFullHash(String(SHA256.hex("abc").prefix(63))))
}

@Test func referenceSHA256MatchesKnownVectors() {
    #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    #expect(SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
}
