import ModelSpec
import YAMLFrontEnd
import Tensor

/// How many `from` sources a module takes.
public enum InputArity: Sendable {
    case one
    case exactly(Int)
    case atLeast(Int)

    func accepts(_ count: Int) -> Bool {
        switch self {
        case .one: return count == 1
        case .exactly(let n): return count == n
        case .atLeast(let n): return count >= n
        }
    }

    var expectation: String {
        switch self {
        case .one: return "one source"
        case .exactly(let n): return "exactly \(n) sources"
        case .atLeast(let n): return "at least \(n) source\(n == 1 ? "" : "s")"
        }
    }
}

/// How a module's channels and printed arguments follow from its row, as Ultralytics'
/// `parse_model` applies it. The builder applies the rule; modules read the result.
public enum ChannelRule: Sendable {
    /// `base_modules`: the first argument is the output width, scaled as
    /// `make_divisible(min(c2, max_channels) × width, 8)`; printed `[c1, c2, *rest]` (with the
    /// repeats inserted after c2 for modules that take them).
    case scaledOutput
    /// Output channels equal the input's; printed `[c1, *args]` (AIFI and the seed's upsamplers).
    case sameAsInputWithChannels
    /// Output channels equal the input's; printed as written (`nn.Upsample`, `nn.MaxPool2d`).
    case sameAsInput
    /// Output channels are the sum of the inputs'; printed as written (`Concat`).
    case concatenation
    /// Two sources `[hr, lr]`; printed `[[c_hr, c_lr], *args]` (FreqFusion).
    case inputPair
    /// A head that takes every source's channels as a list, inserted at this argument position
    /// (RTDETRDecoder: 1).
    case channelListInserted(at: Int)
    /// Ultralytics' Detect family: `args + [reg_max, end2end, [channels…]]`; the Segment family
    /// scales the argument at `scaledWidthAt` (its proto channels) like a width.
    case detectionHead(scaledWidthAt: Int?)
    /// `base_modules` whose first argument is the output width as written (Classify's nc);
    /// printed `[c1, c2, *rest]`.
    case writtenOutput
    /// The module sets its own outputs (a backbone); printed as written.
    case own
    /// Widths written as given (HGStem, HGBlock: `[cm, c2, …]`, never scaled); printed
    /// `[c1, *args]` with the repeats inserted at `repeatsAt` for modules that take them.
    case inputChannelsFirst(repeatsAt: Int?)
}

/// What a module's constructor gets: its resolved input channels, bound arguments and the
/// model-wide settings, passed by value.
public struct LayerContext: Sendable {
    /// The module name as written (StarNet variants share one type).
    public var moduleName: String
    public var inputChannels: [Int]
    public var arguments: BoundArguments
    /// Repeats after the depth gain.
    public var repeats: Int
    public var classCount: Int?
    /// Output channels after the width rule, for `.scaledOutput` modules (as written for
    /// `.writtenOutput`); for `.detectionHead(scaledWidthAt:)` the scaled argument.
    public var scaledOutputChannels: Int
    /// BatchNorm2d eps: 1e-3 in detection-family models (Ultralytics' `initialize_weights`),
    /// PyTorch's 1e-5 in classification models.
    public var batchNormEpsilon: Float
    /// Top-level keys a detection head reads (`reg_max`, `end2end`).
    public var model: ModelSettings
    /// The row's first layer index (names instances PyTorch shares within one module).
    public var layerIndex: Int = 0
    /// Per source, the channel groups of a tuple output (CBLinear's), nil for a plain tensor.
    public var inputGroups: [[Int]?] = []
    /// The scale's width gain and channel cap (C2fAttn scales its head count with them).
    public var widthMultiple: Double = 1
    public var maxChannels: Int?

    /// The single input's channels (for `.one` modules).
    public var inputChannel: Int { inputChannels[0] }
}

/// Model-wide settings read from the file's top-level keys.
public struct ModelSettings: Sendable {
    /// DFL bins of the Detect family (`reg_max`, default 16).
    public var regressionMaximum: Int = 16
    /// `end2end` (None when absent).
    public var endToEnd: Bool?
    /// Ultralytics' `legacy` flag (v3/v5/v8/v9 heads), cleared by C3k2, A2C2f and C2fCIB rows.
    public var legacy = true
    /// Inference through the one-to-one branches with the top-k output (Ultralytics'
    /// `model.end2end = True`; `--end2end`), for heads that have them.
    public var inferenceEndToEnd = false
    /// What `Conv.default_act` is while the model is built (the file's `activation:` key).
    public var defaultActivation: Activation = .silu
}

/// One module type of the YAML vocabulary: its YAML names and positional signature (defaults as
/// the PyTorch constructor), its channel rule, and — as a `Block` — its PyTorch module tree and
/// one forward over features that serves shape inference, multiply-add counts and execution.
public protocol LayerModule: Block {
    /// YAML spellings this type answers to.
    static var names: [String] { get }
    static var signature: Signature { get }
    static var inputArity: InputArity { get }
    static var channelRule: ChannelRule { get }
    /// True when the row's repeats go into the constructor (Ultralytics' `repeat_modules`)
    /// rather than chaining copies.
    static var takesRepeats: Bool { get }

