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

    /// The eps of every BatchNorm the graph declares, by key prefix (`model.0.bn`), as the
    /// builder's rule set them (1e-3 in detection-family models, PyTorch's 1e-5 otherwise).
    public static func normEpsilons(for graph: ModelGraph) -> [String: Float] {
        var all: [String: Float] = [:]
        for layer in graph.layers {
            for (instance, prefix) in zip(layer.instances, layer.instancePrefixes) {
                var copy = instance
                var walk = NormEpsilonWalk(prefix: prefix)
                copy.visit(&walk)
                all.merge(walk.epsilons) { first, _ in first }
            }
        }
        return all
    }

    /// Makes the graph's norms compute with another eps without rebuilding them: running_var +
    /// (eps_wanted − eps_graph), so that var + eps comes out as in the file's model. Returns the
    /// prefixes changed.
    public static func adjustNormEpsilons(_ tensors: inout [String: Tensor], wanted: [String: Double], graph: ModelGraph) -> [String] {
        var changed: [String] = []
        for (prefix, graphEpsilon) in normEpsilons(for: graph).sorted(by: { $0.key < $1.key }) {
            guard let target = wanted[prefix], var variance = tensors[prefix + ".running_var"] else { continue }
            let shift = Float(target) - graphEpsilon
            guard abs(shift) > graphEpsilon * 1e-6 else { continue }
            for index in variance.storage.indices { variance.storage[index] += shift }
            tensors[prefix + ".running_var"] = variance
            changed.append(prefix)
        }
        return changed
    }

    /// A deterministic initialisation following PyTorch's default schemes, as each block declares
    /// them: Conv2d and Linear weights and biases uniform in ±1/√fan_in, norms weight 1 bias 0
    /// (running var 1), attention input projections Xavier-uniform with zero biases, embeddings
    /// N(0, 1); buffers a module computes (hamming windows, sampling grids, DFL's bins) computed.
    public static func initialized(for graph: ModelGraph, seed: UInt64) -> [String: Tensor] {
        var action = InitializeAction(generator: SplitMix64(seed: seed))
        for layer in graph.layers {
            for (instance, prefix) in zip(layer.instances, layer.instancePrefixes) {
                var copy = instance
                var walk = ParameterWalk(prefix: prefix, action: action)
                copy.visit(&walk)
                action = walk.action
            }
        }
        return action.tensors
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

/// What `--partial` loading transferred into one layer, and what not, with the reason.
public struct TransferReport: Sendable {
    public struct Layer: Sendable {
        public var index: Int
        public var module: String
        public var line: Int
        public var transferred: Int
        public var declared: Int
        /// `key: reason` for each tensor left at its initial value.
        public var problems: [String]
    }
    public var layers: [Layer]
    /// Keys in the file the config does not declare.
    public var unused: [String]
    public var transferred: Int { layers.reduce(0) { $0 + $1.transferred } }
    public var declared: Int { layers.reduce(0) { $0 + $1.declared } }
}

extension Weights {
    /// Loads what fits: each declared tensor present in `tensors` with its shape is taken; the
    /// rest keep the seeded initialisation. The report says, row by row, what was transferred
    /// and why the rest was not (not in the file, shape mismatch with both shapes).
    public static func partial(_ tensors: [String: Tensor], for graph: ModelGraph, seed: UInt64) -> (weights: [String: Tensor], report: TransferReport) {
        var weights = initialized(for: graph, seed: seed)
        var declared = Set<String>()
        var layers: [TransferReport.Layer] = []
        for layer in graph.layers {
            var row = TransferReport.Layer(index: layer.index, module: layer.moduleName, line: layer.row.location.line,
                                           transferred: 0, declared: 0, problems: [])
            for declaration in layer.tree.stateDictionary(prefix: layer.keyPrefix) {
                declared.insert(declaration.name)
                row.declared += 1
                guard let tensor = tensors[declaration.name] else {
                    row.problems.append("\(declaration.name): not in the file (new in the config)")
                    continue
                }
                guard tensor.shape == declaration.shape else {
                    row.problems.append("\(declaration.name): shape mismatch — file \(describeShape(tensor.shape)), config \(describeShape(declaration.shape))")
                    continue
                }
                weights[declaration.name] = tensor
                row.transferred += 1
            }
            layers.append(row)
        }
        let unused = tensors.keys.filter { !declared.contains($0) && !isIgnored($0) }.sorted()
        return (weights, TransferReport(layers: layers, unused: unused))
    }
}
