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

    public static let isCommunityModule = true
    public static let channelRule = ChannelRule.sameAsInputWithChannels

    public var typeName: String { "CARAFE" }
    public let channels: Int
    public let upKernel: Int
    public let scale: Int
    public var comp: Conv
    public var enc: Conv

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        channels = context.inputChannel
        let encoderKernel = arguments.int("encoderKernel")
        upKernel = arguments.int("upKernel")
        let compressedChannels = arguments.int("compressedChannels")
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
        comp = Conv(channels, compressedChannels, epsilon: context.batchNormEpsilon)
        enc = Conv(compressedChannels, (scale * upKernel) * (scale * upKernel), kernelSize: encoderKernel, activation: .identity,
                   epsilon: context.batchNormEpsilon)
    }

    public var outputChannels: [Int] { [channels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("comp", &comp)
        visitor.child("enc", &enc)
        visitor.leaf("pix_shf", "PixelShuffle")
        visitor.leaf("upsmp", "Upsample")
        visitor.leaf("unfold", "Unfold")
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let x = inputs[0]
        let output = try upsampledFeatureMap(x.shape, channels: channels, scale: scale)[0]
        let encoded = try enc(comp(x, pass), pass)
        // the seed's forward: einsum over unfold(upsample(x)), dilated by the scale
        let weights = encoded.pixelShuffled(scale).softmax(axis: 1)
        // one composite, so the execution pass runs the reassembly kernel (Tensor.carafeModuleReassembled)
        return Feature.composite("carafe_upsample", attributes: ["kernel_size": [upKernel], "scale": [scale], "product_taps": [upKernel * upKernel],
                                                             "einsum": [1]], inputs: [x, weights]) {
            let taps = x.nearestUpsampled(factor: scale).unfoldedTaps(kernelSize: upKernel, dilation: scale, padding: upKernel / 2 * scale)
            return [(taps * weights.reshaped([output[0], 1, upKernel * upKernel, output[2], output[3]])).reducedSum(axis: 2)]
        }
    }
}
