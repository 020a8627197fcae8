// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "mcp-orch",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "orch", targets: ["orch"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CJansson",
            pkgConfig: "jansson",
            providers: [.apt(["libjansson-dev"]), .brew(["jansson"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"]), .brew(["openssl"])]
        ),
        .target(name: "OrchJSON", dependencies: ["CJansson"], swiftSettings: swiftSettings),
        .target(name: "OrchPolicy", dependencies: ["OrchJSON", "COpenSSL"], swiftSettings: swiftSettings),
        .executableTarget(
            name: "orch",
            dependencies: [
                "OrchJSON", "OrchPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(name: "orch-bench", dependencies: ["OrchJSON", "OrchPolicy"], swiftSettings: swiftSettings),
        .testTarget(name: "OrchJSONTests", dependencies: ["OrchJSON"], swiftSettings: swiftSettings),
        .testTarget(name: "OrchPolicyTests", dependencies: ["OrchPolicy", "OrchJSON"], swiftSettings: swiftSettings),
        .testTarget(name: "OrchCLITests", dependencies: ["orch", "OrchJSON"], swiftSettings: swiftSettings),
    ]
)
