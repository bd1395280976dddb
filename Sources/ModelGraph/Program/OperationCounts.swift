// The two GFLOPs figures as passes over a program: the complete count of multiply-adds
// (`Program.multiplyAdds`) and Ultralytics' figure, thop's rules (`Program.thopOperations`).
// Ultralytics' figure is thop's hooks on PyTorch's modules plus the matrix products run outside
// them, so a program keeps, beside its operations, the calls of the modules thop has a rule for.

/// A call of a torch.nn module thop has a counting rule for, recorded with the program: what the
/// rule reads of the module, and the shapes it was called with and returned.
public struct ModuleCall: Sendable {
    public enum Kind: Sendable, Equatable {
        /// `nn.Conv2d`: `kernel` is the weight's trailing axes.
        case convolution(groups: Int, kernel: [Int])
        case transposedConvolution(groups: Int, kernel: [Int])
        /// `nn.BatchNorm2d`, `nn.LayerNorm`, `nn.GroupNorm`.
        case normalization(affine: Bool)
        case linear(inputFeatures: Int)
        /// `nn.MultiheadAttention(width, heads)` (kdim = vdim = width, no bias_k, no zero attention).
        case attention(width: Int, heads: Int)
        /// `nn.Upsample(mode=…)`.
        case upsample(mode: String)
        case adaptiveAveragePool
    }
    public let kind: Kind
    public let inputShapes: [[Int]]
    public internal(set) var outputShapes: [[Int]]

    /// Operations by thop's rule for this kind of module.
    public var thopOperations: Double {
        guard let input = inputShapes.first, let output = outputShapes.first else { return 0 }
        switch kind {
        case .convolution(let groups, let kernel):
            return ThopRules.convolution(volume: output, channels: input[1], groups: groups, kernel: kernel)
        case .transposedConvolution(let groups, let kernel):
            return ThopRules.convolution(volume: input, channels: output[1], groups: groups, kernel: kernel)
        case .normalization(let affine): return ThopRules.normalization(input: input, affine: affine)
        case .linear(let inputFeatures): return Double(inputFeatures) * ThopRules.product(output)
        case .attention(let width, let heads):
            let attended = inputShapes.count > 1 ? Double(inputShapes[1][inputShapes[1].count - 2]) : 0
            return ThopRules.attention(batch: Double(output.count == 2 ? 1 : output[0]), target: Double(output[output.count - 2]),
                                       attended: attended, appended: 0, embed: Double(width), keyWidth: Double(width),
                                       valueWidth: Double(width), heads: Double(heads))
        case .upsample(let mode): return (ThopRules.upsamplePerElement[mode] ?? 0) * ThopRules.product(output)
        case .adaptiveAveragePool: return ThopRules.adaptiveAveragePool(input: input, output: output)
        }
    }
}

/// thop's counting rules (ultralytics-thop, as Ultralytics' `get_flops` runs it), in one place
/// for both the program pass and fork mode's interpreted modules.
public enum ThopRules {
    public static func product(_ shape: [Int]) -> Double { shape.reduce(1.0) { $0 * Double($1) } }

    /// A convolution: each element of `volume` (the output; a transposed one's input) times
    /// ⌊channels / groups⌋ times the kernel's elements.
    public static func convolution(volume: [Int], channels: Int, groups: Int, kernel: [Int]) -> Double {
        product(volume) * (Double(channels) / Double(max(groups, 1))).rounded(.down) * product(kernel)
    }

    /// BatchNorm, LayerNorm, GroupNorm: 2 per element, 4 when affine.
    public static func normalization(input: [Int], affine: Bool) -> Double { 2 * product(input) * (affine ? 2 : 1) }

    /// A softmax over rows of `features` elements, `rows` of them: exp, sum, divide.
    public static func softmax(rows: Double, features: Double) -> Double { rows * (features + max(features - 1, 0) + features) }

    /// `nn.MultiheadAttention`: the projections, both products and the softmax.
    public static func attention(batch: Double, target: Double, attended: Double, appended: Double, embed: Double,
                                 keyWidth: Double, valueWidth: Double, heads: Double) -> Double {
        let projections = embed * (2 * target * embed + (attended - appended) * (keyWidth + valueWidth))
        let products = 2 * target * attended * embed
        return batch * (projections + products) + softmax(rows: batch * heads * target, features: attended)
    }

