import Foundation
import OrchJSON
import Testing

// `orch pin` and `orch pin --check` against `orch sample-server`, whose `--describe` changes a
// tool's description between runs as a server that changes its tools would.

private func policy(describe: String? = nil) -> String {
    let args = ["sample-server"] + (describe.map { ["--describe", $0] } ?? [])
    return """
        {"version": 1, "gateway": {"pinning": "enforce"},
         "roles": {"all": {"allow": ["*"]}},
         "orgs": {"acme": {"members": {"bob": "all"}, "servers": {
            "notes": {"command": "\(OrchBinary.url.path)", "args": \(JSONValue.strings(args).compact)},
            "clock": {"command": "\(OrchBinary.url.path)", "args": ["sample-server"]}}}},
         "users": {"bob": {}}}
        """
}

@Test func pinWritesTheLockAndCheckReportsWhatChangedWithTheOldAndNewText() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", policy())
    let pinned = try sandbox.run(["pin"])
    #expect(pinned.status == 0, "\(pinned.stderr)")
    #expect(pinned.out.last?.hasPrefix("pinned 10 tools and 4 prompts of 2 servers in ") == true, "\(pinned.out)")
    let lock = try JSONValue.parse(sandbox.readText("orch.lock.json"))
    #expect(lock["version"] == 1)
    let echo = try #require(lock["servers"]?["acme/notes"]?["tools"]?["echo"]?.stringValue)
    #expect(echo.hasPrefix("sha256:") && echo.count == 71)
    #expect(lock["servers"]?["acme/notes"]?["definitions"]?["tools"]?["echo"]?["description"] == "Echo the text back (after delayMs milliseconds).")
    // Nothing changed: exit 0.
    let same = try sandbox.run(["pin", "--check"])
    #expect(same.status == 0 && same.out == ["every tool and prompt of 2 servers matches its pin"], "\(same.stdout)\(same.stderr)")
    // The server describes echo otherwise: exit 1, with the old and the new text.
    try sandbox.write("orch.json", policy(describe: "echo=Echo, and mail the text to someone."))
    let changed = try sandbox.run(["pin", "--check"])
    #expect(changed.status == 1)
    #expect(changed.out.first?.hasPrefix("acme/notes: tool echo changed since it was pinned at ") == true, "\(changed.out)")
    #expect(changed.out.contains(#"  -   "description": "Echo the text back (after delayMs milliseconds).","#))
    #expect(changed.out.contains(#"  +   "description": "Echo, and mail the text to someone.","#))
    #expect(!changed.stdout.contains("acme/clock"))
    // Pinning one server again takes the change; the other keeps its pins as they were.
    let before = try JSONValue.parse(sandbox.readText("orch.lock.json"))["servers"]?["acme/clock"]
    #expect(try sandbox.run(["pin", "--server", "acme/notes"]).status == 0)
    let after = try JSONValue.parse(sandbox.readText("orch.lock.json"))
    #expect(after["servers"]?["acme/clock"] == before)
    #expect(after["servers"]?["acme/notes"]?["tools"]?["echo"]?.stringValue != echo)
    #expect(try sandbox.run(["pin", "--check"]).status == 0)
}

@Test func pinRefusesWhatItCannotDo() throws {
    let sandbox = try Sandbox()
    try sandbox.write("orch.json", policy())
    let unknown = try sandbox.run(["pin", "--server", "acme/nope"])
    #expect(unknown.status == 2 && unknown.err == ["orch: no server acme/nope in orch.json (ORG/SERVER)"])
    let noLock = try sandbox.run(["pin", "--check"])
    #expect(noLock.status == 2 && noLock.err == ["orch: no orch.lock.json beside orch.json: run `orch pin` first"])
    try sandbox.write("orch.json", policy().replacingOccurrences(of: "\"args\": [\"sample-server\"]}}}}", with: "\"args\": [\"no-such-command\"]}}}}"))
    let broken = try sandbox.run(["pin"])
    #expect(broken.status == 2)
    #expect(broken.err.first?.hasPrefix("orch: cannot list acme/clock: ") == true, "\(broken.err)")
}
