import OrchJSON
import OrchPolicy
import Testing

@Suite struct PathPositionsTests {
    private let text = """
        {
          "orgs": {
            "acme": { "servers": { "a.b": { "args": ["x", "y"] } } }
          }
        }

        """

    @Test func pathsFindTheirKeyOrItem() throws {
        let positions = try #require(PathPositions(Array(text.utf8)))
        #expect(positions.position(of: "orgs") == JSONPosition(line: 2, column: 3))
        #expect(positions.position(of: "orgs.acme.servers") == JSONPosition(line: 3, column: 15))
        #expect(positions.position(of: #"orgs.acme.servers["a.b"].args[1]"#) == JSONPosition(line: 3, column: 51))
    }

    @Test func aPathTheFileLacksFindsItsNearestEnclosingValue() throws {
        let positions = try #require(PathPositions(Array(text.utf8)))
        #expect(positions.position(of: #"orgs.acme.servers["a.b"].command"#) == JSONPosition(line: 3, column: 28))
        #expect(positions.position(of: "orgs.globex.servers") == JSONPosition(line: 2, column: 3))
        #expect(positions.position(of: "users.bob") == JSONPosition(line: 1, column: 1))
    }

    @Test func aDiagnosticWithALineKeepsIt() throws {
        let positions = PathPositions(Array(text.utf8))
        let syntax = Diagnostic(.error, path: "", line: 7, column: 2, message: "m")
        #expect(syntax.located(in: positions) == syntax)
        #expect(Diagnostic(.warning, path: "orgs", message: "m").located(in: positions).line == 2)
        #expect(PathPositions(Array("{".utf8)) == nil)
    }

    /// Every diagnostic of every broken-file fixture that names a path gets a line.
    @Test(arguments: PolicyFixture.all())
    func everyDiagnosticWithAPathGetsALine(_ fixture: PolicyFixture) {
        let bytes = Array(fixture.input.utf8)
        let positions = PathPositions(bytes)
        for d in PolicyCompiler.compile(bytes, options: Pinned.options()).diagnostics where !d.path.isEmpty {
            #expect(d.located(in: positions).line != nil, "\(fixture.name): \(d.path)")
        }
    }

    /// The formatter over the same fixtures: a second pass changes nothing, the values stay.
    @Test(arguments: PolicyFixture.all())
    func formattingAFixtureTwiceChangesNothing(_ fixture: PolicyFixture) throws {
        let bytes = Array(fixture.input.utf8)
        guard let value = try? JSONValue.parse(bytes) else { return }
        let once = try JSONFormatter.format(bytes)
        #expect(try JSONFormatter.format(once) == once, "\(fixture.name)")
        #expect(try JSONValue.parse(once) == value, "\(fixture.name)")
        #expect(rendered(PolicyCompiler.compile(once, options: Pinned.options()).diagnostics).count
            == rendered(PolicyCompiler.compile(bytes, options: Pinned.options()).diagnostics).count, "\(fixture.name)")
    }
}
