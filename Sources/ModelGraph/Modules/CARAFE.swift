import ModelSpec
import Tensor

/// CARAFE (seed 003): content-aware reassembly upsampling. A 1×1 Conv compresses to `c_mid`,
/// a k_enc×k_enc Conv predicts (scale·k_up)² kernel weights, pixel-shuffled and softmaxed,
/// which reassemble k_up×k_up neighbourhoods of the nearest-upsampled input.
public struct CARAFE: LayerModule {
    public static let names = ["CARAFE"]
    public static let signature = Signature([
        .init("k_enc", "encoderKernel", .int(min: 1), default: .int(3)),
        .init("k_up", "upKernel", .int(min: 1), default: .int(5)),
        .init("c_mid", "compressedChannels", .int(min: 1), default: .int(64)),
        .init("scale", "scale", .int(min: 1), default: .int(2)),
    ])

    public let channels: Int
    public let encoderKernel: Int
    public let upKernel: Int
    public let compressedChannels: Int
    public let scale: Int
    public let printedArguments: [ArgumentValue]

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        channels = context.inputChannel
        encoderKernel = arguments.int("encoderKernel")
        upKernel = arguments.int("upKernel")
        compressedChannels = arguments.int("compressedChannels")
        scale = arguments.int("scale")
        guard encoderKernel % 2 == 1 else {
            throw LayerError("k_enc=\(encoderKernel) must be odd: an even kernel changes the map's size and the kernels no longer line up with the pixels",
                             blame: .argument(0))
        }
        guard upKernel % 2 == 1 else {
            throw LayerError("k_up=\(upKernel) must be odd: the unfold window must be centred on each pixel", blame: .argument(1))
        }
        // the encoder predicts (scale × k_up)² weights per pixel
        guard scale <= 1024, upKernel <= 1024, scale * upKernel <= 1024 else {
            throw LayerError("scale × k_up must be ≤ 1024 (the encoder predicts (scale × k_up)² weights per pixel), found scale \(scale), k_up \(upKernel)",
                             blame: .argument(3))
        }
        printedArguments = [.int(channels)] + arguments.writtenValues
    }

    public var outputChannels: [Int] { [channels] }

    var encoderOutputChannels: Int { (scale * upKernel) * (scale * upKernel) }

    public var tree: ModuleNode {
        ModuleNode("", "CARAFE", children: [
            Conv.node("comp", inputChannels: channels, outputChannels: compressedChannels, kernelSize: 1, activation: true),
            Conv.node("enc", inputChannels: compressedChannels, outputChannels: encoderOutputChannels, kernelSize: encoderKernel, activation: false),
            .leaf("pix_shf", "PixelShuffle"),
            .leaf("upsmp", "Upsample"),
            .leaf("unfold", "Unfold"),
        ])
    }

    public func outputShapes(_ inputs: [[Int]]) throws(LayerError) -> [[Int]] {
        try upsampledFeatureMap(inputs[0], channels: channels, scale: scale)
    }

    public func forward(_ inputs: [Tensor], _ weights: LayerWeights) throws(LayerError) -> [Tensor] {
        let x = inputs[0]
        let compressed = Conv.apply(x, weights.child("comp"), activation: .silu)
        let kernels = Conv.apply(compressed, weights.child("enc"), activation: .identity).pixelShuffle(scale).softmax(axis: 1)
        return [x.carafeModuleReassembled(weights: kernels, kernelSize: upKernel, scale: scale)]
    }

    /// Compressor and encoder convs, plus k_up² MACs per output element for the reassembly.
    public func multiplyAdds(_ inputs: [[Int]], _ outputs: [[Int]]) -> Double {
        let pixels = spatialPositions(inputs[0])
        let compress = pixels * Double(channels) * Double(compressedChannels)
        let encode = pixels * Double(compressedChannels) * Double(encoderKernel * encoderKernel) * Double(encoderOutputChannels)
        return compress + encode + elements(outputs[0]) * Double(upKernel * upKernel)
    }
}
