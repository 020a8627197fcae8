import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

/// Two keys, each 32 bytes in base64, as `gateway.stateKey` takes them.
private let keyA = Data(repeating: 7, count: 32).base64EncodedString()
private let keyB = Data(repeating: 9, count: 32).base64EncodedString()

/// One replica's orch.json: bob (key laptop, `bobToken`'s hash) on acme/notes and acme/clock.
private func replica(stateKey: String = keyA, notes: String = "", notesArgs: String = "", bobToken: String = Tokens.bob) -> String {
    """
    {
      "version": 1,
      "gateway": { "stateKey": "\(stateKey)" },
      "roles": { "member": { "allow": ["notes", "clock"] } },
      "orgs": {
        "acme": {
          "members": { "alice": "member", "bob": "member" },
          "servers": {
            "notes": { "command": "\(orchBinary)", "args": ["sample-server", "--session-tool"\(notesArgs)]\(notes) },
            "clock": { "command": "\(orchBinary)", "args": ["sample-server"] }
          }
        }
      },
      "users": {
        "alice": { "keys": [ { "id": "laptop", "sha256": "\(Tokens.hash(Tokens.alice))" } ] },
        "bob": { "keys": [ { "id": "laptop", "sha256": "\(Tokens.hash(bobToken))" } ] }
      }
    }
    """
}

private let initialize = #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"test-client","version":"1.2"}}}"#
private let initialized = #"{"jsonrpc":"2.0","method":"notifications/initialized"}"#
private let sessionInfo = #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"session_info","arguments":{}}}"#
private let list = #"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#

/// What the notes server says it was told at initialize (the `session_info` tool).
private func info(_ reply: (status: HTTPResponse.Status, session: String?, body: JSONValue)) throws -> JSONValue {
    #expect(reply.status == .ok)
    let text = try #require(reply.body["result"]?["content"]?.arrayValue?.first?["text"]?.stringValue)
    return try JSONValue.parse(text)
}

private func opened(_ client: some TestClientProtocol) async throws -> String {
    let reply = try await client.mcp(initialize)
    #expect(reply.status == .ok)
    return try #require(reply.session)
}

@Test func aSessionOpenedOnOneReplicaIsRecreatedOnAnotherWithTheClientsInitialize() async throws {
    let first = try TestGateway(json: replica()), second = try TestGateway(json: replica())
    try await first.test { one in
        try await second.test { two in
            let session = try await opened(one)
            // Round-robin sends the client's notifications/initialized elsewhere: that replica
            // re-creates the session and tells its server once.
            #expect(try await two.mcp(session: session, initialized).status == .accepted)
            let told = try info(try await two.mcp(session: session, sessionInfo))
            #expect(told["protocolVersion"] == "2025-06-18")
            #expect(told["capabilities"] == ["roots": ["listChanged": true]])
            #expect(told["clientInfo"] == ["name": "test-client", "version": "1.2"])
            #expect(told["initializedNotifications"] == 1)
            // The client's own, later, is dropped there.
            #expect(try await two.mcp(session: session, initialized).status == .accepted)
            #expect(try info(try await two.mcp(session: session, sessionInfo))["initializedNotifications"] == 1)
            #expect(second.gateway.sessionCount == 1)
            // The first replica still serves it too.
            #expect(try await one.mcp(session: session, list).status == .ok)
        }
    }
    #expect(second.auditLines.contains { $0.contains("session re-created from its id") })
}

@Test func concurrentRequestsOfAnUnheldSessionShareOneRecreation() async throws {
    let first = try TestGateway(json: replica()), second = try TestGateway(json: replica())
    try await first.test { one in
        let session = try await opened(one)
        try await second.test { two in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<6 { group.addTask { try await two.mcp(session: session, list).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: .ok, count: 6))
            #expect(second.gateway.upstreamPIDs.count == 1)
            #expect(try info(try await two.mcp(session: session, sessionInfo))["initializedNotifications"] == 1)
        }
    }
}

