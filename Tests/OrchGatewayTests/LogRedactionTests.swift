import Logging
import OrchPolicy
import Testing

@testable import OrchGateway

// Secret values never reach the log, whatever the message: redacted in the log handler.

private func policy(_ environment: [String: String]) throws -> Policy {
    let text = """
        {"version": 1, "roles": {"all": {"allow": ["*"]}},
         "orgs": {"acme": {"members": {"bob": "all"}, "servers": {
            "tickets": {"url": "https://tickets.example.com/mcp?key=${env:URL_KEY}", "headers": {"Authorization": "Bearer ${env:TICKETS_TOKEN}"}},
            "local": {"command": "x", "env": {"PORT": "${env:SHORT}", "LEVEL": "${env:UNSET:-debug-level}"}}}}},
         "users": {"bob": {}}}
        """
    let result = PolicyCompiler.compile(Array(text.utf8), options: CompileOptions(environment: environment))
    return try #require(result.policy, "\(result.diagnostics)")
}

@Test func theValuesOfEnvReferencesAreRedactedAsWrittenAndPercentEncoded() throws {
    let redaction = LogRedaction()
    redaction.policyLoaded(try policy(["URL_KEY": "k3y/with space", "TICKETS_TOKEN": "tok-123456", "SHORT": "80"]))
    let location = "the server answered with a redirect (HTTP 307 to https://other.example/mcp?key=k3y%2Fwith%20space)"
    #expect(redaction.redact(location) == "the server answered with a redirect (HTTP 307 to https://other.example/mcp?key=[redacted])")
    #expect(redaction.redact("Authorization: Bearer tok-123456; raw k3y/with space") == "Authorization: Bearer [redacted]; raw [redacted]")
    // Values shorter than four characters and the file's own defaults are not secrets.
    #expect(redaction.redact("port 80, level debug-level") == "port 80, level debug-level")
    // A reload that drops a value stops redacting it; a new one is redacted from then on.
    redaction.policyLoaded(try policy(["URL_KEY": "other-key", "TICKETS_TOKEN": "tok-123456", "SHORT": "80"]))
    #expect(redaction.redact("k3y/with space other-key") == "k3y/with space [redacted]")
}

@Test func usersSecretsAreRedactedOnceReadAndReplacedWhenRotated() {
    let redaction = LogRedaction()
    redaction.remember(user: "bob", values: ["GITHUB_TOKEN": "ghp_bob_1"])
    #expect(redaction.redact("GET https://api.example/?t=ghp_bob_1") == "GET https://api.example/?t=[redacted]")
    redaction.remember(user: "bob", values: ["GITHUB_TOKEN": "ghp_bob_2"])
    #expect(redaction.redact("ghp_bob_1 ghp_bob_2") == "ghp_bob_1 [redacted]")
}

@Test func aValueThatHoldsAnotherIsTakenOutWhole() {
    let redaction = LogRedaction()
    redaction.remember(user: "bob", values: ["A": "secret", "B": "secret-and-more"])
    #expect(redaction.redact("x secret-and-more y secret") == "x [redacted] y [redacted]")
}

@Test func theMetadataOfALineIsRedactedToo() {
    let redaction = LogRedaction()
    redaction.remember(user: "bob", values: ["T": "hunter22"])
    let value: Logger.MetadataValue = .dictionary(["url": "https://x/?t=hunter22", "list": ["hunter22", .stringConvertible(42)]])
    guard case .dictionary(let entries) = redaction.redact(value) else {
        Issue.record("not a dictionary")
        return
    }
    #expect(entries["url"]?.description == "https://x/?t=[redacted]")
    #expect(entries["list"]?.description == #"["[redacted]", "42"]"#)
}
