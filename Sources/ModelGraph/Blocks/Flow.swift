import Tensor

/// What flows between blocks: a tensor when the model runs, only its shape in a shape walk.
/// Every block has one forward over features, so the same code infers shapes, counts
/// multiply-adds and computes outputs.
public struct Feature: Sendable {
    public let shape: [Int]
    /// Whether the map is held channels-last (NHWC), as oneDNN's convolutions leave it in a plan.
    /// Known in shape walks too, so a plan's kernels are chosen for the layout they will get.
    public let isChannelsLast: Bool
    private let plain: Tensor?
    private let channelsLastMap: ChannelsLastMap?
    /// How a channels-last map is made from others, for kernels that read the parts as they are
    /// (nil for a map held as such); its elements are made on first use.
    let composition: Composition?
    /// In a walk that measures memory, this map's share of the live bytes.
    private let allocation: LiveAllocation?
    /// In a traced walk, the program value this feature stands for.
    let symbol: Symbol?

    public init(shape: [Int]) {
        self.init(shape: shape, channelsLast: false)
    }

    /// A shape-walk feature that will be held channels-last when the plan runs.
    init(shape: [Int], channelsLast: Bool, composition: Composition? = nil) {
        self.shape = shape
        isChannelsLast = channelsLast
        plain = nil
        channelsLastMap = nil
        self.composition = composition
        // a composition's elements are made only if something asks for them
        allocation = composition == nil ? LiveBytes.current.map { LiveAllocation(bytes: 4 * elements(shape), in: $0) } : nil
        symbol = nil
    }

    /// A symbolic feature of a traced walk: the program value `symbol` of this shape.
    init(symbol: Symbol, shape: [Int]) {
        self.shape = shape
        isChannelsLast = false
        plain = nil
        channelsLastMap = nil
        composition = nil
        allocation = nil
        self.symbol = symbol
    }

    public init(_ tensor: Tensor) {
        shape = tensor.shape
        isChannelsLast = false
        plain = tensor
        channelsLastMap = nil
        composition = nil
        allocation = nil
        symbol = nil
    }

    /// A map given as its NHWC elements [N, H, W, C]; `shape` stays NCHW.
    init(channelsLast data: Tensor, converter: LayoutConverter) {
        precondition(data.rank == 4)
        shape = ChannelsLast.plainShape(of: data.shape)
        isChannelsLast = true
        plain = nil
        channelsLastMap = ChannelsLastMap(data: data, converter: converter)
        composition = nil
        allocation = nil
        symbol = nil
    }

    /// A channels-last map made from others by `composition`, its elements by `make` when first
    /// asked for (a kernel that reads the parts never asks).
    private init(shape: [Int], composition: Composition, converter: LayoutConverter?, make: @escaping () -> Tensor) {
        self.shape = shape
        isChannelsLast = true
        plain = nil
        channelsLastMap = converter.map { ChannelsLastMap(converter: $0, make: make) }
        self.composition = composition
        allocation = nil
        symbol = nil
    }

    /// The NCHW tensor (nil in a shape-only walk: summary, check, plan preparation); a
    /// channels-last map is converted once, on first use, and kept.
    public var tensor: Tensor? { plain ?? channelsLastMap?.plain }

    /// Whether the feature holds elements (false in a shape-only walk), without converting a
    /// channels-last map.
    public var hasData: Bool { plain != nil || channelsLastMap != nil }

    /// The NHWC elements [N, H, W, C] of a channels-last map.
    var channelsLastData: Tensor? { channelsLastMap?.data }
    var converter: LayoutConverter? { channelsLastMap?.converter }

    /// The NHWC elements, converting an NCHW map with `converter` (nil in a shape-only walk).
    func channelsLastData(converting converter: LayoutConverter) -> Tensor? {
        channelsLastData ?? tensor.map(converter.channelsLast)
    }

    /// The result of an operation whose output shape is `shape`: `body` runs only when there is
    /// data.
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

