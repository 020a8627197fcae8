// Measures what the policy costs per request: compile time of a file, `decide` and token lookup.
// Usage: orch-bench ORCH_JSON TOKENS_TXT; orch-bench seal (SealBench.swift); orch-bench search N (SearchBench.swift)
import Foundation
import OrchJSON
import OrchPolicy

let arguments = CommandLine.arguments
if arguments.count == 2, arguments[1] == "seal" {
    sealBench()
    exit(0)
}
if arguments.count == 3, arguments[1] == "search", let count = Int(arguments[2]) {
    searchBench(count)
    exit(0)
}
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: orch-bench ORCH_JSON TOKENS_TXT | orch-bench seal | orch-bench search N\n".utf8))
    exit(2)
}
let bytes = try PolicyFileError.read(arguments[1])
let tokens = try String(contentsOfFile: arguments[2], encoding: .utf8).split(separator: "\n").map(String.init)
let clock = ContinuousClock()

func milliseconds(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15
}

func nanoseconds(_ d: Duration, per count: Int) -> Double {
    (Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9) / Double(count)
}

// Parse alone (into the parser's tree, as the compiler reads it), for comparison with the whole compile.
var bestParse = Duration.seconds(1000)
for _ in 0..<5 {
    let start = clock.now
    _ = try JSONNode.parse(bytes) { $0.isObject }.get()
    bestParse = min(bestParse, clock.now - start)
}
print("parse_ms \(String(format: "%.1f", milliseconds(bestParse)))")

// Compile: best of 5 in-process runs.
var best = Duration.seconds(1000)
var compiled: Policy? = nil
for _ in 0..<5 {
    let start = clock.now
    let result = PolicyCompiler.compile(bytes)
    best = min(best, clock.now - start)
    compiled = result.policy
}
guard let policy = compiled else {
    FileHandle.standardError.write(Data("the file does not compile\n".utf8))
    exit(1)
}
print("compile_ms \(String(format: "%.1f", milliseconds(best)))")

// Queries resolved to ids up front, as the gateway holds them per session.
var generator = SystemRandomNumberGenerator()
let tools = ["read_sheet", "write_sheet", "delete_sheet", "get_page", "list_items", "status", "logs_tail", "run_macro"]
// Items of every kind, made up front as the gateway has them from a request's params.
let items = tools.map { Item(.tool, $0) } + ["summarize", "draft_note"].map { Item(.prompt, $0) }
    + ["file:///srv/shared/plan.txt", "notes://index"].map { Item(.resource, $0) }
struct Query { let user: UserID; let server: ServerID; let item: Item?; let key: KeyID? }
var queries: [Query] = []
for _ in 0..<100_000 {
    let key = policy.keys[Int.random(in: 0..<policy.keys.count, using: &generator)].id
    let user = policy.key(key).user
    guard let org = policy.user(user).memberships.first?.org else { continue }
    let servers = policy.org(org).servers
    let server = servers[Int.random(in: 0..<servers.count, using: &generator)]
    let item: Item? = Bool.random(using: &generator) ? items.randomElement(using: &generator) : nil
    queries.append(Query(user: user, server: server, item: item, key: Bool.random(using: &generator) ? key : nil))
}
let now = Date()
var allowed = 0
let rounds = 20
let decideStart = clock.now
for _ in 0..<rounds {
    for q in queries where policy.decide(user: q.user, server: q.server, item: q.item, key: q.key, at: now).allowed {
        allowed += 1
    }
}
let decideTime = clock.now - decideStart
print("decide_ns \(String(format: "%.0f", nanoseconds(decideTime, per: rounds * queries.count))) (allowed \(allowed / rounds) of \(queries.count))")

var found = 0
let lookupRounds = 5
let lookupStart = clock.now
for _ in 0..<lookupRounds {
    for token in tokens where policy.key(forToken: token) != nil { found += 1 }
}
let lookupTime = clock.now - lookupStart
print("token_lookup_ns \(String(format: "%.0f", nanoseconds(lookupTime, per: lookupRounds * tokens.count))) (found \(found / lookupRounds) of \(tokens.count))")
