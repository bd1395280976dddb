import ModelSpec
import Tensor

/// Ultralytics `RepC3(c1, c2, n=3, e=1.0)`: two 1×1 Convs, a chain of `n` RepConv blocks on
/// one branch, summed, then a 1×1 Conv when the hidden width differs from the output.
/// The row's repeats become `n`. Port of `ultralytics/nn/modules/block.py: RepC3` and
/// `conv.py: RepConv` (RepConv: 3×3 Conv + 1×1 Conv, no BN branch, SiLU).
public struct RepC3: LayerModule {
    public static let names = ["RepC3"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("e", "expansion", .number, default: .float(1.0)),
    ])
    public static let takesRepeats = true

    public let inputChannels: Int
    public let outputChannel: Int
    public let hiddenChannels: Int
    public let blockCount: Int
    public let printedArguments: [ArgumentValue]

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        inputChannels = context.inputChannel
        outputChannel = context.scaledChannels(arguments.int("outputChannels"))
        let expansion = arguments.double("expansion")
        hiddenChannels = Int(Double(outputChannel) * expansion)  // Python int() truncates
        guard hiddenChannels >= 1 else {
            throw LayerError("e=\(pythonFloat(expansion)) leaves int(\(outputChannel) × e) = \(hiddenChannels) hidden channels; need ≥ 1",
                             blame: .argument(1))
        }
        blockCount = context.repeats
        printedArguments = [.int(inputChannels), .int(outputChannel), .int(blockCount)] + arguments.writtenValues.dropFirst()
    }

    public var outputChannels: [Int] { [outputChannel] }

    public var tree: ModuleNode {
        let repConv = ModuleNode("", "RepConv", children: [
            .leaf("act", "SiLU", sharedInstance: "RepConv.default_act"),
            Conv.node("conv1", inputChannels: hiddenChannels, outputChannels: hiddenChannels, kernelSize: 3, activation: false),
            Conv.node("conv2", inputChannels: hiddenChannels, outputChannels: hiddenChannels, kernelSize: 1, activation: false),
        ])
        return ModuleNode("", "RepC3", children: [
            Conv.node("cv1", inputChannels: inputChannels, outputChannels: hiddenChannels, kernelSize: 1, activation: true),
            Conv.node("cv2", inputChannels: inputChannels, outputChannels: hiddenChannels, kernelSize: 1, activation: true),
            .indexed("m", "Sequential", Array(repeating: repConv, count: blockCount)),
            hiddenChannels != outputChannel
                ? Conv.node("cv3", inputChannels: hiddenChannels, outputChannels: outputChannel, kernelSize: 1, activation: true)
                : .leaf("cv3", "Identity"),
        ])
    }

    public func outputShapes(_ inputs: [[Int]]) throws(LayerError) -> [[Int]] {
        let input = inputs[0]
        try requireFeatureMap(input, channels: inputChannels)
        return [[input[0], outputChannel, input[2], input[3]]]
    }

    public func forward(_ inputs: [Tensor], _ weights: LayerWeights) throws(LayerError) -> [Tensor] {
        let x = inputs[0]
        var branch = Conv.apply(x, weights.child("cv1"), activation: .silu)
        for block in 0..<blockCount {
            // RepConv (no identity BN branch): act(conv1(x) + conv2(x))
            let repConv = weights.child("m").child(String(block))
            if repConv.has("conv.weight") {  // re-parameterised by the plan: one 3×3 conv
                branch = repConv.child("conv").conv2d(branch, padding: 1, activation: .silu)
                continue
            }
            let sum = Conv.apply(branch, repConv.child("conv1"), padding: 1, activation: .identity)
                + Conv.apply(branch, repConv.child("conv2"), padding: 0, activation: .identity)
            branch = sum.activated(.silu)
        }
        let merged = branch + Conv.apply(x, weights.child("cv2"), activation: .silu)
        return [hiddenChannels != outputChannel ? Conv.apply(merged, weights.child("cv3"), activation: .silu) : merged]
    }

    public func multiplyAdds(_ inputs: [[Int]], _ outputs: [[Int]]) -> Double {
        let pixels = spatialPositions(inputs[0])
        let input = Double(inputChannels), hidden = Double(hiddenChannels), output = Double(outputChannel)
        let branches = 2 * pixels * input * hidden
        let blocks = Double(blockCount) * pixels * hidden * hidden * (9 + 1)
        let projection = hiddenChannels != outputChannel ? pixels * hidden * output : 0
        return branches + blocks + projection
    }
}
