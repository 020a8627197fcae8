/// Small orch.json files shared by the CLI tests.
enum Fixtures {
    /// Tokens whose hashes `policy` stores, so tests can check them against `orch keys hash`.
    static let aliceToken = "alice-laptop-token"
    static let bobCIToken = "bob-ci-token"
    static let bobOldToken = "bob-old-token"

    /// One org with a team, a tool filter, a scoped key and a key that expires in 2040; no
    /// warnings, one test.
    static let policy = """
        {
          "version": 1,
          "roles": {
            "admin": { "allow": ["*"] },
            "reader": { "allow": ["notes:read_*"] },
            "editor": { "allow": ["notes"], "deny": ["notes:delete_*"] }
          },
          "orgs": {
            "acme": {
              "members": { "alice": "admin", "bob": "reader" },
              "teams": { "data": { "members": ["bob"], "roles": ["editor"] } },
              "servers": {
                "notes": { "description": "Shared notes", "command": "notes-server" },
                "clock": { "command": "clock-server", "tools": { "deny": ["reset"] } }
              }
            }
          },
          "users": {
            "alice": { "displayName": "Alice Kim", "keys": [ { "id": "laptop", "sha256": "\(SHA256.hex(aliceToken))" } ] },
            "bob": { "keys": [
              { "id": "ci", "sha256": "\(SHA256.hex(bobCIToken))", "scope": ["acme/notes:read_*"] },
              { "id": "old", "sha256": "\(SHA256.hex(bobOldToken))", "expires": "2040-01-01" }
            ] }
          },
          "tests": [
            { "user": "bob", "allow": ["acme/notes:read_file", "acme/notes:write_file"], "deny": ["acme/notes:delete_file", "acme/clock"] }
          ]
        }

        """

    /// Compiles, with exactly one warning: a literal secret in a server's env.
    static let literalSecret = """
        {
          "version": 1,
          "roles": { "member": { "allow": ["notes"] } },
          "orgs": { "acme": { "members": { "bob": "member" }, "servers": { "notes": { "command": "x", "env": { "API_TOKEN": "literal" } } } } },
          "users": { "bob": {} }
        }

        """

    /// Two errors and nothing else: an unknown key and a plaintext-looking sha256.
    static let twoErrors = """
        {
          "version": 1,
          "roles": { "member": { "allow": ["notes"] } },
          "orgs": { "acme": { "members": { "bob": "member" }, "servers": { "notes": { "command": "x" } } } },
          "users": { "bob": { "displayNme": "Bob", "keys": [ { "id": "k", "sha256": "abc" } ] } }
        }

        """

    /// A syntax error on line 3, column 13.
    static let syntaxError = "{\n  \"version\": 1,\n  \"roles\": {,\n}\n"
}
