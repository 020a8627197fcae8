import Foundation
import OrchJSON
import Testing

private let samplesFolder = PackageRoot.url.appendingPathComponent("samples")

/// samples/*.json except the schema, by file name.
private func sampleNames() -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: samplesFolder.path)) ?? []
    return names.filter { $0.hasSuffix(".json") && $0 != "orch.schema.json" }.sorted()
}

@Test func schemaOutputEqualsTheCommittedSample() throws {
    let run = try Sandbox().run(["schema"])
    #expect(run.status == 0)
    #expect(run.err == [])
    let committed = String(decoding: try Data(contentsOf: samplesFolder.appendingPathComponent("orch.schema.json")), as: UTF8.self)
    let trimmed = { (text: String) in text.hasSuffix("\n") ? String(text.dropLast()) : text }
    #expect(trimmed(run.stdout) == trimmed(committed))
}

@Test func schemaIsJSONSchema2020_12ThatRequiresVersion() throws {
    let schema = try JSONValue.parse(try Sandbox().run(["schema"]).stdout)
    #expect(schema["$schema"] == "https://json-schema.org/draft/2020-12/schema")
    #expect(schema["required"] == ["version"])
    #expect(schema["properties"]?.objectValue?.keys == ["$schema", "version", "gateway", "auth", "roles", "orgs", "users", "tests"])
}

@Test func theDocumentedSamplesExist() {
    #expect(Set(sampleNames()).isSuperset(of: ["minimal.json", "remote.json", "team.json"]))
}

@Test(arguments: sampleNames())
func sampleChecksCleanly(name: String) throws {
    let path = samplesFolder.appendingPathComponent(name).path
    let run = try Sandbox().run(["check", "--strict", path])
    #expect(run.status == 0)
    #expect(run.err == [])
    #expect(run.out.first?.hasPrefix("\(path): ok (") == true)
}

@Test(arguments: sampleNames())
func sampleNamesTheSchemaBesideIt(name: String) throws {
    let sample = try JSONValue.parse([UInt8](try Data(contentsOf: samplesFolder.appendingPathComponent(name))))
    #expect(sample["$schema"] == "./orch.schema.json")
}

@Test func rootOrchJSONChecks() throws {
    let path = PackageRoot.url.appendingPathComponent("orch.json").path
    let run = try Sandbox().run(["check", path])
    #expect(run.status == 0)
    #expect(run.out.first?.hasPrefix("\(path): ok (") == true)
}
