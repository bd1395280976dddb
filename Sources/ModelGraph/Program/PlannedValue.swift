import Tensor

/// A value of a planned program's run: an NCHW tensor, a channels-last map (its NHWC elements,
/// as oneDNN's and the Winograd kernels leave them; the NCHW copy made once, on first use), or a
/// composition of channels-last parts (an upsampled concatenation a 1×1 kernel reads part by
/// part). In the planning walk it holds only its shape and layout, so kernels are chosen for the
/// layouts they will get. The layouts are the planner's business alone: modules never see them.
struct PlannedValue {
    let shape: [Int]
    /// Whether the map is held channels-last (NHWC).
    let isChannelsLast: Bool
    private let plain: Tensor?
    private let channelsLastMap: ChannelsLastMap?
    /// How a channels-last map is made from others, for kernels that read the parts as they are
    /// (nil for a map held as such); its elements are made on first use.
    let composition: Composition?

    /// A planning walk's value: its shape and the layout it will be held in.
    init(shape: [Int], channelsLast: Bool = false, composition: Composition? = nil) {
        self.shape = shape
        isChannelsLast = channelsLast
        plain = nil
        channelsLastMap = nil
        self.composition = composition
    }

    init(_ tensor: Tensor) {
        shape = tensor.shape
        isChannelsLast = false
        plain = tensor
        channelsLastMap = nil
        composition = nil
    }

    /// A map given as its NHWC elements [N, H, W, C]; `shape` stays NCHW.
    init(channelsLast data: Tensor, converter: LayoutConverter) {
        precondition(data.rank == 4)
        shape = ChannelsLast.plainShape(of: data.shape)
        isChannelsLast = true
        plain = nil
        channelsLastMap = ChannelsLastMap(data: data, converter: converter)
        composition = nil
    }

    /// A channels-last map made from others by `composition`, its elements by `make` when first
    /// asked for (a kernel that reads the parts never asks).
    private init(shape: [Int], composition: Composition, converter: LayoutConverter, make: @escaping () -> Tensor) {
        self.shape = shape
        isChannelsLast = true
        plain = nil
        channelsLastMap = ChannelsLastMap(converter: converter, make: make)
        self.composition = composition
    }

    /// The NCHW tensor (nil in the planning walk); a channels-last map is converted once, on
    /// first use, and kept.
    var tensor: Tensor? { plain ?? channelsLastMap?.plain }

    /// Whether the value holds elements (false in the planning walk), without converting.
    var hasData: Bool { plain != nil || channelsLastMap != nil }

    /// The NHWC elements [N, H, W, C] of a channels-last map.
    var channelsLastData: Tensor? { channelsLastMap?.data }
    var converter: LayoutConverter? { channelsLastMap?.converter }

    /// The NHWC elements, converting an NCHW map with `converter` (nil in the planning walk).
    func channelsLastData(converting converter: LayoutConverter) -> Tensor? {
        channelsLastData ?? tensor.map(converter.channelsLast)
    }

    /// An operation that works in either layout (max pooling, padding): `plain` on the NCHW
    /// tensor, `channelsLast` on the NHWC elements of a channels-last map, which stays one.
    func map(shape: [Int], plain: (Tensor) -> Tensor, channelsLast: (Tensor) -> Tensor) -> PlannedValue {
        guard isChannelsLast else {
            guard let tensor else { return PlannedValue(shape: shape) }
            return PlannedValue(plain(tensor))
        }
        guard let data = channelsLastData, let converter else { return PlannedValue(shape: shape, channelsLast: true) }
        let result = channelsLast(data)
        precondition(result.shape == ChannelsLast.shape(ofPlain: shape), "an operation promised \(shape), produced NHWC \(result.shape)")
        return PlannedValue(channelsLast: result, converter: converter)
    }

    /// Element-wise, so in whichever layout the map is held.
    func activated(_ activation: Activation) -> PlannedValue {
        activation == .identity ? self : map(shape: shape, plain: { $0.activated(activation) }, channelsLast: { $0.activated(activation) })
    }

    /// The sum of two values of one shape: on NHWC elements when either is channels-last (the
    /// other is converted, and the result stays channels-last, as the convolutions after it read
    /// best; no NCHW copy is kept), else on NCHW.
    func adding(_ other: PlannedValue) -> PlannedValue {
        precondition(shape == other.shape, "adding \(other.shape) to \(shape)")
        if isChannelsLast || other.isChannelsLast {
            guard let converter = converter ?? other.converter, hasData, other.hasData else { return PlannedValue(shape: shape, channelsLast: true) }
            let (x, y) = (channelsLastData(converting: converter)!, other.channelsLastData(converting: converter)!)
            return PlannedValue(channelsLast: x.adding(y), converter: converter)
        }
        guard let x = tensor, let y = other.tensor else { return PlannedValue(shape: shape) }
        return PlannedValue(x.adding(y))
    }

