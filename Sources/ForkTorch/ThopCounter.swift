import ModelGraph
import PythonFrontEnd
import PythonInterpreter

/// Counts operations as the forks' get_flops does (thop's `profile`): every module whose class,
/// along its MRO, is a torch.nn class with a counting rule adds that rule's count for each call;
/// matrix products, einsum, linear and attention called outside such modules count by their own
/// rules. Ultralytics' GFLOPs = 2 × that count at a stride × stride input, scaled to the image.
public final class ThopCounter {
    public var total: Double = 0
    let torch: TorchRuntime
    /// Modules with a non-zero rule now running (functional products inside them are theirs).
    var depth = 0
    var rules: [ObjectIdentifier: Rule?] = [:]

    enum Rule: String {
        case conv, convTransposed, normalization, prelu, softmax, avgPool, adaptiveAvgPool, upsample, linear, bilinear, attention
    }

    static let ruleByClass: [String: Rule] = [
        "Conv1d": .conv, "Conv2d": .conv, "Conv3d": .conv,
        "ConvTranspose1d": .convTransposed, "ConvTranspose2d": .convTransposed, "ConvTranspose3d": .convTransposed,
        "_NormBase": .normalization, "LayerNorm": .normalization, "GroupNorm": .normalization, "RMSNorm": .normalization,
        "PReLU": .prelu, "Softmax": .softmax, "LogSoftmax": .softmax, "Softmin": .softmax, "Softmax2d": .softmax,
        "AvgPool1d": .avgPool, "AvgPool2d": .avgPool, "AvgPool3d": .avgPool,
        "AdaptiveAvgPool1d": .adaptiveAvgPool, "AdaptiveAvgPool2d": .adaptiveAvgPool, "AdaptiveAvgPool3d": .adaptiveAvgPool,
        "Upsample": .upsample, "UpsamplingBilinear2d": .upsample, "UpsamplingNearest2d": .upsample,
        "Linear": .linear, "Bilinear": .bilinear, "MultiheadAttention": .attention,
    ]
    /// torch.nn classes whose rule counts nothing: a match stops the MRO walk (as thop's zero_ops does).
    static let zeroClasses: Set<String> = [
        "ReLU", "ReLU6", "LeakyReLU", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
        "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Identity", "Flatten", "Unflatten", "Unfold",
        "PixelShuffle", "PixelUnshuffle", "ChannelShuffle", "Embedding", "_DropoutNd", "_PadNd",
    ]

    public init(torch: TorchRuntime) { self.torch = torch }

    func rule(for instance: PyInstance) -> Rule? {
        let key = ObjectIdentifier(instance.cls)
        if let cached = rules[key] { return cached }
        var found: Rule? = nil
        for cls in instance.cls.mro where cls.moduleName == "torch.nn" {
            if let r = ThopCounter.ruleByClass[cls.name] { found = r; break }
            if ThopCounter.zeroClasses.contains(cls.name) { break }
        }
        rules[key] = found
        return found
    }

    func entered(_ a: Arguments, _ interp: Interpreter) {
        guard case .object(let module as PyInstance)? = a.positional.first, rule(for: module) != nil else { return }
        depth += 1
    }

    func left(_ a: Arguments, _ interp: Interpreter) throws {
        guard a.positional.count >= 3, case .object(let module as PyInstance) = a.positional[0], let rule = rule(for: module) else { return }
        depth -= 1
        let inputs = (try? interp.materialize(a.positional[1])) ?? []
        let output = a.positional[2]
        total += try count(rule, module, inputs, output, interp)
    }

    func tensorShape(_ value: PyValue?) -> [Int]? {
        if case .object(let t as TorchTensor)? = value { return t.shape }
        return nil
    }

    func attribute(_ module: PyInstance, _ name: String, _ interp: Interpreter) -> PyValue? {
        try? interp.getAttribute(.object(module), name)
    }

    func integer(_ module: PyInstance, _ name: String, _ interp: Interpreter) -> Int? {
        attribute(module, name, interp).flatMap { try? interp.indexValue($0) }
    }

    func ints(_ value: PyValue?, count: Int, _ interp: Interpreter) -> [Int] {
        guard let value else { return [] }
        if let i = try? interp.indexValue(value) { return Array(repeating: i, count: count) }
        return ((try? interp.materialize(value)) ?? []).compactMap { try? interp.indexValue($0) }
    }