    /// True for modules only the community's forks of Ultralytics register (the seed's
    /// StarNet, FreqFusion, DySample, CARAFE), which changes how the summary counts layers.
    static var isCommunityModule: Bool { get }
    /// Whether a row of this module clears Ultralytics' `legacy` flag for the heads after it
    /// (C3k2, A2C2f, C2fCIB).
    static var clearsLegacy: Bool { get }
    /// The written arguments as parse_model changes them for a scale name (C3k2's `c3k` at
    /// m/l/x, A2C2f's appended `residual, mlp_ratio` at l/x); `location` stands for values the
    /// YAML does not hold.
    static func scaleAdjusted(_ arguments: [Argument], scale: String?, at location: SourceLocation) -> [Argument]

    /// Builds the blocks and checks the arguments; throws when they cannot build.
    init(_ context: LayerContext) throws(LayerError)

    /// One entry per layer index the row occupies (five for a StarNet backbone).
    var outputChannels: [Int] { get }
    /// Names for the outputs of a multi-output module (the index map); empty otherwise.
    var outputNames: [String] { get }
    /// The channel groups when the row returns a tuple of tensors split off one output along
    /// channels (CBLinear); its layer index then holds them concatenated.
    var outputGroups: [Int]? { get }
    /// The printed arguments after parse_model's own rewrites of this row (C2fAttn's ec and nh).
    func printedArguments(_ standard: [ArgumentValue]) -> [ArgumentValue]
    /// Whether the module reads the class text embeddings (YOLO-World's C2fAttn,
    /// ImagePoolingAttn, WorldDetect).
    static var readsText: Bool { get }
    /// Whether the module reads class prompt embeddings when given and has a default without
    /// them (YOLOE's heads: zeros).
    static var readsPrompts: Bool { get }
    /// The width of the text embeddings it reads (512, WorldModel's; YOLOE's heads: `embed`).
    var textWidth: Int { get }
    /// Whether the module reads tuple outputs (CBFuse); to any other module such a source is an error.
    static var readsTuples: Bool { get }
    /// Names of a head's eval-output tensors when it returns several (Segment: `output`, `proto`),
    /// for `run --output`; only the first feeds a layer index.
    var resultNames: [String] { get }

    /// The forward pass (eval mode) over features: with tensors it computes, with shapes only it
    /// infers the output shapes. Multiply-adds are counted into `pass` by the blocks that do them.
    /// Throws a message naming expected vs found when the inputs do not fit.
    func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature]
}

extension LayerModule {
    public static var inputArity: InputArity { .one }
    public static var takesRepeats: Bool { false }
    public static var clearsLegacy: Bool { false }
    public static var isCommunityModule: Bool { false }
    public static func scaleAdjusted(_ arguments: [Argument], scale: String?, at location: SourceLocation) -> [Argument] { arguments }
    public var outputNames: [String] { [] }
    public var outputGroups: [Int]? { nil }
    public func printedArguments(_ standard: [ArgumentValue]) -> [ArgumentValue] { standard }
    public static var readsTuples: Bool { false }
    public static var readsText: Bool { false }
    public static var readsPrompts: Bool { false }
    public var textWidth: Int { 512 }
    public var resultNames: [String] { [] }
}

// Shape helpers shared by the modules' shape rules.

/// PyTorch's convolution output size.
public func convolvedSize(_ size: Int, kernelSize: Int, stride: Int, padding: Int, dilation: Int = 1) -> Int {
    let span = size + 2 * padding - dilation * (kernelSize - 1) - 1
    return span < 0 ? 0 : span / stride + 1
}

/// Formats a shape as `[1, 256, 40, 40]`.
public func describeShape(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}

/// Checks that an input is an NCHW feature map with the channels the module was built for.
func requireFeatureMap(_ shape: [Int], channels: Int, source: Int = 0) throws(LayerError) {
    guard shape.count == 4 else {
        throw LayerError("expects an NCHW feature map, found a tensor of shape \(describeShape(shape))", blame: .from(source))
    }
    guard shape[1] == channels else {
        throw LayerError("expects \(channels) input channels, found \(shape[1]) (shape \(describeShape(shape)))", blame: .from(source))
    }
}

/// Checks a head's inputs: one NCHW map per level with the channels it was built for, all of
/// one batch size.
func requireLevels(_ shapes: [[Int]], channels: [Int]) throws(LayerError) {
    for (position, shape) in shapes.enumerated() {
        try requireFeatureMap(shape, channels: channels[position], source: position)
        guard shape[0] == shapes[0][0] else {
            throw LayerError("all levels must share the batch size; level \(position + 1) has \(shape[0]), level 1 has \(shapes[0][0])",
                             blame: .from(position))
        }
    }
}

/// N·H·W of an NCHW shape: the positions a per-pixel op (a 1×1 conv, a sampler) runs over.
func spatialPositions(_ shape: [Int]) -> Double {
    Double(shape[0]) * Double(shape[2]) * Double(shape[3])
}

/// The element count of a shape, as a Double (cost formulas only).
func elements(_ shape: [Int]) -> Double {
    shape.reduce(1.0) { $0 * Double($1) }
}

/// The shape rule of an upsampler by an integer factor that keeps its channels (DySample, CARAFE).
func upsampledFeatureMap(_ input: [Int], channels: Int, scale: Int) throws(LayerError) -> [[Int]] {
    try requireFeatureMap(input, channels: channels)
    return [[input[0], channels, input[2] * scale, input[3] * scale]]
}
