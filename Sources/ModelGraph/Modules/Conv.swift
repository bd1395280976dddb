import ModelSpec
import Tensor

/// Ultralytics `Conv(c1, c2, k=1, s=1, p=None, g=1, d=1, act=True)`: Conv2d (no bias) →
/// BatchNorm2d → SiLU (the class-wide `Conv.default_act`) or Identity. Both a YAML module and the
/// block most other modules are made of. Fuses by folding its BatchNorm into the conv.
public struct Conv: LayerModule, FoldsBatchNorm {
    public static let names = ["Conv"]
    public static let signature = Signature([
        .init("c2", "outputChannels", .int(min: 1)),
        .init("k", "kernelSize", .int(min: 1), default: .int(1)),
        .init("s", "stride", .int(min: 1), default: .int(1)),
        .init("p", "padding", .optionalInt(min: 0), default: .null),
        .init("g", "groups", .int(min: 1), default: .int(1)),
        .init("d", "dilation", .int(min: 1), default: .int(1)),
        .init("act", "activation", .bool, default: .bool(true)),
    ])
    public static let channelRule = ChannelRule.scaledOutput

    /// "Conv", or "DWConv" for the depthwise subclass.
    public var typeName = "Conv"
    public var conv: Conv2d
    /// nil once folded into `conv`.
    public var bn: BatchNorm2d?
    public private(set) var activation: Activation
    /// The name of the activation instance PyTorch shares (SiLU: the class-wide `default_act`;
    /// HGBlock passes one ReLU to all its convs); nil for an instance of its own.
    public var sharedActivation: String?

    public init(_ inputChannels: Int, _ outputChannels: Int, kernelSize: Int = 1, stride: Int = 1, padding: Int? = nil,
                groups: Int = 1, dilation: Int = 1, activation: Activation = .silu, epsilon: Float) {
        conv = Conv2d(inputChannels, outputChannels, kernelSize: kernelSize, stride: stride,
                      padding: padding ?? Conv.autoPadding(kernelSize: kernelSize, dilation: dilation),
                      dilation: dilation, groups: groups, bias: false)
        bn = BatchNorm2d(outputChannels, epsilon: epsilon)
        self.activation = activation
        sharedActivation = activation == .silu ? "Conv.default_act" : nil
    }

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        let output = context.scaledOutputChannels, groups = arguments.int("groups")
        try Conv.checkGroups(input: context.inputChannel, output: output, groups: groups, position: arguments.position("groups"))
        self.init(context.inputChannel, output, kernelSize: arguments.int("kernelSize"), stride: arguments.int("stride"),
                  padding: arguments.optionalInt("padding"), groups: groups, dilation: arguments.int("dilation"),
                  activation: arguments.bool("activation") ? .silu : .identity, epsilon: context.batchNormEpsilon)
    }

    public var outputChannels: [Int] { [conv.outputChannels] }

    /// Gives the class-wide default activation (and every deep copy of it) another class, as a
    /// model file's `activation:` key does while parse_model runs.
    mutating func replaceDefaultActivation(with replacement: Activation) {
        if sharedActivation?.hasSuffix("Conv.default_act") ?? false { activation = replacement }
    }

    /// After `copy.deepcopy` of an enclosing module the copy shares one activation of its own.
    mutating func renameSharedActivation(under owner: String) {
        if let shared = sharedActivation { sharedActivation = "\(owner)/\(shared)" }
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.child("conv", &conv)
        visitor.child("bn", &bn, absent: nil)
        visitor.leaf("act", activation == .identity ? "Identity" : Activation.moduleName(activation),
                     shared: activation == .identity ? nil : sharedActivation)
    }

    /// act(bn(conv(x))), or act(conv(x)) with the BatchNorm folded (one kernel with its epilogue).
    public func callAsFunction(_ x: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        guard let bn else { return try conv(x, pass, activation: activation) }
        return bn(try conv(x, pass), activation: activation)
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: conv.inputChannels)
        return [try self(inputs[0], pass)]
    }

    /// Ultralytics' `autopad`: same-size padding for stride 1.
    public static func autoPadding(kernelSize: Int, dilation: Int) -> Int {
        let effective = dilation > 1 ? dilation * (kernelSize - 1) + 1 : kernelSize
        return effective / 2
    }

    static func checkGroups(input: Int, output: Int, groups: Int, position: Int) throws(LayerError) {
        guard input % groups == 0, output % groups == 0 else {
            throw LayerError("groups=\(groups) must divide both input channels (\(input)) and output channels (\(output))",
                             blame: .argument(position))
        }
    }
}

extension Activation {
    /// The activation of a torch.nn class name from `ModelSpec.supportedActivations`.
    static func named(_ name: String) -> Activation {
        switch name {
        case "ReLU": return .relu
        case "ReLU6": return .relu6
        case "GELU": return .gelu
        case "Sigmoid": return .sigmoid
        case "Identity": return .identity
        default: return .silu
        }
    }

    /// The torch.nn class of an activation, for module trees.
    static func moduleName(_ activation: Activation) -> String {
        switch activation {
        case .identity: return "Identity"
        case .relu: return "ReLU"
        case .relu6: return "ReLU6"
        case .silu: return "SiLU"
        case .gelu: return "GELU"
        case .sigmoid: return "Sigmoid"
        case .tanh: return "Tanh"
        }
    }
}