    /// An operation that works in either layout (nearest upsampling, max pooling): `plain` on the
    /// NCHW tensor, `channelsLast` on the NHWC elements of a channels-last map, which stays one.
    public func map(shape: [Int], file: StaticString = #fileID, line: UInt = #line,
                    plain: (Tensor) -> Tensor, channelsLast: (Tensor) -> Tensor) -> Feature {
        guard isChannelsLast else { return map(shape: shape, file: file, line: line, plain) }
        guard let data = channelsLastData, let converter else { return Feature(shape: shape, channelsLast: true) }
        let result = channelsLast(data)
        precondition(result.shape == ChannelsLast.shape(ofPlain: shape), "an operation promised \(shape), produced NHWC \(result.shape)")
        return Feature(channelsLast: result, converter: converter)
    }

    /// Element-wise, so in whichever layout the map is held.
    public func activated(_ activation: Activation) -> Feature {
        if let symbol, activation != .identity { return symbol.recorder.feature(.activation(activation), [symbol.id], shape: shape) }
        return activation == .identity ? self : map(shape: shape, plain: { $0.activated(activation) }, channelsLast: { $0.activated(activation) })
    }

    /// Element-wise sum of two features of one shape (residual connections).
    public static func + (a: Feature, b: Feature) -> Feature {
        a.adding(b)
    }

    /// `activation(self + other)` in one pass (a residual block's `relu(y + x)`).
    public func adding(_ other: Feature, activation: Activation = .identity) -> Feature {
        if let a = symbol, let b = other.symbol {
            return a.recorder.feature(.add, [a.id, b.id], shape: shape).activated(activation)
        }
        return Feature.elementwise(self, other) { $0.adding($1, activation: activation) }
    }

    /// An element-wise operation of two features of one shape: on NHWC elements when either is
    /// channels-last (the other is converted, and the result stays channels-last, as the
    /// convolutions after it read best; no NCHW copy is kept), else on NCHW.
    static func elementwise(_ a: Feature, _ b: Feature, file: StaticString = #fileID, line: UInt = #line,
                            _ body: (Tensor, Tensor) -> Tensor) -> Feature {
        precondition(a.shape == b.shape, "combining \(a.shape) and \(b.shape) element-wise")
        if let symbol = a.symbol ?? b.symbol { symbol.recorder.noteUntraced("\(file):\(line)") }
        if a.isChannelsLast || b.isChannelsLast {
            guard let converter = a.converter ?? b.converter, a.hasData, b.hasData else {
                // a shape walk: the plain one's NHWC copy lives while the operation runs
                let copy = a.isChannelsLast && b.isChannelsLast ? nil : Feature(shape: a.shape, channelsLast: true)
                return withExtendedLifetime(copy) { Feature(shape: a.shape, channelsLast: true) }
            }
            let (x, y) = (a.channelsLastData(converting: converter)!, b.channelsLastData(converting: converter)!)
            return Feature(channelsLast: body(x, y), converter: converter)
        }
        guard let x = a.tensor, let y = b.tensor else { return Feature(shape: a.shape) }
        return Feature(body(x, y))
    }

    /// `F.pad(x, [left, right, top, bottom])`: zero columns and rows around a map.
    public func zeroPadded(left: Int = 0, right: Int, top: Int = 0, bottom: Int, file: StaticString = #fileID, line: UInt = #line) -> Feature {
        if let symbol {
            return symbol.recorder.feature(.pad(left: left, right: right, top: top, bottom: bottom, reflect: false), [symbol.id],
                                           shape: [shape[0], shape[1], top + shape[2] + bottom, left + shape[3] + right])
        }
        return map(shape: [shape[0], shape[1], top + shape[2] + bottom, left + shape[3] + right], file: file, line: line,
            plain: { $0.zeroPadded(left: left, right: right, top: top, bottom: bottom) },
            channelsLast: { $0.zeroPaddedChannelsLast(left: left, right: right, top: top, bottom: bottom) })
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
        if axis == 1 && shape.count == 4, features.allSatisfy(\.isChannelsLast),
           features.contains(where: { $0.composition?.parts.contains { $0.factor > 1 } ?? false }) {
            // upsampled parts stay a composition, for a 1×1 convolution to take as they are
            let composition = Composition(parts: features.flatMap { $0.composition?.parts ?? [.init(feature: $0, factor: 1)] })
            guard let converter = features.lazy.compactMap(\.converter).first else { return Feature(shape: shape, channelsLast: true, composition: composition) }
            return Feature(shape: shape, composition: composition, converter: converter) {
                Tensor.concatenate(features.map { $0.channelsLastData! }, axis: 3)
            }
        }
        if axis == 1 && shape.count == 4, features.contains(where: \.isChannelsLast) {
            // channels are NHWC's last axis; NCHW parts are converted (they are the fewer: the
            // image, 1×1 GEMM outputs)
            guard let converter = features.lazy.compactMap(\.converter).first else { return Feature(shape: shape, channelsLast: true) }
            let data = features.compactMap { $0.channelsLastData(converting: converter) }
            guard data.count == features.count else { return Feature(shape: shape, channelsLast: true) }
            return Feature(channelsLast: Tensor.concatenate(data, axis: 3), converter: converter)
        }
        let tensors = features.compactMap(\.tensor)
        guard tensors.count == features.count else { return Feature(shape: shape) }
        return Feature(Tensor.concatenate(tensors, axis: axis))
    }

