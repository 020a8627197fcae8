import Foundation
import Testing

/// A misspelled user or command gets the closest name, in every command.
@Suite struct SuggestionTests {
    @Test(arguments: [
        ["explain", "bobb"],
        ["keys", "new", "--user", "bobb"],
        ["keys", "new", "--user", "bobb", "--client", "cursor", "--write"],
        ["keys", "list", "--user", "bobb"],
        ["client-config", "--user", "bobb", "--client", "cursor"],
    ])
    func anUnknownUserSuggestsTheClosestOne(arguments: [String]) throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let before = try sandbox.read("orch.json")
        let run = try sandbox.run(arguments)
        #expect(run.status == 2)
        #expect(run.out == [])
        #expect(run.err == [#"orch: no user bobb in orch.json (did you mean "bob"?)"#])
        #expect(try sandbox.read("orch.json") == before)
    }

    @Test func canAnswersAnUnknownUserWithTheClosestOne() throws {
        let sandbox = try Sandbox()
        try sandbox.write("orch.json", Fixtures.policy)
        let run = try sandbox.run(["can", "bobb", "acme/notes"])
        #expect(run.status == 1)
        #expect(run.out == [#"deny acme/notes  no user bobb (did you mean "bob"?)"#])
        let bulk = try sandbox.run(["can", "--stdin"], stdin: #"{"user":"alce","target":"acme/notes"}"# + "\n")
        #expect(bulk.out == [#"{"user":"alce","target":"acme/notes","key":null,"decision":"deny","reason":"no user alce (did you mean \"alice\"?)"}"#])
        let far = try sandbox.run(["can", "zed", "acme/notes"])
        #expect(far.out == ["deny acme/notes  no user zed"])
    }

    @Test func anUnknownCommandSuggestsTheClosestOne() throws {
        let run = try Sandbox().run(["chekc"])
        #expect(run.status == 2)
        #expect(run.out == [])
        #expect(run.err.count == 1)
        #expect(run.err.first?.hasPrefix(#"orch: unknown command "chekc" (did you mean "check"?); the commands are "#) == true)
    }
}
