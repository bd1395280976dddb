import Tensor

/// What flows between blocks: a program value while tracing, only its shape in a shape walk
/// (the graph builder's), or a tensor on the reference path of a module option not yet written
/// as program operations. Every block has one forward over features, so the same code infers
/// shapes, counts multiply-adds and records the program. Layouts and kernels are the planner's
/// (`PlannedProgram`), not the modules'.
public struct Feature: Sendable {
    public let shape: [Int]
    private let plain: Tensor?
    /// In a walk that measures memory, this map's share of the live bytes.
    private let allocation: LiveAllocation?
    /// In a traced walk, the program value this feature stands for.
    let symbol: Symbol?

    public init(shape: [Int]) {
        self.shape = shape
        plain = nil
        allocation = LiveBytes.current.map { LiveAllocation(bytes: 4 * elements(shape), in: $0) }
        symbol = nil
    }

    /// A symbolic feature of a traced walk: the program value `symbol` of this shape.
    init(symbol: Symbol, shape: [Int]) {
        self.shape = shape
        plain = nil
        allocation = nil
        self.symbol = symbol
    }

    public init(_ tensor: Tensor) {
        shape = tensor.shape
        plain = tensor
        allocation = nil
        symbol = nil
    }

    /// The tensor (nil in a shape walk or a trace).
    public var tensor: Tensor? { plain }

    /// Whether the feature holds elements (false in a shape walk or a trace).
    public var hasData: Bool { plain != nil }

    /// The result of an operation whose output shape is `shape`: `body` runs only when there is
    /// data; a trace that meets it ends, naming this place (`file:line`).
    public func map(shape: [Int], file: StaticString = #fileID, line: UInt = #line, _ body: (Tensor) -> Tensor) -> Feature {
        if let symbol { symbol.recorder.noteUntraced("\(file):\(line)") }
        guard let tensor else { return Feature(shape: shape) }
        let result = body(tensor)
        precondition(result.shape == shape, "an operation promised \(shape), produced \(result.shape)")
        return Feature(result)
    }

    /// A shape-preserving element-wise operation.
    public func map(file: StaticString = #fileID, line: UInt = #line, _ body: (Tensor) -> Tensor) -> Feature {
        map(shape: shape, file: file, line: line, body)
    }

    /// Element-wise activation.
    public func activated(_ activation: Activation) -> Feature {
        if let symbol, activation != .identity { return symbol.recorder.feature(.activation(activation), [symbol.id], shape: shape) }
        return activation == .identity ? self : map(shape: shape) { $0.activated(activation) }
    }

    /// Element-wise sum of two features of one shape (residual connections).
    public static func + (a: Feature, b: Feature) -> Feature {
        a.adding(b)
    }

    /// `activation(self + other)` (a residual block's `relu(y + x)`).
    public func adding(_ other: Feature, activation: Activation = .identity) -> Feature {
        if let a = symbol, let b = other.symbol {
            return a.recorder.feature(.add, [a.id, b.id], shape: shape).activated(activation)
        }
        return Feature.elementwise(self, other) { $0.adding($1, activation: activation) }
    }

    /// An element-wise operation of two features of one shape.
    static func elementwise(_ a: Feature, _ b: Feature, file: StaticString = #fileID, line: UInt = #line,
                            _ body: (Tensor, Tensor) -> Tensor) -> Feature {
        precondition(a.shape == b.shape, "combining \(a.shape) and \(b.shape) element-wise")
        if let symbol = a.symbol ?? b.symbol { symbol.recorder.noteUntraced("\(file):\(line)") }
        guard let x = a.tensor, let y = b.tensor else { return Feature(shape: a.shape) }
        return Feature(body(x, y))
    }

    /// `F.pad(x, [left, right, top, bottom])`: zero columns and rows around a map.
    public func zeroPadded(left: Int = 0, right: Int, top: Int = 0, bottom: Int, file: StaticString = #fileID, line: UInt = #line) -> Feature {
        let newShape = [shape[0], shape[1], top + shape[2] + bottom, left + shape[3] + right]
        if let symbol {
            return symbol.recorder.feature(.pad(left: left, right: right, top: top, bottom: bottom, reflect: false), [symbol.id], shape: newShape)
        }
        return map(shape: newShape, file: file, line: line) { $0.zeroPadded(left: left, right: right, top: top, bottom: bottom) }
    }