    /// `nn.Upsample`: operations per output element by mode.
    public static let upsamplePerElement: [String: Double] = ["nearest": 0, "nearest-exact": 0, "linear": 5, "bilinear": 11, "bicubic": 259, "trilinear": 31]

    /// `nn.AdaptiveAvgPool*d`: the window sums along each axis that changes size, plus a division per output element.
    public static func adaptiveAveragePool(input: [Int], output: [Int]) -> Double {
        var total = 1.0
        for (i, o) in zip(input, output) {
            if i == o { total *= Double(o); continue }
            var sum = 0
            for j in 0..<max(o, 0) { sum += (-(-(j + 1) * i / o)) - (j * i / o) }
            total *= Double(sum)
        }
        return total + product(output)
    }

    /// A matrix product (`torch.matmul`, `F.linear`, a two-operand einsum) run outside every
    /// module with a rule: one per output element per element of the contracted axis.
    public static func matrixProduct(output: [Int], contracted: Int) -> Double { product(output) * Double(contracted) }
}

extension Program {
    /// Multiply-adds of the program's operations (the complete GFLOPs figure is twice this):
    /// convolutions, linear layers and matrix products, per output element times the reduction;
    /// bilinear sampling 4 per output element. Element-wise work, normalisation, pooling and data
    /// movement count 0; work only thop counts (`ProgramOrigin.countedOnly`) is left out.
    public var multiplyAdds: Double { operationCounts.multiplyAdds }

    /// Operations by thop's rules (Ultralytics' GFLOPs figure is twice this at batch 1): every
    /// module call's rule, plus the matrix products run outside every counted module call
    /// (thop's function counter), including work only thop counts.
    public var thopOperations: Double { operationCounts.thopOperations }

    /// Both figures in one walk over the instructions (the graph builder reads both for every row).
    public var operationCounts: (multiplyAdds: Double, thopOperations: Double) {
        let shapes = self.shapes
        var (complete, functional) = (0.0, 0.0)
        for instruction in countedInstructions {
            let output = instruction.outputs.first?.shape ?? []
            let input = { (position: Int) in shapes[instruction.inputs[position]] ?? [] }
            // the op's multiply-adds, and whether it is a product thop's function counter sees
            let work: Double, product: Bool
            switch instruction.op {
            case .composite(let composite):  // a product written element-wise (`product_taps`)
                work = ThopRules.product(output) * Double(composite.attributes["product_taps"]?.first ?? 0)
                product = composite.attributes["einsum"] != nil
            case .convolution:
                let weight = input(1)  // [out, in / groups, k, k]
                (work, product) = (ThopRules.product(output) * Double(weight[1] * weight[2] * weight[3]), false)
            case .transposedConvolution:
                let weight = input(1)  // [in, out / groups, k, k]
                (work, product) = (ThopRules.product(input(0)) * Double(weight[1] * weight[2] * weight[3]), false)
            case .linear: (work, product) = (ThopRules.matrixProduct(output: output, contracted: input(1)[1]), true)
            case .matmul: (work, product) = (ThopRules.matrixProduct(output: output, contracted: input(0).last ?? 0), true)
            case .gridSample, .upsampleBilinear, .resize(.bilinear, _, _, _): (work, product) = (ThopRules.product(output) * 4, false)
            default: continue
            }
            if !instruction.origin.countedOnly { complete += work }
            if product && instruction.origin.moduleCall == nil { functional += work }
        }
        return (complete, moduleCalls.reduce(functional) { $0 + $1.thopOperations })
    }

    /// The instructions with composites replaced by their bodies, except those that declare
    /// their product (`product_taps`), which count as a whole.
    private var countedInstructions: [ProgramInstruction] {
        func inline(_ instructions: [ProgramInstruction]) -> [ProgramInstruction] {
            instructions.flatMap { instruction -> [ProgramInstruction] in
                guard case .composite(let composite) = instruction.op, composite.attributes["product_taps"] == nil else { return [instruction] }
                return inline(composite.body)
            }
        }
        return inline(instructions)
    }
}
