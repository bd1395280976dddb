import ModelSpec
import Tensor

/// DySample (seed 004): learns per-pixel sampling offsets and upsamples by bilinear grid
/// sampling. `style` 'lp' predicts offsets at low resolution, 'pl' after a pixel shuffle;
/// `dyscope` adds a learned offset scope. Input channels come from `from`.
public struct DySample: LayerModule {
    public static let names = ["DySample"]
    public static let signature = Signature([
        .init("scale", "scale", .int(min: 1), default: .int(2)),
        .init("style", "style", .choice(["lp", "pl"]), default: .string("lp")),
        .init("groups", "groups", .int(min: 1), default: .int(4)),
        .init("dyscope", "dynamicScope", .bool, default: .bool(false)),
    ])

    public static let isCommunityModule = true
    public static let channelRule = ChannelRule.sameAsInputWithChannels

    public var typeName: String { "DySample" }
    public let channels: Int
    public let scale: Int
    public let pixelShuffleFirst: Bool
    public let groups: Int
    public var offset: Conv2d
    public var scope: Conv2d?
    public var initialPositions: Parameter

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        channels = context.inputChannel
        scale = arguments.int("scale")
        pixelShuffleFirst = arguments.string("style") == "pl"
        groups = arguments.int("groups")
        let dynamicScope = arguments.bool("dynamicScope")
        if pixelShuffleFirst {
            let square = scale * scale
            guard channels >= square, channels % square == 0 else {
                throw LayerError("style 'pl' pixel-shuffles first, so input channels (\(channels)) must be a multiple of scale² = \(square)",
                                 blame: .argument(arguments.position("style")))
            }
        }
        guard channels >= groups, channels % groups == 0 else {
            throw LayerError("input channels (\(channels)) must be a multiple of groups=\(groups)",
                             blame: .argument(arguments.position("groups")))
        }
        let offsetInput = pixelShuffleFirst ? channels / (scale * scale) : channels
        let offsetOutput = pixelShuffleFirst ? 2 * groups : 2 * groups * scale * scale
        offset = Conv2d(offsetInput, offsetOutput, kernelSize: 1)
        scope = dynamicScope ? Conv2d(offsetInput, offsetOutput, kernelSize: 1, bias: false) : nil
        initialPositions = DySample.initialPositionsBuffer(scale: scale, groups: groups)
    }

    /// The seed's `init_pos` buffer, computed.
    static func initialPositionsBuffer(scale: Int, groups: Int) -> Parameter {
        Parameter([1, 2 * groups * scale * scale, 1, 1], initialization: .computed { DySample.initialPositions(scale: scale, groups: groups) },
                  isBuffer: true)
    }

    public var outputChannels: [Int] { [channels] }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("init_pos", &initialPositions)
        visitor.child("offset", &offset)
        visitor.child("scope", &scope, absent: nil)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let x = inputs[0]
        _ = try upsampledFeatureMap(x.shape, channels: channels, scale: scale)  // checks the sizes
        return [try forward(x, pass)]
    }

    /// The seed's `forward_lp`/`forward_pl`.
    func forward(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        let source = pixelShuffleFirst ? x.pixelShuffled(scale) : x
        var moved = try offset(source, pass)
        if let scope {
            let gate = try scope(source, pass)
            moved = moved * gate.activated(.sigmoid) * x.scalar(0.5, name: "half")
        } else {
            moved = moved * x.scalar(0.25, name: "quarter")
        }
        if pixelShuffleFirst { moved = moved.pixelUnshuffled(scale) }
        let positions = x.constant(initialPositions)
        return DySample.tracedSample(x, offset: moved.plus(positions), scale: scale, groups: groups)
    }

    /// `sample` as program operations.
    static func tracedSample(_ x: Feature, offset: Feature, scale: Int, groups: Int) -> Feature {
        let (batch, height, width) = (offset.shape[0], offset.shape[2], offset.shape[3])
        let perAxis = offset.shape[1] / 2
        let centres = Tensor(shape: [1, 2, 1, height, width], storage: (0..<(height * width)).map { Float($0 % width) + 0.5 }
                                                                       + (0..<(height * width)).map { Float($0 / width) + 0.5 })
        let coordinates = (x.scalar(2, name: "two") * x.constant(centres, name: "coords").plus(offset.reshaped([batch, 2, perAxis, height, width]))
            / x.constant(Tensor(shape: [1, 2, 1, 1, 1], storage: [Float(width), Float(height)]), name: "normalizer")) - x.scalar(1, name: "one")
        let grid = coordinates.reshaped([batch, 2 * perAxis, height, width]).pixelShuffled(scale)
            .reshaped([batch, 2, groups, scale * height, scale * width]).permuted([0, 2, 3, 4, 1])
            .reshaped([batch * groups, scale * height, scale * width, 2])
        let channels = x.shape[1]
        return x.reshaped([batch * groups, channels / groups, x.shape[2], x.shape[3]]).gridSampled(grid, border: true)
            .reshaped([batch, channels, scale * height, scale * width])
    }

    /// The seed's `_init_pos`: [1, 2·groups·s², 1, 1], the sub-pixel centres of an s×s block
    /// (x then y), repeated per group.
    static func initialPositions(scale: Int, groups: Int) -> Tensor {
        let steps = (0..<scale).map { (Float(-scale + 1) / 2 + Float($0)) / Float(scale) }
        let perAxis = groups * scale * scale
        return Tensor(shape: [1, 2 * perAxis, 1, 1]) { out in
            for axis in 0..<2 {
                for group in 0..<groups {
                    for i in 0..<scale {
                        for j in 0..<scale {
                            out[axis * perAxis + (group * scale + i) * scale + j] = axis == 0 ? steps[j] : steps[i]
                        }
                    }
                }
            }
        }
    }

}
