import ModelSpec
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
    public var width: Double
    public var maxChannels: Int?

    /// Ultralytics' width rule: `make_divisible(min(c, max_channels) * width, 8)`.
    public func scaledChannels(_ channels: Int) -> Int {
        let capped = Double(min(channels, maxChannels ?? Int.max)) * width
        return Int((capped / 8).rounded(.up)) * 8
    }

    /// The single input's channels (for `.one` modules).
    public var inputChannel: Int { inputChannels[0] }
}

/// One module type of the YAML vocabulary. Each conforming type lives in its own file and
/// declares, in one place, its YAML name and arguments, channel rule (in `init`), PyTorch
/// module tree (parameter names and shapes), shape rule and cost.
public protocol LayerModule: Sendable {
    /// YAML spellings this type answers to.
    static var names: [String] { get }
    static var signature: Signature { get }
    static var inputArity: InputArity { get }
    /// True when the row's repeats go into the constructor (RepC3) rather than chaining copies.
    static var takesRepeats: Bool { get }

    /// Resolves channels and checks the arguments; throws when they cannot build.
    init(_ context: LayerContext) throws(LayerError)

    /// The constructor arguments as Ultralytics prints them (channels filled in).
    var printedArguments: [ArgumentValue] { get }
    /// One entry per layer index the row occupies (five for a StarNet backbone).
    var outputChannels: [Int] { get }
    /// Names for the outputs of a multi-output module (the index map); empty otherwise.
    var outputNames: [String] { get }
    /// The PyTorch module tree: parameter names and shapes, buffers, submodules.
    var tree: ModuleNode { get }

    /// Output shapes for the given input shapes; throws a message naming expected vs found.
    func outputShapes(_ inputs: [[Int]]) throws(LayerError) -> [[Int]]
    /// Multiply-accumulate count for these shapes (GFLOPs = 2 × this / 1e9). A Double, so no
    /// input size or width can overflow it.
    func multiplyAdds(_ inputs: [[Int]], _ outputs: [[Int]]) -> Double

    /// Runs the module (eval mode) on inputs of the shapes `outputShapes` accepted, with its
    /// tensors under `weights`. Throws only for what the shape rule cannot see in advance.
    func forward(_ inputs: [Tensor], _ weights: LayerWeights) throws(LayerError) -> [Tensor]
    /// Buffers whose values the module computes (hamming windows, sampling grids), by name;
    /// an initialisation without a weights file uses them.
    var fixedBuffers: [String: Tensor] { get }
}

extension LayerModule {
    public static var inputArity: InputArity { .one }
    public static var takesRepeats: Bool { false }
    public var outputNames: [String] { [] }
    public var fixedBuffers: [String: Tensor] { [:] }
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

/// MACs of a convolution producing `output` with the given per-output-element reduction.
func convolutionMultiplyAdds(output: [Int], inputChannelsPerGroup: Int, kernelSize: Int) -> Double {
    elements(output) * Double(inputChannelsPerGroup) * Double(kernelSize * kernelSize)
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
