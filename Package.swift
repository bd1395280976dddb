// swift-tools-version: 6.1
import PackageDescription

// Layers depend one way: YAMLFrontEnd → ModelSpec → ModelGraph (modules) → Tensor (kernels),
// and the modelgraph CLI on top.
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
        // oneDNN from Debian's libdnnl-dev (scripts/setup installs it): matrix products.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL",
                       providers: [.apt(["libdnnl-dev"])]),
        .target(name: "Tensor", dependencies: ["CDNNL"], linkerSettings: [.linkedLibrary("m")]),
        .target(name: "ModelSpec", dependencies: ["YAMLFrontEnd"]),
        // rounding (Double.rounded) calls libm; Foundation-free targets must link it themselves
        .target(name: "ModelGraph", dependencies: ["ModelSpec", "Tensor"], linkerSettings: [.linkedLibrary("m")]),
        .executableTarget(
            name: "ModelGraphCLI",
            dependencies: ["ModelGraph", "ModelSpec", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "BuildFromString", dependencies: ["ModelGraph"], path: "examples/BuildFromString"),
        .testTarget(
            name: "ModelGraphTests",
            dependencies: ["ModelGraph", "ModelSpec", "YAMLFrontEnd", "Tensor", "ModelGraphCLI"],
            resources: [.copy("Fixtures")]),
    ]
)
