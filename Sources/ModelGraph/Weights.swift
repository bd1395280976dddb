#if canImport(Glibc)
import Glibc
#endif
import Tensor
import YAMLFrontEnd

/// Where a model's tensors come from: a checked state dict (safetensors) or a seeded initialisation.
public enum Weights {
    /// Keys PyTorch saves that carry no float data the forward pass needs.
    static func isIgnored(_ key: String) -> Bool { key.hasSuffix("num_batches_tracked") }

    /// Checks a state dict against the model strictly: every key the model declares must be
    /// present with its shape, and no other key may appear (`num_batches_tracked` is ignored).
    /// All problems are listed in one error.
    public static func checked(_ tensors: [String: Tensor], for graph: ModelGraph, file: String) throws(WeightsError) -> [String: Tensor] {
        var problems = [String]()
        var declared = Set<String>()
        var missing = [String](), mismatched = [String]()
        for layer in graph.layers {
            let owner = "layer \(layer.index) (\(layer.moduleName)), \(graph.spec.file):\(layer.row.location.line)"
            for declaration in layer.tree.stateDictionary(prefix: layer.keyPrefix) {
                declared.insert(declaration.name)
                guard let tensor = tensors[declaration.name] else {
                    missing.append("  \(declaration.name) \(describeShape(declaration.shape)) — \(owner)")
                    continue
                }
                if tensor.shape != declaration.shape {
                    mismatched.append("  \(declaration.name): expected \(describeShape(declaration.shape)), found \(describeShape(tensor.shape)) — \(owner)")
                }
            }
        }
        let unexpected = tensors.keys.filter { !declared.contains($0) && !isIgnored($0) }.sorted().map { key in
            "  \(key) \(describeShape(tensors[key]!.shape))"
        }
        func section(_ title: String, _ lines: [String]) {
            guard !lines.isEmpty else { return }
            let shown = lines.prefix(20)
            problems.append("\(lines.count) \(title):\n" + shown.joined(separator: "\n")
                            + (lines.count > shown.count ? "\n  … and \(lines.count - shown.count) more" : ""))
        }
        section(missing.count == 1 ? "missing key" : "missing keys", missing)
        section(unexpected.count == 1 ? "unexpected key" : "unexpected keys", unexpected)
        section(mismatched.count == 1 ? "shape mismatch" : "shape mismatches", mismatched)
        guard problems.isEmpty else {
            throw WeightsError(file: file, message: "the weights do not fit \(graph.spec.file) — " + problems.joined(separator: "\n"))
        }
        return tensors.filter { declared.contains($0.key) }
    }

    /// A deterministic initialisation following PyTorch's default schemes: Conv2d and Linear
    /// weights and biases uniform in ±1/√fan_in, norms weight 1 bias 0 (running var 1),
    /// attention input projections Xavier-uniform with zero biases, embeddings N(0, 1); buffers a
    /// module computes (hamming windows, sampling grids) take their computed values.
    public static func initialized(for graph: ModelGraph, seed: UInt64) -> [String: Tensor] {
        var generator = SplitMix64(seed: seed)
        var tensors = [String: Tensor]()
        for layer in graph.layers {
            visit(layer.tree, prefix: layer.keyPrefix, parentType: nil, generator: &generator, into: &tensors)
            let fixed = layer.module.fixedBuffers
            for copy in 0..<layer.copies {
                let prefix = layer.copies > 1 ? "\(layer.keyPrefix).\(copy)." : "\(layer.keyPrefix)."
                for (name, tensor) in fixed { tensors[prefix + name] = tensor }
            }
        }
        return tensors
    }

    private static func visit(_ node: ModuleNode, prefix: String, parentType: String?, generator: inout SplitMix64,
                              into tensors: inout [String: Tensor]) {
        let base = prefix.isEmpty ? "" : prefix + "."
        // a bias's bound comes from its weight's fan-in, as in Conv2d/Linear.reset_parameters
        let fanIn = node.parameters.first { $0.name == "weight" }.map { $0.shape.dropFirst().reduce(1, *) } ?? 1
        for declaration in node.parameters + node.buffers {
            tensors[base + declaration.name] = initialValue(declaration, typeName: node.typeName, parentType: parentType,
                                                            fanIn: fanIn, generator: &generator)
        }
        for child in node.children {
            visit(child, prefix: base + child.name, parentType: node.typeName, generator: &generator, into: &tensors)
        }
    }

    private static func initialValue(_ declaration: TensorDeclaration, typeName: String, parentType: String?,
                                     fanIn: Int, generator: inout SplitMix64) -> Tensor {
        let shape = declaration.shape
        func uniform(_ bound: Float) -> Tensor {
            Tensor(shape: shape, storage: (0..<Tensor.count(of: shape)).map { _ in Float.random(in: -bound...bound, using: &generator) })
        }
        switch (typeName, declaration.name) {
        case ("BatchNorm2d", "weight"), ("LayerNorm", "weight"), ("GroupNorm", "weight"), (_, "running_var"):
            return Tensor(shape: shape, repeating: 1)
        case ("BatchNorm2d", _), ("LayerNorm", _), ("GroupNorm", _):
            return Tensor(shape: shape, repeating: 0)
        case ("MultiheadAttention", "in_proj_weight"):
            return uniform((6 / Float(shape[0] / 3 + shape[1])).squareRoot())
        case ("MultiheadAttention", "in_proj_bias"):
            return Tensor(shape: shape, repeating: 0)
        case ("NonDynamicallyQuantizableLinear", "bias") where parentType == "MultiheadAttention":
            return Tensor(shape: shape, repeating: 0)
        case ("Embedding", _):
            return Tensor(shape: shape, storage: (0..<Tensor.count(of: shape)).map { _ in generator.nextNormal() })
        default:
            // Conv2d / Linear weight and bias: kaiming_uniform(a=√5) gives ±1/√fan_in for both
            return uniform(1 / Float(max(fanIn, 1)).squareRoot())
        }
    }
}

/// A weights file that does not fit the model, or cannot be read.
public struct WeightsError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var message: String

    public var description: String { "\(file): error: \(message)" }
}

/// A small deterministic generator (SplitMix64), so a seed gives the same weights everywhere.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box–Muller).
    public mutating func nextNormal() -> Float {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
}