    /// An element-wise `op` (add, subtract, multiply, divide) with NumPy broadcasting where one
    /// operand is a channels-last map of the output's shape: on NHWC elements, the other operand
    /// turned to NHWC order (a map of the same shape converted; a per-channel, per-pixel or
    /// scalar operand permuted, which is a reshape for most), the result channels-last. Nil
    /// when no operand is such a map (the NCHW path runs).
    static func broadcasting(_ op: ProgramOp, _ a: PlannedValue, _ b: PlannedValue, outputShape: [Int]) -> PlannedValue? {
        guard outputShape.count == 4, [a, b].contains(where: { $0.isChannelsLast && $0.shape == outputShape }) else { return nil }
        guard a.hasData, b.hasData, let converter = a.converter ?? b.converter else { return PlannedValue(shape: outputShape, channelsLast: true) }
        func channelsLast(_ value: PlannedValue) -> Tensor {
            if let data = value.channelsLastData { return data }
            let plain = value.tensor!
            if plain.shape == outputShape { return converter.channelsLast(plain) }
            let full = [Int](repeating: 1, count: 4 - plain.rank) + plain.shape
            return plain.reshaped(full).permuted([0, 2, 3, 1])
        }
        let (x, y) = (channelsLast(a), channelsLast(b))
        let result: Tensor
        switch op {
        case .add: result = x.shape == y.shape ? x.adding(y) : x + y
        case .subtract: result = x - y
        case .multiply: result = x * y
        case .divide: result = x / y
        default: preconditionFailure("\(op.name) is no element-wise binary operation")
        }
        return PlannedValue(channelsLast: result, converter: converter)
    }

    /// `F.pad(x, [left, right, top, bottom])` with zeros, in the map's layout.
    func zeroPadded(left: Int, right: Int, top: Int, bottom: Int) -> PlannedValue {
        map(shape: [shape[0], shape[1], top + shape[2] + bottom, left + shape[3] + right],
            plain: { $0.zeroPadded(left: left, right: right, top: top, bottom: bottom) },
            channelsLast: { $0.zeroPaddedChannelsLast(left: left, right: right, top: top, bottom: bottom) })
    }

    /// Concatenation along the channels of NCHW maps (`values` agree off that axis: the trace
    /// checked them). Channels-last parts keep the result channels-last; upsampled parts stay a
    /// composition for a 1×1 kernel to read as they are.
    static func concatenatingChannels(_ values: [PlannedValue]) -> PlannedValue {
        var shape = values[0].shape
        shape[1] = values.reduce(0) { $0 + $1.shape[1] }
        if values.allSatisfy(\.isChannelsLast), values.contains(where: { $0.composition?.parts.contains { $0.factor > 1 } ?? false }) {
            let composition = Composition(parts: values.flatMap { $0.composition?.parts ?? [.init(value: $0, factor: 1)] })
            guard let converter = values.lazy.compactMap(\.converter).first else { return PlannedValue(shape: shape, channelsLast: true, composition: composition) }
            return PlannedValue(shape: shape, composition: composition, converter: converter) {
                Tensor.concatenate(values.map { $0.channelsLastData! }, axis: 3)
            }
        }
        if values.contains(where: \.isChannelsLast) {
            // channels are NHWC's last axis; NCHW parts are converted (they are the fewer: the
            // image, 1×1 GEMM outputs)
            guard let converter = values.lazy.compactMap(\.converter).first else { return PlannedValue(shape: shape, channelsLast: true) }
            let data = values.compactMap { $0.channelsLastData(converting: converter) }
            guard data.count == values.count else { return PlannedValue(shape: shape, channelsLast: true) }
            return PlannedValue(channelsLast: Tensor.concatenate(data, axis: 3), converter: converter)
        }
        let tensors = values.compactMap(\.tensor)
        guard tensors.count == values.count else { return PlannedValue(shape: shape) }
        return PlannedValue(Tensor.concatenate(tensors, axis: 1))
    }

    /// Nearest upsampling of a channels-last map by a whole factor, left as a composition: a
    /// planned 1×1 convolution of a concatenation holding it takes its product at this size
    /// (`PartwisePointwiseConvolution`); anything else makes the elements on first use.
    func upsampledNearest(by factor: Int, making make: @escaping (Tensor) -> Tensor) -> PlannedValue {
        precondition(isChannelsLast && shape.count == 4)
        let shape = [shape[0], shape[1], shape[2] * factor, shape[3] * factor]
        let composition = Composition(parts: [.init(value: self, factor: factor)])
        guard hasData, let converter else { return PlannedValue(shape: shape, channelsLast: true, composition: composition) }
        return PlannedValue(shape: shape, composition: composition, converter: converter) { make(self.channelsLastData!) }
    }

    /// `x.split(sizes, 1)` of an NCHW map, in its layout.
    func splittingChannels(_ sizes: [Int]) -> [PlannedValue] {
        if isChannelsLast {
            guard let data = channelsLastData, let converter else {
                return sizes.map { PlannedValue(shape: [shape[0], $0, shape[2], shape[3]], channelsLast: true) }
            }
            return data.split(axis: 3, sizes: sizes).map { PlannedValue(channelsLast: $0, converter: converter) }
        }
        guard let tensor else { return sizes.map { PlannedValue(shape: [shape[0], $0, shape[2], shape[3]]) } }
        return tensor.split(axis: 1, sizes: sizes).map(PlannedValue.init)
    }
}

/// How a channels-last map is made from others: its channel parts in order, each held at its
/// own size and nearest-upsampled by `factor` (1: as it is).
struct Composition {
    struct Part {
        let value: PlannedValue
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
