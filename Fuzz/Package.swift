// swift-tools-version:6.0
// The fuzz targets of mcp-orch, as a package of their own so that the project's Package.swift and
// its `.build` stay as they are. OrchJSON, OrchPolicy, OrchGateway and the C shims are the
// project's own folders (symlinks in Sources/), compiled here with libFuzzer's coverage
// instrumentation; orch-fuzz also compiles the policy tests' reference evaluator and random-policy
// model (symlinks to Tests/OrchPolicyTests/). Fuzz/run.sh builds it (release, in .build-fuzz, with
// libFuzzer linked as described below) and runs it; `make fuzz` runs every target.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]
/// Coverage instrumentation for libFuzzer, on the project's modules and the targets only: the
/// dependencies (NIO, Hummingbird, …) are built as usual.
let instrumented = swiftSettings + [.unsafeFlags(["-sanitize=fuzzer"])]
// The executables have their own `main` (it picks a target, then calls `LLVMFuzzerRunDriver`), and
// SwiftPM links an executable with `--defsym main=…`, so `-sanitize=fuzzer` cannot link them: it
// brings libFuzzer's `main` along. Fuzz/run.sh links libclang_rt.fuzzer_no_main instead, whose path
// depends on the toolchain: `swift build … -Xlinker --whole-archive -Xlinker LIB … -lstdc++`.

let package = Package(
    name: "mcp-orch-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        .systemLibrary(name: "CJansson", pkgConfig: "jansson", providers: [.apt(["libjansson-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CFuzzer"),
        .target(name: "OrchJSON", dependencies: ["CJansson"], swiftSettings: instrumented),
        .target(name: "OrchPolicy", dependencies: ["OrchJSON", "COpenSSL"], swiftSettings: instrumented),
        .target(
            name: "OrchAuth",
            dependencies: [
                "OrchJSON", "OrchPolicy",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "OrchGateway",
            dependencies: [
                "OrchJSON", "OrchPolicy", "OrchAuth",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            // -enable-testing: the gateway targets reach its internal parsers with @testable import.
            swiftSettings: swiftSettings + [.unsafeFlags(["-sanitize=fuzzer", "-enable-testing"])]
        ),
        // The driver shared by both executables: target selection, libFuzzer, input choices, failures.
        .target(name: "FuzzKit", dependencies: ["CFuzzer"], swiftSettings: instrumented),
        // Targets that need only OrchJSON and OrchPolicy: quick to build, run by `make test`.
        .executableTarget(
            name: "orch-fuzz", dependencies: ["FuzzKit", "OrchJSON", "OrchPolicy"], swiftSettings: instrumented),
        // Targets inside OrchGateway (and NIO): built with the gateway's dependencies.
        .executableTarget(
            name: "orch-fuzz-gateway",
            dependencies: [
                "FuzzKit", "OrchJSON", "OrchPolicy", "OrchGateway",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ],
            swiftSettings: instrumented),
    ]
)