    func count(_ rule: Rule, _ module: PyInstance, _ inputs: [PyValue], _ output: PyValue, _ interp: Interpreter) throws -> Double {
        let x = tensorShape(inputs.first)
        var y = tensorShape(output)
        if y == nil, let items = try? interp.materialize(output), let first = items.first { y = tensorShape(first) }
        func product(_ shape: [Int]) -> Double { ThopRules.product(shape) }
        switch rule {
        case .conv, .convTransposed:
            guard let x, let y, case .object(let weight as TorchTensor)? = attribute(module, "weight", interp) else { return 0 }
            let groups = integer(module, "groups", interp) ?? 1
            let (volume, channels) = rule == .conv ? (y, x) : (x, y)
            let index = channels.count - (weight.shape.count - 1)
            guard index >= 0, index < channels.count else { return 0 }
            return ThopRules.convolution(volume: volume, channels: channels[index], groups: groups, kernel: Array(weight.shape.dropFirst(2)))
        case .normalization:
            guard let x else { return 0 }
            let affine = attribute(module, "affine", interp).flatMap { try? interp.truthy($0) } ?? false
            let elementwise = attribute(module, "elementwise_affine", interp).flatMap { try? interp.truthy($0) } ?? false
            return ThopRules.normalization(input: x, affine: affine || elementwise)
        case .prelu:
            let training = attribute(module, "training", interp).flatMap { try? interp.truthy($0) } ?? false
            return training ? 0 : x.map(product) ?? 0
        case .softmax:
            guard let x else { return 0 }
            var dim: Int? = module.cls.name == "Softmax2d" ? -3 : integer(module, "dim", interp)
            if dim == nil { dim = [0, 1, 3].contains(x.count) ? 0 : 1 }
            let axis = dim! < 0 ? dim! + x.count : dim!
            let features = x.isEmpty ? 1.0 : Double(x[max(0, min(axis, x.count - 1))])
            let batch = features == 0 ? 0 : product(x) / features
            var ops = ThopRules.softmax(rows: batch, features: features)
            if module.cls.name == "Softmin" { ops += product(x) }
            if module.cls.name == "LogSoftmax" { ops += batch }
            return ops
        case .avgPool:
            guard let x, let y else { return 0 }
            let isThree = module.cls.mro.contains { $0.name == "AvgPool3d" }
            var kernel = ints(attribute(module, "kernel_size", interp), count: isThree ? 3 : 2, interp)
            if kernel.isEmpty { return 0 }
            let dims = kernel.count
            kernel = Array(kernel.prefix(dims))
            let stride = ints(attribute(module, "stride", interp), count: dims, interp)
            let padding = ints(attribute(module, "padding", interp), count: dims, interp)
            let includePad = attribute(module, "count_include_pad", interp).flatMap { try? interp.truthy($0) } ?? true
            var windows = 1.0
            for d in 0..<dims {
                let size = x[x.count - dims + d], out = y[y.count - dims + d]
                let (k, s, p) = (kernel[d], stride.count > d ? stride[d] : kernel[d], padding.count > d ? padding[d] : 0)
                let (lower, upper) = includePad ? (-p, size + p) : (0, size)
                var sum = 0
                for i in 0..<max(out, 0) { sum += max(min(i * s - p + k, upper) - max(i * s - p, lower), 0) }
                windows *= Double(sum)
            }
            return product(Array(x.dropLast(dims))) * windows + product(y)
        case .adaptiveAvgPool:
            guard let x, let y else { return 0 }
            return ThopRules.adaptiveAveragePool(input: x, output: y)
        case .upsample:
            guard let y else { return 0 }
            let mode = attribute(module, "mode", interp).flatMap { if case .str(let s) = $0 { return s }; return nil } ?? "nearest"
            return (ThopRules.upsamplePerElement[mode] ?? 0) * product(y)
        case .linear:
            guard let y else { return 0 }
            return Double(integer(module, "in_features", interp) ?? 0) * product(y)
        case .bilinear:
            guard let y else { return 0 }
            return Double((integer(module, "in1_features", interp) ?? 0) + 1) * Double(integer(module, "in2_features", interp) ?? 0) * product(y)
        case .attention:
            let parts = (try? interp.materialize(output)) ?? []
            guard let out = tensorShape(parts.first) else { return 0 }
            let weights = tensorShape(parts.count > 1 ? parts[1] : nil)
            let batchFirst = attribute(module, "batch_first", interp).flatMap { try? interp.truthy($0) } ?? false
            let target = Double(batchFirst || out.count == 2 ? out[out.count - 2] : out[0])
            let batch = Double(out.count == 2 ? 1 : out[batchFirst ? 0 : 1])
            let appended = Double((attribute(module, "bias_k", interp).map { $0.isNone ? 0 : 1 } ?? 0)
                                  + ((attribute(module, "add_zero_attn", interp).flatMap { try? interp.truthy($0) } ?? false) ? 1 : 0))
            let attended: Double
            if let weights { attended = Double(weights.last ?? 0) }
            else if let key = tensorShape(inputs.count > 1 ? inputs[1] : nil) { attended = Double(batchFirst || key.count == 2 ? key[key.count - 2] : key[0]) + appended }
            else { attended = 0 }
            let embed = Double(integer(module, "embed_dim", interp) ?? 0)
            let kdim = Double(integer(module, "kdim", interp) ?? 0), vdim = Double(integer(module, "vdim", interp) ?? 0)
            let heads = Double(integer(module, "num_heads", interp) ?? 1)
            return ThopRules.attention(batch: batch, target: target, attended: attended, appended: appended, embed: embed,
                                       keyWidth: kdim, valueWidth: vdim, heads: heads)
        }
    }

    /// A functional product outside every module with a rule: thop's _FunctionCounter.
    func functional(_ ops: @autoclosure () -> Double) {
        if depth == 0 { total += ops() }
    }
}

extension TorchRuntime {
    public var counter: ThopCounter? {
        get { counterStorage }
        set { counterStorage = newValue }
    }
}
