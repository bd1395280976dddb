import Tensor

/// How a tensor gets its first value when no weights file is given (PyTorch's default schemes).
public enum Initialization: Sendable {
    /// Conv2d / Linear: kaiming_uniform(a=√5), i.e. uniform ±1/√fan_in, for weight and bias alike.
    case uniformFanIn(Int)
    /// Xavier uniform over (fan_in, fan_out): nn.MultiheadAttention's packed projection.
    case xavier(fanIn: Int, fanOut: Int)
    case ones
    case zeros
    /// N(0, 1): nn.Embedding.
    case normal
    /// A buffer the module computes (hamming windows, sampling grids).
    case computed(@Sendable () -> Tensor)
}

/// A tensor a block owns, declared once with its shape and initial scheme; `value` holds its data
/// once weights are loaded or initialised (nil in a shape-only graph).
public struct Parameter: Sendable {
    public var shape: [Int]
    /// A buffer (saved in the state dict, not trained) rather than a parameter.
    public var isBuffer: Bool
    public var initialization: Initialization
    /// False for a parameter PyTorch keeps with `requires_grad_(False)` (DFL's bins): counted as a
    /// parameter, not as a gradient.
    public var isTrainable = true
    public var value: Tensor?
    /// Its state_dict key once loaded (`model.0.conv.weight`): names it in traced programs.
    public var key: String?

    public init(_ shape: [Int], initialization: Initialization, isBuffer: Bool = false) {
        self.shape = shape
        self.initialization = initialization
        self.isBuffer = isBuffer
    }

    /// The path of the block that owns it (`model.0.conv` for `model.0.conv.weight`), once loaded.
    var ownerPath: String? {
        key.map { key in key.lastIndex(of: ".").map { String(key[..<$0]) } ?? key }
    }

    /// The loaded tensor as a constant of the program `symbol` records into.
    func constant(in recorder: ProgramRecorder) -> Int {
        recorder.constant(shape: shape, name: key) { tensor }
    }

    /// The loaded tensor. Weights are checked against the declarations before any forward pass,
    /// so a missing value is a programmer error.
    public var tensor: Tensor {
        guard let value else { preconditionFailure("parameter of shape \(shape) used before weights were loaded") }
        return value
    }
}

/// Walks a block's parameters, buffers and children in PyTorch's registration order (own
/// parameters, own buffers, then submodules), by the names PyTorch gives them. Key lists,
/// counts, loading, initialisation and fusion are visitors; a block lists its contents once.
public protocol BlockVisitor {
    mutating func parameter(_ name: String, _ parameter: inout Parameter)
    mutating func child<B: Block>(_ name: String, _ block: inout B)
    /// A submodule without tensors (an activation, Dropout, Identity…). `shared` names a single
    /// instance PyTorch reuses (Ultralytics' `Conv.default_act`), counted once by `modules()`.
    mutating func leaf(_ name: String, _ typeName: String, shared: String?)
}

extension BlockVisitor {
    public mutating func leaf(_ name: String, _ typeName: String) { leaf(name, typeName, shared: nil) }

    public mutating func parameter(_ name: String, _ parameter: inout Parameter?) {
        if parameter != nil { self.parameter(name, &parameter!) }
    }

    /// An optional submodule; when absent, PyTorch holds `absent` (usually Identity) in its place,
    /// or nothing when `absent` is nil.
    public mutating func child<B: Block>(_ name: String, _ block: inout B?, absent: String?) {
        if block != nil {
            child(name, &block!)
        } else if let absent {
            leaf(name, absent)
        }
    }
}

/// A PyTorch module: its class name and, in `visit`, its tensors and children. Everything else
/// the graph knows about a block's tensors (state_dict keys and shapes, parameter and module
/// counts, strict loading, initialisation, fusion) is read off that one declaration.
public protocol Block: Sendable {
    /// The PyTorch class name (`Conv2d`, `C2f`), for module counts and messages.
    var typeName: String { get }
    /// Set for a block PyTorch holds as one shared instance, so `modules()` yields it once.
    var sharedInstance: String? { get }
    mutating func visit<V: BlockVisitor>(_ visitor: inout V)
    /// Rewrites the block for inference as Ultralytics' `fuse()` does (BatchNorm folded into the
    /// conv before it, RepConv branches merged), after its children were fused. Works without
    /// values too (then only the declarations change: what `summary --fuse` counts).
    mutating func fuse()
    /// Whether Ultralytics' own `fuse()` does this block's fusion (its Conv, RepConv…); blocks
    /// that only the inference plan folds (the seed's ConvBN, the decoder's input projections)
    /// say false, so `summary --fuse` counts what Ultralytics counts.
    var fusesLikeUltralytics: Bool { get }
}

extension Block {
    public mutating func fuse() {}
    public var sharedInstance: String? { nil }
    public var fusesLikeUltralytics: Bool { true }
}

/// `nn.Sequential` / `nn.ModuleList` of blocks of one type: children named "0", "1", ….
public struct Indexed<Item: Block>: Block {
    public var typeName: String
    public var items: [Item]

    public init(_ items: [Item], typeName: String = "Sequential") {
        self.items = items
        self.typeName = typeName
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        for index in items.indices { visitor.child(String(index), &items[index]) }
    }
}
