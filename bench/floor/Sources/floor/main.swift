import Hummingbird

// `floor PORT`: GET /healthz answers {"status":"ok"} as application/json, as orch's does, and
// nothing else runs per request: no middleware, no metrics, no logging.
let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 18082
let body = ByteBuffer(string: #"{"status":"ok"}"#)
let router = Router()
router.get("healthz") { _, _ in
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "orch"))
try await app.runService()
