// swift-tools-version: 6.1
import PackageDescription

// Layers depend one way: YAMLFrontEnd → ModelSpec → ModelGraph → modelgraph (CLI).
let package = Package(
    name: "ModelGraph",
    products: [
        .library(name: "ModelGraph", targets: ["ModelGraph"]),
        .executable(name: "modelgraph", targets: ["ModelGraphCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // libyaml from Debian's libyaml-dev (scripts/setup installs it).
        .systemLibrary(name: "CYAML", path: "Sources/CYAML",
                       providers: [.apt(["libyaml-dev"])]),
        .target(name: "YAMLFrontEnd", dependencies: ["CYAML"]),
        .target(name: "ModelSpec", dependencies: ["YAMLFrontEnd"]),
        // rounding (Double.rounded) calls libm; Foundation-free targets must link it themselves
        .target(name: "ModelGraph", dependencies: ["ModelSpec"], linkerSettings: [.linkedLibrary("m")]),
        .executableTarget(
            name: "ModelGraphCLI",
            dependencies: ["ModelGraph", "ModelSpec", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "BuildFromString", dependencies: ["ModelGraph"], path: "examples/BuildFromString"),
        .testTarget(
            name: "ModelGraphTests",
            dependencies: ["ModelGraph", "ModelSpec", "YAMLFrontEnd", "ModelGraphCLI"],
            resources: [.copy("Fixtures")]),
    ]
)
