// swift-tools-version:6.0
// The floor of bench/gateway.sh: a bare Hummingbird 2 app that answers GET /healthz with the same
// static body as orch. Not part of the product; built on its own by bench/gateway.sh.
import PackageDescription

let package = Package(
    name: "floor",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    ],
    targets: [
        .executableTarget(name: "floor", dependencies: [.product(name: "Hummingbird", package: "hummingbird")]),
    ]
)
