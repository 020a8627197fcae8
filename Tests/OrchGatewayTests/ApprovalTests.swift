import Foundation
@testable import OrchGateway
import OrchJSON
import OrchPolicy
import Testing

// The approval's question and answers, and the sealed files of calls that wait for a role.

private let rule = ApprovalRule(tools: [Glob("deploy")], by: .caller, redact: ["token"])
private let question = ApprovalQuestion(server: "acme/ops", tool: "deploy", arguments: ["env": "prod", "token": "s3cret", "note": .string(String(repeating: "x", count: 300))],
                                        rules: [rule, ApprovalRule(tools: [Glob("*")], by: .role("release"))])

@Test func theQuestionSummarizesTheArgumentsWithRedactionsAndAsksOneBoolean() throws {
    #expect(question.title == "Approve acme/ops deploy")
    let lines = question.summary.split(separator: "\n").map(String.init)
    #expect(lines.count == 3)
    #expect(lines[0] == #"env: "prod""#)
    #expect(lines[1].hasPrefix("note: \"xxx") && lines[1].hasSuffix("…") && lines[1].count == "note: ".count + 201)
    #expect(lines[2] == "token: •••")
    #expect(!question.message.contains("s3cret"))
    let schema = try #require(question.elicitation["requestedSchema"])
    #expect(schema["required"] == ["approve"] && schema["properties"]?["approve"]?["type"] == "boolean")
    #expect(question.callerRule == rule && question.roleRules.map(\.role) == ["release"])
    #expect(question.forRolesOnly.callerRule == nil && question.forRolesOnly.roleRules.count == 1)
    #expect(ApprovalQuestion(server: "a/b", tool: "t", arguments: [:], rules: [rule]).summary == "(no arguments)")
}

@Test func onlyAcceptWithApproveTrueApproves() {
    #expect(ApprovalQuestion.read(["action": "accept", "content": ["approve": true]]) == .approved)
    #expect(ApprovalQuestion.read(["action": "accept", "content": ["approve": false]]) == .declined("declined"))
    #expect(ApprovalQuestion.read(["action": "decline"]) == .declined("declined"))
    #expect(ApprovalQuestion.read(["action": "cancel"]) == .declined("cancelled"))
    let mismatch = ApprovalQuestion.Answer.declined("the answer does not match the question (one boolean, approve)")
    #expect(ApprovalQuestion.read(["action": "accept", "content": ["approve": "true"]]) == mismatch)
    #expect(ApprovalQuestion.read(["action": "accept", "content": ["approve": true, "also": 1]]) == mismatch)
    #expect(ApprovalQuestion.read(["action": "accept"]) == mismatch)
    #expect(ApprovalQuestion.read(nil) == mismatch)
    let declined = question.declinedResult(id: 4, "declined by bob")
    #expect(declined["result"]?["isError"] == true)
    #expect(declined["result"]?["content"]?.arrayValue?.first?["text"] == "The call of acme/ops deploy did not run: the approval was declined by bob.")
}

private let key = Data((0..<32).map { UInt8($0 &+ 3) }).base64EncodedString()

private func store(keys: [String] = [key], folder: String? = nil) -> ApprovalStore {
    ApprovalStore(folder: folder ?? NSTemporaryDirectory() + "orch-approvals-\(UUID().uuidString)", relativeTo: "/", keys: keys)
}

private func pending(_ id: String = ApprovalStore.newID(), created: Int64 = 100, expires: Int64 = 400) -> ApprovalStore.Pending {
    .init(id: id, org: "acme", server: "acme/ops", tool: "deploy", role: "release", caller: "bob", summary: "env: \"prod\"", created: created, expires: expires)
}

@Test func pendingCallsAndDecisionsAreSealedFilesEveryReplicaSharing() throws {
    let a = store()
    let replica = store(folder: a.folder)
    let first = pending(created: 100), second = pending(created: 50), old = pending(expires: 90)
    for call in [first, second, old] { try a.add(call) }
    // Another replica with the key sees them, oldest first, the expired one left out.
    #expect(replica.pending(at: 95).map(\.id) == [second.id, first.id])
    #expect(replica.pending(first.id) == first)
    // The file holds no argument in the clear.
    let text = try String(contentsOfFile: a.folder + "/pending/" + first.id, encoding: .utf8)
    #expect(text.hasPrefix("orchap1.") && !text.contains("prod") && !text.contains("bob"))
    let attributes = try FileManager.default.attributesOfItem(atPath: a.folder + "/pending/" + first.id)
    #expect((attributes[.posixPermissions] as? Int) == 0o600)
    // A decision, made on either replica, is seen by both; the first stands.
    try replica.decide(first.id, .init(approved: true, by: "rae", at: 120))
    #expect(a.decision(first.id) == .init(approved: true, by: "rae", at: 120))
    #expect(throws: StateFileError.self) { try a.decide(first.id, .init(approved: false, by: "sam", at: 121)) }
    #expect(a.pending(at: 95).map(\.id) == [second.id])
    a.remove(first.id)
    #expect(a.pending(first.id) == nil && a.decision(first.id) == nil)
    // Another key opens nothing; a file renamed to another call's id does not open either.
    #expect(store(keys: [Data(repeating: 8, count: 32).base64EncodedString()], folder: a.folder).pending(at: 95).isEmpty)
    let other = ApprovalStore.newID()
    try FileManager.default.copyItem(atPath: a.folder + "/pending/" + second.id, toPath: a.folder + "/pending/" + other)
    #expect(a.pending(other) == nil)
    #expect(a.pending("../../etc/passwd") == nil && !ApprovalStore.isID("ABC"))
}

@Test func anApprovalStateIsTakenOnceByWhicheverReplicaSharesTheFolder() {
    let a = store()
    let b = store(folder: a.folder)
    #expect(a.firstUse("orch1.state-one", expires: 500, now: 100))
    #expect(!b.firstUse("orch1.state-one", expires: 500, now: 101))
    #expect(!a.firstUse("orch1.state-one", expires: 500, now: 102))
    #expect(b.firstUse("orch1.state-two", expires: 500, now: 103))
    // The record names the state by its digest, never the state itself.
    let names = (try? FileManager.default.contentsOfDirectory(atPath: a.folder + "/used")) ?? []
    #expect(names.count == 2 && names.allSatisfy { $0.count == 64 && !$0.contains("state") })
}
