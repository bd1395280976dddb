import Tensor

/// What flows between blocks: a program value while tracing (the graph builder's walk traces
/// too, over placeholder weights), or only its shape. Every block has one forward over features,
/// which records the program; shapes, both GFLOPs figures and memory are passes over it, and
/// computing is the program's (its reference kernels, or the planner's). Layouts and kernels are
/// the planner's (`PlannedProgram`), not the modules'.
public struct Feature: Sendable {
    public let shape: [Int]
    /// In a traced walk, the program value this feature stands for.
    let symbol: Symbol?

    public init(shape: [Int]) {
        self.shape = shape
        symbol = nil
    }

    /// A symbolic feature of a traced walk: the program value `symbol` of this shape.
    init(symbol: Symbol, shape: [Int]) {
        self.shape = shape
        self.symbol = symbol
    }

    /// Element-wise activation.
    public func activated(_ activation: Activation) -> Feature {
        activation == .identity ? self : Feature.traced(.activation(activation), [self], shapes: [shape])[0]
    }

    /// Element-wise sum of two features of one shape (residual connections).
    public static func + (a: Feature, b: Feature) -> Feature {
        a.adding(b)
    }

    /// `activation(self + other)` (a residual block's `relu(y + x)`).
    public func adding(_ other: Feature, activation: Activation = .identity) -> Feature {
        guard shape == other.shape else { return plus(other).activated(activation) }  // broadcasting
        return Feature.traced(.add, [self, other], shapes: [shape])[0].activated(activation)
    }

    /// `F.pad(x, [left, right, top, bottom])`: zero columns and rows around a map.
    public func zeroPadded(left: Int = 0, right: Int, top: Int = 0, bottom: Int) -> Feature {
        let newShape = [shape[0], shape[1], top + shape[2] + bottom, left + shape[3] + right]
        return Feature.traced(.pad(left: left, right: right, top: top, bottom: bottom, reflect: false), [self], shapes: [newShape])[0]
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
        return traced(.concatenate(axis: axis), features, shapes: [shape])[0]
    }

    /// `x.split(sizes, axis)` / `x.chunk(n, axis)`.
    public func split(axis: Int = 1, sizes: [Int]) -> [Feature] {
        let shapes = sizes.map { size -> [Int] in
            var part = shape
            part[axis] = size
            return part
        }
        return Feature.traced(.split(axis: axis, sizes: sizes), [self], shapes: shapes)
    }
}

/// The state of one walk through the blocks: for an open-vocabulary model, the class text
/// embeddings the modules read.
public final class Pass {
    public init() {}

    /// Open-vocabulary models (YOLO-World): the class text embeddings [B, classes, 512] as the
    /// model was given them (WorldDetect reads these) and as ImagePoolingAttn last updated them
    /// (C2fAttn reads these), as Ultralytics' `WorldModel.predict` threads `txt_feats`. Nil in a
    /// shape walk, where the modules take the shape the graph was built for.
    var text: Feature?
    var guide: Feature?
}