@Test func anIDThatDoesNotHoldIsRefusedWithoutStartingAnUpstream() async throws {
    let clock = ManualClock()
    let first = try TestGateway(json: replica())
    let later = try TestGateway(json: replica(), clock: clock.clock)
    let otherKey = try TestGateway(json: replica(stateKey: keyB))
    // bob's key laptop, rotated to another token under the same id.
    let rotated = try TestGateway(json: replica(bobToken: Tokens.bobCI))
    try await first.test { one in
        let session = try await opened(one)
        var tampered = Array(session.utf8)
        tampered[tampered.count / 2] = tampered[tampered.count / 2] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let notes = "/orgs/acme/servers/notes/mcp"
        let refusals: [(TestGateway, [(id: String, path: String, token: String)])] = [
            (later, [(String(decoding: tampered, as: UTF8.self), notes, Tokens.bob), (String(session.dropLast(6)), notes, Tokens.bob),
                     (session, notes, Tokens.alice), (session, "/orgs/acme/servers/clock/mcp", Tokens.bob),
                     ("0123456789abcdef0123456789abcdef", notes, Tokens.bob)]),
            (otherKey, [(session, notes, Tokens.bob)]),
            (rotated, [(session, notes, Tokens.bobCI)]),
        ]
        for (replica, attempts) in refusals {
            try await replica.test { (client: any TestClientProtocol) async throws -> Void in
                for attempt in attempts {
                    let status = try await client.mcp(path: attempt.path, token: attempt.token, session: attempt.id, list).status
                    #expect(status == .notFound, "\(attempt.path) \(attempt.token)")
                }
                #expect(replica.gateway.upstreamPIDs.isEmpty)
                guard replica.gateway === later.gateway else { return }
                // Past limits.maxSessionSeconds (one day by default) the id is refused too.
                clock.advance(by: 2 * 86_400)
                let status = try await client.mcp(session: session, list).status
                #expect(status == .notFound)
                #expect(replica.gateway.upstreamPIDs.isEmpty)
            }
        }
    }
    let reasons = (later.auditLines + otherKey.auditLines + rotated.auditLines).compactMap { try? JSONValue.parse($0) }
        .compactMap { $0["reason"]?.stringValue }.filter { $0.hasPrefix("session not re-created") }
    for expected in ["did not seal", "of another key or sign-in", "of acme/notes, not acme/clock", "sealed with another gateway.stateKey", "expired at"] {
        #expect(reasons.contains { $0.contains(expected) }, "\(expected): \(reasons)")
    }
}