    /// `torch.cat(features, axis)`; throws, as PyTorch does, when the shapes differ off `axis`
    /// (a block whose even kernel grows the map by one, such as HGBlock with k = 2).
    public static func concatenate(_ features: [Feature], axis: Int = 1) throws(LayerError) -> Feature {
        for feature in features.dropFirst() {
            var (first, other) = (features[0].shape, feature.shape)
            guard first.count == other.count, first.count > axis else {
                throw LayerError("cannot concatenate \(describeShape(features[0].shape)) and \(describeShape(feature.shape)): different ranks")
            }
            (first[axis], other[axis]) = (0, 0)
            guard first == other else {
                throw LayerError("cannot concatenate \(describeShape(features[0].shape)) and \(describeShape(feature.shape)) along axis \(axis): the other sizes must match (torch.cat)")
            }
        }
        var shape = features[0].shape
        shape[axis] = features.reduce(0) { $0 + $1.shape[axis] }
        if let recorder = features.lazy.compactMap(\.symbol).first?.recorder {
            let symbols = features.compactMap(\.symbol)
            guard symbols.count == features.count else { return Feature(shape: shape) }
            return recorder.feature(.concatenate(axis: axis), symbols.map(\.id), shape: shape)
        }
        let tensors = features.compactMap(\.tensor)
        guard tensors.count == features.count else { return Feature(shape: shape) }
        return Feature(Tensor.concatenate(tensors, axis: axis))
    }

    /// `x.split(sizes, axis)` / `x.chunk(n, axis)`.
    public func split(axis: Int = 1, sizes: [Int]) -> [Feature] {
        if let symbol {
            let shapes = sizes.map { size -> [Int] in
                var part = shape
                part[axis] = size
                return part
            }
            return symbol.recorder.record(.split(axis: axis, sizes: sizes), [symbol.id], outputs: shapes)
                .map { Feature(symbol: Symbol(recorder: symbol.recorder, id: $0.id), shape: $0.shape) }
        }
        guard let tensor else {
            return sizes.map { size in
                var part = shape
                part[axis] = size
                return Feature(shape: part)
            }
        }
        return tensor.split(axis: axis, sizes: sizes).map(Feature.init)
    }
}

/// The state of one walk through the blocks: the multiply-adds counted so far and, for an
/// open-vocabulary model, the class text embeddings the modules read.
public final class Pass {
    /// Multiply-accumulates of the operations run (or shape-walked) so far.
    public var multiplyAdds: Double = 0

    public init() {}

    /// Multiply-adds as thop's rules count them (the figure Ultralytics' `get_flops` reports):
    /// the same as `multiplyAdds` for most operations, plus BatchNorm's 4 per element, minus what
    /// thop has no rule for.
    public var thopOperations: Double = 0

    /// Counts `multiplyAdds` for both figures, or `thop` for thop's when its rule differs.
    public func count(_ multiplyAdds: Double, thop: Double? = nil) {
        self.multiplyAdds += multiplyAdds
        thopOperations += thop ?? multiplyAdds
    }

    /// Operations only thop counts (BatchNorm, LayerNorm, pooling sums).
    public func countThop(_ operations: Double) { thopOperations += operations }

    /// Open-vocabulary models (YOLO-World): the class text embeddings [B, classes, 512] as the
    /// model was given them (WorldDetect reads these) and as ImagePoolingAttn last updated them
    /// (C2fAttn reads these), as Ultralytics' `WorldModel.predict` threads `txt_feats`. Nil in a
    /// shape walk, where the modules take the shape the graph was built for.
    var text: Feature?
    var guide: Feature?
}

/// The bytes of the shape-walk features alive at once, and their peak: the features of a shape
/// walk live exactly as long as the tensors of the forward pass the same code runs.
final class LiveBytes: @unchecked Sendable {
    private(set) var live = 0.0
    private(set) var peak = 0.0
    /// The counter of the walk under way, if it measures memory.
    @TaskLocal static var current: LiveBytes?

    func add(_ bytes: Double) {
        live += bytes
        peak = max(peak, live)
    }
    func remove(_ bytes: Double) { live -= bytes }

    /// A module that works on tensors inside its code (not on walked features) declares the
    /// most bytes it holds at once beyond its inputs and outputs.
    func holdBriefly(_ bytes: Double) { peak = max(peak, live + bytes) }
}

/// One feature's share of a `LiveBytes` count, returned when the feature's last copy goes.
final class LiveAllocation: @unchecked Sendable {
    let bytes: Double
    let counter: LiveBytes
    init(bytes: Double, in counter: LiveBytes) {
        self.bytes = bytes
        self.counter = counter
        counter.add(bytes)
    }
    deinit { counter.remove(bytes) }
}
