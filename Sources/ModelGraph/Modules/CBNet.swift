import ModelSpec
import Tensor

// YOLOv9e's auxiliary reversible branch (CBNet-style): CBLinear splits one conv's output into a
// tuple, CBFuse picks one piece of each tuple, resizes it and sums; plus nn.Identity, the row
// that lets the second backbone start from the image.

/// Ultralytics `CBLinear(c1, c2s, k=1, s=1, p=None, g=1)`: one biased conv to sum(c2s) channels,
/// split into a tuple of c2s. c2s is written as given (never scaled).
public struct CBLinear: LayerModule {
    public static let names = ["CBLinear"]
    public static let signature = Signature([
        .init("c2s", "outputGroups", .ints(min: 1)),
        .init("k", "kernelSize", .int(min: 1), default: .int(1)),
        .init("s", "stride", .int(min: 1), default: .int(1)),
        .init("p", "padding", .optionalInt(min: 0), default: .null),
        .init("g", "groups", .int(min: 1), default: .int(1)),
    ])
    public static let channelRule = ChannelRule.inputChannelsFirst(repeatsAt: nil)

    public var typeName: String { "CBLinear" }
    public var conv: Conv2d
    let groupSizes: [Int]

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        groupSizes = arguments.ints("outputGroups")
        let total = groupSizes.reduce(0, +)
        let (kernel, groups) = (arguments.int("kernelSize"), arguments.int("groups"))
        try Conv.checkGroups(input: context.inputChannel, output: total, groups: groups, position: arguments.position("groups"))
        conv = Conv2d(context.inputChannel, total, kernelSize: kernel, stride: arguments.int("stride"),
                      padding: arguments.optionalInt("padding") ?? Conv.autoPadding(kernelSize: kernel, dilation: 1), groups: groups, bias: true)
    }

    public var outputChannels: [Int] { [conv.outputChannels] }
    public var outputGroups: [Int]? { groupSizes }
    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) { visitor.child("conv", &conv) }

    /// The tuple's tensors concatenated; CBFuse splits them by `outputGroups`.
    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: conv.inputChannels)
        return [try conv(inputs[0], pass)]
    }
}

/// Ultralytics `CBFuse(idx)`: from every source but the last (CBLinear tuples) the piece `idx[i]`,
/// nearest-resized to the last source's size, all summed with the last source.
public struct CBFuse: LayerModule {
    public static let names = ["CBFuse"]
    public static let signature = Signature([.init("idx", "pieces", .ints(min: 0))])
    public static let inputArity = InputArity.atLeast(2)
    public static let channelRule = ChannelRule.own
    public static let readsTuples = true

    public var typeName: String { "CBFuse" }
    /// Per tuple source: its channel groups and the piece taken.
    let sources: [(groups: [Int], piece: Int)]
    let channels: Int

    public init(_ context: LayerContext) throws(LayerError) {
        let pieces = context.arguments.ints("pieces")
        let tuples = context.inputGroups.dropLast()
        guard pieces.count >= tuples.count else {
            throw LayerError("idx names a piece for \(pieces.count) of the \(tuples.count) tuple sources (all but the last); each needs one",
                             blame: .argument(0))
        }
        channels = context.inputChannels[context.inputChannels.count - 1]
        var sources: [(groups: [Int], piece: Int)] = []
        for (position, groups) in tuples.enumerated() {
            guard let groups else {
                throw LayerError("source \(position + 1) is a plain tensor; every source but the last must be a CBLinear tuple", blame: .from(position))
            }
            let piece = pieces[position]
            guard piece < groups.count else {
                throw LayerError("idx[\(position)] = \(piece), but source \(position + 1) is a tuple of \(groups.count)", blame: .argument(0))
            }
            guard groups[piece] == channels else {
                throw LayerError("piece \(piece) of source \(position + 1) has \(groups[piece]) channels, the last source \(channels); the sum needs equal shapes (torch.stack)",
                                 blame: .from(position))
            }
            sources.append((groups, piece))
        }
        if context.inputGroups.last! != nil {
            throw LayerError("the last source is a tuple; it must be a plain tensor (its size is the target)", blame: .from(context.inputGroups.count - 1))
        }
        self.sources = sources
    }

    public var outputChannels: [Int] { [channels] }
    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {}

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let target = inputs[inputs.count - 1]
        try requireFeatureMap(target.shape, channels: channels, source: inputs.count - 1)
        let (height, width) = (target.shape[2], target.shape[3])
        var sum = target
        // torch.sum over the stack: the pieces in order, then the target
        var pieces: [Feature] = []
        for (position, source) in sources.enumerated() {
            let input = inputs[position]
            try requireFeatureMap(input.shape, channels: source.groups.reduce(0, +), source: position)
            guard input.shape[0] == target.shape[0] else {
                throw LayerError("source \(position + 1) has batch \(input.shape[0]), the last source \(target.shape[0])", blame: .from(position))
            }
            let piece = input.split(sizes: source.groups)[source.piece]
            // F.interpolate(size=…) nearest by a whole factor (the usual pyramid) is nearest upsampling
            if piece.symbol != nil, height % piece.shape[2] == 0, height / piece.shape[2] == width / piece.shape[3], width % piece.shape[3] == 0 {
                pieces.append(piece.nearestUpsampled(factor: height / piece.shape[2]))
                continue
            }
            pieces.append(piece.resized(height: height, width: width, mode: .nearest))
        }
        if var total = pieces.first {
            for piece in pieces.dropFirst() { total = total + piece }
            sum = total + target
        }
        return [sum]
    }
}

/// `nn.Identity()` as a YAML row: the input as it is.
public struct IdentityLayer: LayerModule {
    public static let names = ["nn.Identity"]
    public static let signature = Signature.empty
    public static let channelRule = ChannelRule.sameAsInput

    public var typeName: String { "Identity" }
    let channels: Int

    public init(_ context: LayerContext) throws(LayerError) { channels = context.inputChannel }

    public var outputChannels: [Int] { [channels] }
    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {}
    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] { inputs }
}