@Test func aStatefulServersSessionIsRefusedWhereItIsNotHeld() async throws {
    let first = try TestGateway(json: replica(notes: #", "stateful": true"#)), second = try TestGateway(json: replica(notes: #", "stateful": true"#))
    try await first.test { one in
        try await second.test { two in
            let session = try await opened(one)
            #expect(try await two.mcp(session: session, list).status == .notFound)
            #expect(second.gateway.upstreamPIDs.isEmpty)
            #expect(try await one.mcp(session: session, list).status == .ok)
        }
    }
    #expect(second.auditLines.contains { $0.contains("acme/notes is stateful") })
}

@Test func aServerThatNowNegotiatesAnotherVersionIsRefusedSoTheClientReinitializes() async throws {
    let first = try TestGateway(json: replica()), second = try TestGateway(json: replica(notesArgs: #", "--versions", "2024-11-05""#))
    try await first.test { one in
        try await second.test { two in
            let session = try await opened(one)
            #expect(try await two.mcp(session: session, list).status == .notFound)
            #expect(try await waitFor { second.gateway.sessionCount == 0 })
        }
    }
    #expect(second.auditLines.contains { $0.contains("now negotiates protocol version 2024-11-05, the session had 2025-06-18") })
}

@Test func deleteEndsTheSessionWhereItIsSentAndElsewhereIsBestEffort() async throws {
    let first = try TestGateway(json: replica()), second = try TestGateway(json: replica())
    try await first.test { one in
        try await second.test { two in
            let ended = try await opened(one)
            try await one.execute(uri: "/orgs/acme/servers/notes/mcp", method: .delete, headers: [.authorization: "Bearer \(Tokens.bob)", .sessionID: ended]) {
                #expect($0.status == .noContent)
            }
            #expect(try await one.mcp(session: ended, list).status == .notFound)
            // Another replica never heard of the DELETE: the id re-creates the session there.
            #expect(try await two.mcp(session: ended, list).status == .ok)

            // A DELETE on a replica that does not hold the session is remembered there.
            let held = try await opened(one)
            try await two.execute(uri: "/orgs/acme/servers/notes/mcp", method: .delete, headers: [.authorization: "Bearer \(Tokens.bob)", .sessionID: held]) {
                #expect($0.status == .noContent)
            }
            #expect(try await two.mcp(session: held, list).status == .notFound)
            #expect(try await one.mcp(session: held, list).status == .ok)
        }
    }
}

@Test func aSealedIDSaysWhatItNamesAndIsCutToFit() throws {
    let seal = SessionSeal(StateSeal(keys: [keyA]))
    let claims = SealedSession(user: "bob", keyID: "laptop", credential: SessionSeal.fingerprint(.key(KeyHash(token: Tokens.bob))),
                               endpoint: "acme/notes", version: "2025-06-18", capabilities: ["roots": ["listChanged": true]],
                               clientName: String(repeating: "é", count: 40), clientVersion: "1", issued: 1, expires: 2)
    // clientInfo's name is cut to 64 bytes, at a character.
    #expect(claims.clientName == String(repeating: "é", count: 32))
    let id = seal.seal(claims)
    #expect(id.hasPrefix("s1.") && id.utf8.count <= 512 && id.allSatisfy { $0.isASCII && !$0.isWhitespace })
    #expect(seal.open(id) == .opened(claims))
    // Capabilities that do not fit keep their names.
    let large: JSONObject = ["experimental": .object(JSONObject((0..<40).map { ("feature-\($0)", JSONValue.string("on")) })), "sampling": [:]]
    let big = SealedSession(user: "bob", keyID: "laptop", credential: claims.credential, endpoint: "acme/notes", version: "2025-06-18",
                            capabilities: large, clientName: "c", clientVersion: "1", issued: 1, expires: 2)
    let cut = seal.seal(big)
    #expect(cut.utf8.count <= 512)
    guard case .opened(let reduced) = seal.open(cut) else { Issue.record("the reduced id does not open"); return }
    #expect(reduced.capabilities == ["experimental": [:], "sampling": [:]])
    // Another purpose's sealed text is no session id, and another key's is named as such.
    let state = RequestStateSeal(StateSeal(keys: [keyA])).seal(RequestStateSeal.Binding(
        user: "bob", credential: "k", server: "acme/notes", method: "tools/call", call: "c", heldCall: "h", question: "q", expires: 2))
    #expect(seal.open(state) == .broken)
    guard case .foreignKey = SessionSeal(StateSeal(keys: [keyB])).open(id) else { Issue.record("another key's id is not named so"); return }
    #expect(seal.open(String(repeating: "a", count: 600)) == .broken)
}

@Test func anAggregatedSessionIsRecreatedOnAnotherReplicaAndItsMembersStartThere() async throws {
    let first = try TestGateway(json: replica()), second = try TestGateway(json: replica())
    let stateful = try TestGateway(json: replica(notes: #", "stateful": true"#))
    let path = "/orgs/acme/mcp"
    try await first.test { one in
        let opened = try await one.mcp(path: path, initialize)
        let session = try #require(opened.session)
        #expect(session.hasPrefix("s1."))
        try await second.test { two in
            #expect(try await two.mcp(path: path, session: session, initialized).status == .accepted)
            let tools = try await two.mcp(path: path, session: session, list)
            #expect(tools.status == .ok && tools.body["result"]?["tools"]?.arrayValue?.isEmpty == false)
            let call = #"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"notes__session_info","arguments":{}}}"#
            let told = try info(try await two.mcp(path: path, session: session, call))
            #expect(told["capabilities"] == ["roots": ["listChanged": true]] && told["clientInfo"]?["name"] == "test-client")
            // Not the id of a server's endpoint, nor of /mcp.
            #expect(try await two.mcp(session: session, list).status == .notFound)
            #expect(try await two.mcp(path: "/mcp", session: session, list).status == .notFound)
            try await two.execute(uri: path, method: .delete, headers: [.authorization: "Bearer \(Tokens.bob)", .sessionID: session]) {
                #expect($0.status == .noContent)
            }
            #expect(try await two.mcp(path: path, session: session, list).status == .notFound)
            #expect(try await one.mcp(path: path, session: session, list).status == .ok)
        }
        try await stateful.test { three in
            let status = try await three.mcp(path: path, session: session, list).status
            #expect(status == .notFound)
        }
    }
    #expect(second.auditLines.contains { $0.contains("session re-created from its id") })
    #expect(stateful.auditLines.contains { $0.contains("reaches acme/notes, which is stateful") })
}

@Test func base64urlRoundTripsEveryLengthAndRefusesWhatIsNotIt() {
    var generator = SystemRandomNumberGenerator()
    for length in 0..<70 {
        let bytes = Data((0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let text = StateSeal.base64url(bytes)
        #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
        #expect(StateSeal.data(base64url: Array(text.utf8)) == bytes)
        #expect(text == bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: ""))
    }
    for bad in ["ab=c", "a+bc", "a/bc", "abcde", "a b", "é"] { #expect(StateSeal.data(base64url: Array(bad.utf8)) == nil, "\(bad)") }
    // Bits past the last byte must be zero: "AB" is 0x00 with 4 bits left over, "AQ" sets one.
    #expect(StateSeal.data(base64url: Array("AA".utf8)) == Data([0]))
    #expect(StateSeal.data(base64url: Array("AB".utf8)) == nil)
}

@Test func everyChangeOfAnIDBreaksItAndNoneCrashes() {
    let seal = SessionSeal(StateSeal(keys: [keyA]))
    let claims = SealedSession(user: "bob", keyID: nil, credential: "f", endpoint: "/mcp", version: "2025-06-18", capabilities: [:],
                               clientName: "c", clientVersion: "1", issued: 1, expires: 2)
    let id = Array(seal.seal(claims).utf8)
    #expect(seal.open(String(decoding: id, as: UTF8.self)) == .opened(claims))
    var opened = 0
    for index in id.indices {
        for replacement in [UInt8(ascii: "A"), UInt8(ascii: "_"), UInt8(ascii: "."), 0xC3] where id[index] != replacement {
            var changed = id
            changed[index] = replacement
            if case .opened = seal.open(String(decoding: changed, as: UTF8.self)) { opened += 1 }
        }
        if case .opened = seal.open(String(decoding: id[..<index], as: UTF8.self)) { opened += 1 }
    }
    // A change of the last character's unused bits is refused by the zero-bits check; nothing opens.
    #expect(opened == 0)
}
