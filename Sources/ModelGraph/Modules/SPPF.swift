import ModelSpec
import Tensor

/// Ultralytics `SPPF(c1, c2, k=5, n=3, shortcut=False)`: a 1×1 Conv to c1/2, `n` chained k×k
/// max-pools (stride 1, same size), all concatenated and merged by a 1×1 Conv; plus the input
/// when `shortcut` and c1 == c2. Since 8.4 `cv1` is linear, except in legacy rows of at most
/// [c2, k] where parse_model gives it back the SiLU.
public struct SPPF: CrossStageModule {
    public static let names = ["SPPF"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("k", "kernelSize", .int(min: 1), default: .int(5)),
        .init("n", "poolCount", .int(min: 1), default: .int(3)),
        .init("shortcut", "shortcut", .bool, default: .bool(false)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    public var typeName: String { "SPPF" }
    public var cv1: Conv
    public var cv2: Conv
    public var m: MaxPool2d
    let poolCount: Int
    let adds: Bool

    public init(_ context: LayerContext) throws(LayerError) {
        let (input, output, epsilon) = (context.inputChannel, context.scaledOutputChannels, context.batchNormEpsilon)
        let arguments = context.arguments
        let hidden = input / 2
        guard hidden >= 1 else { throw LayerError("needs at least 2 input channels (it halves them), found \(input)", blame: .from(nil)) }
        let kernelSize = arguments.int("kernelSize")
        poolCount = arguments.int("poolCount")
        let legacy = arguments.written.count <= 2
        cv1 = Conv(input, hidden, activation: legacy ? .silu : .identity, epsilon: epsilon)
        cv2 = Conv(hidden * (poolCount + 1), output, epsilon: epsilon)
        m = MaxPool2d(kernelSize: kernelSize, stride: 1, padding: kernelSize / 2)
        adds = arguments.bool("shortcut") && input == output
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let x = inputs[0]
        let y = try chainAndMerge(x, cv1: cv1, steps: poolCount, { _, piece throws(LayerError) in try m(piece) }, cv2: cv2, pass)
        return [adds ? y + x : y]
    }
}
