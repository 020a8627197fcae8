import Foundation
import HTTPTypes
import OrchJSON
import Testing

@testable import OrchGateway

/// The requests of Fixtures/modern-requests.json, as the official Python SDK's own server answered
/// them (tests/e2e/modern_conformance.py writes the file), read by `ModernReading`: the same era, HTTP
/// status and JSON-RPC code, and for the modern refusals the same message, data and id. A case where
/// the gateway deliberately answers otherwise says what it answers instead and why.
struct ModernConformanceCase: Sendable, CustomTestStringConvertible {
    struct Answer: Sendable {
        let era: String
        let status: Int?
        let code: Int64?
        let message: String?
        let data: JSONValue?
        let id: JSONValue?
    }

    let name: String
    let method: HTTPRequest.Method
    let headers: HTTPFields
    let body: JSONValue?
    let sdk: Answer
    /// What the gateway answers where it differs from the SDK on purpose.
    let orch: Answer?
    let reason: String?

    var testDescription: String { name }

    static let fixture: JSONValue = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/modern-requests.json")
        let bytes = (try? Data(contentsOf: url)).map(Array.init) ?? []
        return (try? JSONRPC.parse(bytes)) ?? .null
    }()

    static let toolSchemas: JSONObject = fixture["toolSchemas"]?.objectValue ?? [:]

    static let all: [ModernConformanceCase] = (fixture["cases"]?.arrayValue ?? []).map { ModernConformanceCase($0) }

    init(_ value: JSONValue) {
        name = value["name"]?.stringValue ?? "?"
        method = HTTPRequest.Method(value["httpMethod"]?.stringValue ?? "") ?? .post
        let pairs = (value["headers"]?.arrayValue ?? []).compactMap { pair -> HTTPField? in
            guard let name = pair.arrayValue?.first?.stringValue.flatMap({ HTTPField.Name($0) }), let text = pair.arrayValue?.last?.stringValue
            else { return nil }
            return HTTPField(name: name, value: text)
        }
        headers = HTTPFields(pairs)
        body = nonNull(value["body"])
        sdk = Self.answer(value["sdk"])!
        orch = Self.answer(value["orch"])
        reason = value["orch"]?["reason"]?.stringValue
    }

    private static func answer(_ value: JSONValue?) -> Answer? {
        guard let value, case .object = value else { return nil }
        func present(_ key: String) -> JSONValue? { nonNull(value[key]) }
        return Answer(
            era: value["era"]?.stringValue ?? "?", status: present("status")?.integerValue.map(Int.init), code: present("code")?.integerValue,
            message: present("message")?.stringValue, data: present("data"), id: present("id"))
    }
}

/// `value` unless it is absent or JSON null (a bare `nil` where a JSONValue is expected is JSON null).
private func nonNull(_ value: JSONValue?) -> JSONValue? {
    guard let value, !value.isNull else { return nil }
    return value
}

/// What the gateway's reading of a case amounts to on the wire, in the fixture's terms.
private func observed(_ reading: ModernReading) -> ModernConformanceCase.Answer {
    switch reading {
    case .legacy: return .init(era: "legacy", status: nil, code: nil, message: nil, data: nil, id: nil)
    case .modern: return .init(era: "modern", status: 200, code: nil, message: nil, data: nil, id: nil)
    case .acknowledged: return .init(era: "modern", status: 202, code: nil, message: nil, data: nil, id: nil)
    case .refused(let refusal, let id):
        let error = refusal.reply(id: id)?["error"]
        return .init(
            era: "modern", status: refusal.status.code, code: error?["code"]?.integerValue, message: error?["message"]?.stringValue,
            data: error?["data"], id: nonNull(refusal.reply(id: id)?["id"]))
    }
}

private func read(_ item: ModernConformanceCase) -> ModernReading {
    ModernReading(
        method: item.method, headers: item.headers, message: item.body.flatMap(JSONRPCMessage.init),
        inputSchema: { ModernConformanceCase.toolSchemas[$0] })
}

@Test func theFixtureOfSDKAnswersIsThere() {
    #expect(ModernConformanceCase.all.count >= 60)
    #expect(ModernConformanceCase.fixture["sdk"]?.stringValue?.hasPrefix("mcp 2.") == true)
}

@Test(arguments: ModernConformanceCase.all)
func aRequestIsReadAsTheSDKsServerAnswersIt(_ item: ModernConformanceCase) {
    let expected = item.orch ?? item.sdk
    let got = observed(read(item))
    #expect(got.era == expected.era)
    guard expected.era == "modern" else { return }
    #expect(got.status == expected.status)
    #expect(got.code == expected.code)
    // Where the gateway answers as the SDK does, it answers in its words too.
    if item.orch == nil, expected.code != nil {
        #expect(got.message == expected.message)
        #expect(got.data == expected.data)
        #expect(got.id == expected.id)
    }
}

@Test(arguments: ModernConformanceCase.all.filter { $0.orch != nil })
func aDeliberateDifferenceFromTheSDKSaysWhy(_ item: ModernConformanceCase) {
    #expect(item.reason?.isEmpty == false)
    // A difference that is not one any more should lose its mark.
    let sdk = item.sdk, orch = item.orch!
    #expect(sdk.era != orch.era || sdk.status != orch.status || sdk.code != orch.code)
}
