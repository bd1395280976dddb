import ModelSpec
import Tensor

/// `nn.Upsample(size, scale_factor, mode)`, written in YAML as `nn.Upsample, [None, 2, 'nearest']`.
public struct Upsample: LayerModule {
    public static let names = ["nn.Upsample"]
    public static let signature = Signature([
        .init("size", "size", .optionalIntOrList, default: .null),
        .init("scale_factor", "scaleFactor", .optionalNumber, default: .null),
        .init("mode", "mode", .choice(["nearest", "bilinear", "bicubic", "nearest-exact", "area"]), default: .string("nearest")),
        .init("align_corners", "alignCorners", .anything, default: .null),
    ])

    public static let channelRule = ChannelRule.sameAsInput

    public var typeName: String { "Upsample" }
    public let channels: Int
    public let size: [Int]?
    public let scaleFactor: Double?
    public let mode: String
    let alignCornersArgument: ArgumentValue

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        channels = context.inputChannel
        switch arguments.value("size") {
        case .int(let value): size = [value, value]
        case .list(let items):
            let values = items.compactMap { if case .int(let v) = $0 { return v } else { return nil } }
            guard values.count == 2 || values.count == 1 else {
                throw LayerError("size is an int or [height, width], found \(items.count) values", blame: .argument(0))
            }
            size = values.count == 1 ? [values[0], values[0]] : values
        default: size = nil
        }
        scaleFactor = arguments.optionalDouble("scaleFactor")
        mode = arguments.string("mode")
        alignCornersArgument = arguments.value("alignCorners")
        if size == nil && scaleFactor == nil {
            throw LayerError("needs a size or a scale_factor; both are None", blame: .arguments)
        }
        if size != nil && scaleFactor != nil {
            throw LayerError("takes a size or a scale_factor, not both", blame: .argument(1))
        }
        if let scaleFactor, scaleFactor <= 0 {
            throw LayerError("scale_factor must be positive, found \(pythonFloat(scaleFactor))", blame: .argument(1))
        }
    }

    public var outputChannels: [Int] { [channels] }
    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {}

    func outputShape(_ input: [Int]) throws(LayerError) -> [Int] {
        try requireFeatureMap(input, channels: channels)
        if let size { return [input[0], channels, size[0], size[1]] }
        let factor = scaleFactor ?? 1
        // PyTorch: floor(input_size * scale_factor)
        let height = Int((Double(input[2]) * factor).rounded(.down))
        let width = Int((Double(input[3]) * factor).rounded(.down))
        guard height > 0, width > 0 else {
            throw LayerError("scale_factor \(pythonFloat(factor)) turns \(input[2])×\(input[3]) into an empty map", blame: .argument(1))
        }
        return [input[0], channels, height, width]
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let output = try outputShape(inputs[0].shape)
        guard let resize = ResizeMode(rawValue: mode) else {
            throw LayerError("mode '\(mode)' is not implemented by the forward pass yet (nearest, nearest-exact and bilinear are)",
                             blame: .argument(2))
        }
        return [Feature.moduleCall(.upsample(mode: mode), inputs) { upsampled(inputs[0], to: output, resize) }]
    }

    private func upsampled(_ x: Feature, to output: [Int], _ resize: ResizeMode) -> Feature {
        // with a scale_factor PyTorch steps the source by 1/factor, else by input/output size
        let step = scaleFactor.map { Float(1 / $0) }
        let source = x.shape
        if resize == .nearest, let symbol = x.symbol, source.count == 4,
           let factor = (1...16).first(where: { output == [source[0], source[1], source[2] * $0, source[3] * $0] }) {
            return symbol.recorder.feature(.upsampleNearest(factor: factor), [symbol.id], shape: output)
        }
        let alignCorners: Bool
        if case .bool(let value) = alignCornersArgument { alignCorners = value } else { alignCorners = false }
        if resize == .bilinear, let symbol = x.symbol, source.count == 4,
           let factor = (1...16).first(where: { output == [source[0], source[1], source[2] * $0, source[3] * $0] }) {
            return symbol.recorder.feature(.upsampleBilinear(factor: factor, alignCorners: alignCorners), [symbol.id], shape: output)
        }
        return x.resized(height: output[2], width: output[3], mode: resize, alignCorners: alignCorners, stepHeight: step, stepWidth: step)
    }
}
