// swift-tools-version: 6.1
import PackageDescription
#if canImport(Glibc)
import Glibc
#endif

// The kernels' Swift loops are compiled for the build machine's vector unit: with AVX-512
// (F/CD/BW/DQ/VL, Skylake-X's set, which Zen 4/5 have too) 16-wide float vectors — LLVM's
// preference for 256-bit vectors on that CPU turned off; 6–7% faster on yolov8n on a 2-core
// AVX-512 EPYC than the AVX2 build — else with AVX2 and FMA (Haswell's set, x86-64-v3: 8-wide
// vectors and fused multiply-add instead of the 4-wide SSE2 baseline; the sampling, CARAFE and
// Winograd-transform loops run ~2× faster). SwiftPM builds from source on the machine that
// runs the tool; MODELGRAPH_PORTABLE=1 keeps the baseline.
let vectorSettings: [SwiftSetting] = {
    #if os(Linux) && arch(x86_64)
    guard getenv("MODELGRAPH_PORTABLE") == nil, let file = fopen("/proc/cpuinfo", "r") else { return [] }
    defer { fclose(file) }
    var line: UnsafeMutablePointer<CChar>? = nil, capacity = 0
    defer { free(line) }
    while getline(&line, &capacity, file) > 0, let text = line.map({ String(cString: $0) }) {
        guard text.hasPrefix("flags") else { continue }
        let flags = Set(text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
        let haswell = ["avx2", "fma", "f16c", "bmi1", "bmi2", "movbe", "popcnt", "abm"]
        // the vector set only: the compiler emits Skylake-X's other additions (rdseed, clwb, …)
        // only for intrinsics, which ModelGraph does not use (some VMs hide rdseed)
        let skylakeX = haswell + ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
        if skylakeX.allSatisfy(flags.contains) {
            // clang's target options reach Swift's code generator: drop the 256-bit preference
            return [.unsafeFlags(["-target-cpu", "skylake-avx512",
                                  "-Xcc", "-Xclang", "-Xcc", "-target-feature", "-Xcc", "-Xclang", "-Xcc", "-prefer-256-bit"])]
        }
        return haswell.allSatisfy(flags.contains) ? [.unsafeFlags(["-target-cpu", "haswell"])] : []
    }
    return []
    #else
    return []
    #endif
}()

// Layers depend one way: YAMLFrontEnd → ModelSpec → ModelGraph (modules) → Tensor (kernels),
// and the modelgraph CLI on top.
let package = Package(
    name: "ModelGraph",
    products: [
        .library(name: "ModelGraph", targets: ["ModelGraph", "ModelLoading", "PredictionPipeline"]),
        .executable(name: "modelgraph", targets: ["ModelGraphCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
    ],
    targets: [
        // libyaml from Debian's libyaml-dev (scripts/setup installs it).
        .systemLibrary(name: "CYAML", path: "Sources/CYAML",
                       providers: [.apt(["libyaml-dev"])]),
        .target(name: "YAMLFrontEnd", dependencies: ["CYAML"]),
        // oneDNN from Debian's libdnnl-dev (scripts/setup installs it): matrix products.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL",
                       providers: [.apt(["libdnnl-dev"])]),
        .target(name: "Tensor", dependencies: ["CDNNL"], swiftSettings: vectorSettings, linkerSettings: [.linkedLibrary("m")]),
        .target(name: "ModelSpec", dependencies: ["YAMLFrontEnd"]),
        // Python source: tokenizer and parser for the model code of Ultralytics forks (fork mode)
        .target(name: "PythonFrontEnd"),
        // The interpreter for that Python: values, classes, imports from the fork's tree, budgets
        .target(name: "PythonInterpreter", dependencies: ["PythonFrontEnd"], linkerSettings: [.linkedLibrary("m")]),
        // The torch that fork mode implements: shape-following tensors, torch.nn in ModelGraph's own Python, timm and einops pieces
        .target(name: "ForkTorch", dependencies: ["PythonInterpreter", "ModelGraph", "Tensor"]),
        // Fork mode: a fork's YAML built by the fork's own parse_model and classes, in the interpreter
        .target(name: "ForkMode", dependencies: ["ForkTorch", "PythonInterpreter", "YAMLFrontEnd", "ModelGraph"]),
        // JPEG and PNG through Debian's libjpeg-turbo and libpng (scripts/setup installs them);
        // the C wrapper owns their setjmp error handling.
        .target(name: "CImageCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        // Images: decoding as OpenCV's imread, Ultralytics' letterbox and resizes byte for byte, drawing
        .target(name: "Imaging", dependencies: ["CImageCodecs"], swiftSettings: vectorSettings),
        // Ultralytics' predictors' post-processing: NMS, masks, keypoints, rotated boxes, top-5
        .target(name: "Prediction", dependencies: ["Imaging", "Tensor"], swiftSettings: vectorSettings, linkerSettings: [.linkedLibrary("m")]),
        // PyTorch checkpoints (.pt): the zip archive, an inert pickle machine, Ultralytics' layout
        .target(name: "Checkpoint", dependencies: ["Tensor"]),
        // rounding (Double.rounded) calls libm; Foundation-free targets must link it themselves
        .target(name: "ModelGraph", dependencies: ["ModelSpec", "Tensor"], swiftSettings: vectorSettings, linkerSettings: [.linkedLibrary("m")]),
        // Graphviz from Debian's libgraphviz-dev (scripts/setup installs it): `modelgraph graph`'s layout
        .systemLibrary(name: "CGraphviz", path: "Sources/CGraphviz",
                       providers: [.apt(["libgraphviz-dev"])]),
        // Pictures of a built graph: its DOT description, laid out and rendered by Graphviz in process
        .target(name: "GraphDrawing", dependencies: ["ModelGraph", "CGraphviz"]),
        // ONNX export of a traced program (the schema's Swift code generated once and committed:
        // scripts/generate-onnx-proto)
        .target(name: "ONNXExport", dependencies: ["ModelGraph", "Tensor", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // The library API the commands stand on: a model loaded from any source (YAML, official
        // name, .pt, fork) into its graph, weights, memory estimate and plan, with one error type
        .target(
            name: "ModelLoading",
            dependencies: ["ModelGraph", "ModelSpec", "YAMLFrontEnd", "Tensor", "Checkpoint", "ForkMode"],
            // the official architectures, so `modelgraph summary yolo11n.yaml` needs no file (configs/ultralytics links here)
            resources: [.copy("Architectures")]),
        // Ultralytics' predictor over a loaded model: letterbox, a plan per input shape, the head's post-processing
        .target(name: "PredictionPipeline", dependencies: ["ModelGraph", "ModelLoading", "Imaging", "Prediction", "Tensor", "Checkpoint", "YAMLFrontEnd"]),
        // The subcommands, one per file (a library, so the option-parsing fuzzer parses with them)
        .target(
            name: "ModelGraphCommands",
            dependencies: ["ModelGraph", "ModelLoading", "PredictionPipeline", "ModelSpec", "Tensor", "Checkpoint", "Imaging", "Prediction", "GraphDrawing", "ForkMode", "ONNXExport",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "ModelGraphCLI", dependencies: ["ModelGraphCommands"]),
        .executableTarget(name: "KernelBench", dependencies: ["Tensor"], path: "examples/KernelBench", swiftSettings: vectorSettings),
        .executableTarget(name: "BuildFromString", dependencies: ["ModelGraph"], path: "examples/BuildFromString"),
        // What the fuzzing harnesses do with one input; the tests replay the seed corpora through them
        .target(name: "FuzzHarnesses", dependencies: ["ModelGraph", "YAMLFrontEnd", "Tensor", "Checkpoint", "Imaging", "ModelGraphCommands",
                                                     "PythonFrontEnd", "PythonInterpreter", "ForkTorch",
                                                     .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(
            name: "ModelGraphTests",
            dependencies: ["ModelGraph", "ModelSpec", "YAMLFrontEnd", "Tensor", "Checkpoint", "Imaging", "Prediction", "GraphDrawing", "ModelGraphCLI", "ModelGraphCommands", "FuzzHarnesses",
                           "PythonFrontEnd", "PythonInterpreter", "ForkTorch", "ForkMode", "ONNXExport", "ModelLoading", "PredictionPipeline"],
            resources: [.copy("Fixtures")]),
    ]
)

// The libFuzzer executable (its first argument names the reader to fuzz): only when scripts/fuzz
// builds it (MODELGRAPH_FUZZ=1, with -sanitize=fuzzer,address for every target), as it needs
// libFuzzer's driver to link.
if getenv("MODELGRAPH_FUZZ") != nil {
    package.targets.append(.executableTarget(name: "ModelGraphFuzz", dependencies: ["FuzzHarnesses"], path: "Fuzz", exclude: ["yaml.dict", "options.dict", "options.seeds", "python.dict"]))
}