    /// Nearest upsampling of a channels-last map by a whole factor, left as a composition: a
    /// planned 1×1 convolution of a concatenation holding it takes its product at this size
    /// (`PartwisePointwiseConvolution`); anything else makes the elements on first use.
    func upsampledNearest(by factor: Int, making make: @escaping (Tensor) -> Tensor) -> Feature {
        precondition(isChannelsLast && shape.count == 4)
        let shape = [shape[0], shape[1], shape[2] * factor, shape[3] * factor]
        let composition = Composition(parts: [.init(feature: self, factor: factor)])
        guard hasData, let converter else { return Feature(shape: shape, channelsLast: true, composition: composition) }
        return Feature(shape: shape, composition: composition, converter: converter) { make(self.channelsLastData!) }
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
        if isChannelsLast && axis == 1 {
            guard let data = channelsLastData, let converter else {
                return sizes.map { Feature(shape: [shape[0], $0, shape[2], shape[3]], channelsLast: true) }
            }
            return data.split(axis: 3, sizes: sizes).map { Feature(channelsLast: $0, converter: converter) }
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

/// How a channels-last map is made from others: its channel parts in order, each held at its
/// own size and nearest-upsampled by `factor` (1: as it is).
struct Composition {
    struct Part {
        let feature: Feature
        let factor: Int
    }
    let parts: [Part]
}

/// A channels-last map's elements (made on first use for a composition) and, once asked for,
/// its NCHW copy (a forward pass is single-threaded above the kernels, so the caches need no lock).
final class ChannelsLastMap: @unchecked Sendable {
    let converter: LayoutConverter
    private var made: Tensor?
    private let make: (() -> Tensor)?
    private var cached: Tensor?

    init(data: Tensor, converter: LayoutConverter) {
        made = data
        make = nil
        self.converter = converter
    }

    init(converter: LayoutConverter, make: @escaping () -> Tensor) {
        made = nil
        self.make = make
        self.converter = converter
    }

    var data: Tensor {
        if let made { return made }
        let data = make!()
        made = data
        return data
    }

    var plain: Tensor {
        if let cached { return cached }
        let converted = converter.channelsFirst(data)
        cached = converted
        return converted
    }
}

/// The state of one walk through the blocks: the multiply-adds counted so far and, in an
/// inference plan, the convolution kernels chosen when the plan was prepared.
public final class Pass {
    /// Multiply-accumulates of the operations run (or shape-walked) so far.
    public var multiplyAdds: Double = 0
    let tape: KernelTape?
    let recording: Bool
    private var cursor = 0

    /// A plain walk: reference kernels when running, counting only when shape-walking.
    public init() {
        tape = nil
        recording = false
    }

    /// A plan's walk: records kernels while preparing (a shape-only walk), replays them when running.
    init(tape: KernelTape, recording: Bool) {
        self.tape = tape
        self.recording = recording
    }

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

    /// Whether fast kernels (and the plan's fused paths) are in use.
    var isPlanned: Bool { tape != nil }

    /// The next prepared kernel, in call order; nil outside a plan.
    func nextKernel() -> ConvolutionKernel? {
        guard let tape else { return nil }
        if recording { return nil }
        defer { cursor += 1 }
        return tape.kernel(at: cursor)
    }

    func record(_ kernel: ConvolutionKernel) {
        precondition(recording)
        tape?.append(kernel)
        tape?.scratch.reserve(kernel.scratchBytes)
    }
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
