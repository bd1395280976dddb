import Foundation
import Tensor

// Operations modules write once for every walk: on a traced feature they record the program's
// op; in a shape walk they give its output shape.

extension Feature {
    /// `x.view(shape)` (same elements, row-major).
    public func reshaped(_ newShape: [Int]) -> Feature {
        precondition(newShape.reduce(1, *) == shape.reduce(1, *), "view \(shape) as \(newShape)")
        return Feature.traced(.reshape(newShape), [self], shapes: [newShape])[0]
    }

    /// `x.permute(axes)`.
    public func permuted(_ axes: [Int]) -> Feature {
        Feature.traced(.transpose(axes), [self], shapes: [axes.map { shape[$0] }])[0]
    }

    /// `F.avg_pool2d(x, k, stride)` (no padding, floor mode).
    public func averagePooled(kernelSize: Int, stride: Int) -> Feature {
        let newShape = [shape[0], shape[1], (shape[2] - kernelSize) / stride + 1, (shape[3] - kernelSize) / stride + 1]
        return Feature.traced(.averagePool(kernelSize: kernelSize, stride: stride), [self], shapes: [newShape])[0]
    }

    /// `nn.AdaptiveAvgPool2d(1)` then `flatten(1)`: [B, C, H, W] → [B, C].
    public func globalAveragePooled() -> Feature {
        let newShape = Array(shape.prefix(2))
        return Feature.moduleCall(.adaptiveAveragePool, [self]) {
            Feature.traced(.globalAveragePool, [self], shapes: [newShape + [1, 1]])[0]
        }.reshaped(newShape)
    }

    /// `F.interpolate(x, scale_factor=factor, mode="nearest")` by a whole factor.
    public func nearestUpsampled(factor: Int) -> Feature {
        Feature.traced(.upsampleNearest(factor: factor), [self], shapes: [[shape[0], shape[1], shape[2] * factor, shape[3] * factor]])[0]
    }

    /// `F.interpolate` to `height`×`width` on the two last axes (`step`: PyTorch's source step
    /// per output pixel when a scale factor was given, else nil).
    public func resized(height: Int, width: Int, mode: ResizeMode, alignCorners: Bool = false,
                        stepHeight: Float? = nil, stepWidth: Float? = nil) -> Feature {
        Feature.traced(.resize(mode: mode, alignCorners: alignCorners, stepHeight: stepHeight, stepWidth: stepWidth), [self],
                       shapes: [[shape[0], shape[1], height, width]])[0]
    }

    /// `x.cos()`, `x.sin()`.
    public func cosine() -> Feature { Feature.traced(.cosine, [self], shapes: [shape])[0] }
    public func sine() -> Feature { Feature.traced(.sine, [self], shapes: [shape])[0] }

    /// Records `op` on traced features; in a shape walk, gives the output shapes.
    static func traced(_ op: ProgramOp, _ inputs: [Feature], shapes: [[Int]]) -> [Feature] {
        guard let recorder = inputs.lazy.compactMap(\.symbol).first?.recorder else { return shapes.map { Feature(shape: $0) } }
        precondition(inputs.allSatisfy { $0.symbol != nil }, "\(op.name) recorded on a feature that is not traced")
        return recorder.record(op, inputs.map { $0.symbol!.id }, outputs: shapes)
            .map { Feature(symbol: Symbol(recorder: recorder, id: $0.id), shape: $0.shape) }
    }

    func dropping(_ axis: Int) -> [Int] {
        var reduced = shape
        reduced.remove(at: axis)
        return reduced
    }

    /// `x.max(axis).values`.
    func reducedMax(axis: Int) -> Feature { Feature.traced(.reduceMax(axis: axis), [self], shapes: [dropping(axis)])[0] }
    /// `x.sum(axis)`.
    func reducedSum(axis: Int) -> Feature { Feature.traced(.reduceSum(axis: axis), [self], shapes: [dropping(axis)])[0] }
    /// `torch.topk(x, k, -1)`: values and int64 indices.
    func topK(_ k: Int) -> (values: Feature, indices: Feature) {
        let shape = Array(self.shape.dropLast()) + [k]
        let results = Feature.traced(.topK(k: k, axis: self.shape.count - 1), [self], shapes: [shape, shape])
        return (results[0], results[1])
    }
    /// `x[batch_ind, indices]` for indices [B, k].
    func gatheredRows(_ indices: Feature) -> Feature {
        Feature.traced(.gatherRows, [self, indices], shapes: [[shape[0], indices.shape[1]] + shape.dropFirst(2)])[0]
    }
    /// `F.grid_sample(x, grid, "bilinear", align_corners=False)`, zeros or border padding.
    func gridSampled(_ grid: Feature, border: Bool = false) -> Feature {
        Feature.traced(.gridSample(border: border), [self, grid], shapes: [[shape[0], shape[1], grid.shape[1], grid.shape[2]]])[0]
    }
    func clipped(minimum: Float? = nil, maximum: Float? = nil) -> Feature {
        Feature.traced(.clip(minimum: minimum, maximum: maximum), [self], shapes: [shape])[0]
    }
    func logarithm() -> Feature { Feature.traced(.log, [self], shapes: [shape])[0] }
    func integerDivided(by divisor: Int) -> Feature { Feature.traced(.integerDivide(divisor), [self], shapes: [shape])[0] }
    func remainder(dividingBy divisor: Int) -> Feature { Feature.traced(.remainder(divisor), [self], shapes: [shape])[0] }
    func toFloat() -> Feature { Feature.traced(.toFloat, [self], shapes: [shape])[0] }

    /// `F.unfold(x, k, dilation, padding)` kept as a map: [B, C, H, W] → [B, C, k², H', W'], tap
    /// (i, j) the window's row-major position; padding with zeros or mirrored (`reflect`).
    func unfoldedTaps(kernelSize k: Int, dilation: Int = 1, padding: Int, reflect: Bool = false) -> Feature {
        let padded = padding == 0 ? self : Feature.traced(.pad(left: padding, right: padding, top: padding, bottom: padding, reflect: reflect), [self],
                                                          shapes: [[shape[0], shape[1], shape[2] + 2 * padding, shape[3] + 2 * padding]])[0]
        let (height, width) = (padded.shape[2] - dilation * (k - 1), padded.shape[3] - dilation * (k - 1))
        var taps: [Feature] = []
        for i in 0..<k {
            let row = padded.sliced(axis: 2, (i * dilation)..<(i * dilation + height))
            for j in 0..<k {
                taps.append(row.sliced(axis: 3, (j * dilation)..<(j * dilation + width)).reshaped([shape[0], shape[1], 1, height, width]))
            }
        }
        return try! Feature.concatenate(taps, axis: 2)
    }

    /// `F.pixel_shuffle(x, r)`: [N, C·r², H, W] → [N, C, H·r, W·r].
    public func pixelShuffled(_ r: Int) -> Feature {
        let (batch, channels, height, width) = (shape[0], shape[1] / (r * r), shape[2], shape[3])
        return reshaped([batch, channels, r, r, height, width]).permuted([0, 1, 4, 2, 5, 3]).reshaped([batch, channels, height * r, width * r])
    }

    /// `F.pixel_unshuffle(x, r)`: [N, C, H·r, W·r] → [N, C·r², H, W].
    public func pixelUnshuffled(_ r: Int) -> Feature {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2] / r, shape[3] / r)
        return reshaped([batch, channels, height, r, width, r]).permuted([0, 1, 3, 5, 2, 4]).reshaped([batch, channels * r * r, height, width])
    }

    /// `x.softmax(axis)`.
    public func softmax(axis: Int) -> Feature { Feature.traced(.softmax(axis: axis), [self], shapes: [shape])[0] }

    /// `x[..., start:end, ...]` along `axis`.
    public func sliced(axis: Int, _ range: Range<Int>) -> Feature {
        var newShape = shape
        newShape[axis] = range.count
        return Feature.traced(.slice(axis: axis, start: range.lowerBound, end: range.upperBound, step: 1), [self], shapes: [newShape])[0]
    }

    /// A tensor computed from shapes alone (anchors, strides), as a feature of this walk: a
    /// program constant when tracing.
    public func constant(_ tensor: Tensor, name: String) -> Feature {
        guard let symbol else { return Feature(shape: tensor.shape) }
        return symbol.recorder.feature(.constant(tensor, name: name), [], shape: tensor.shape, path: name)
    }

    /// A parameter or buffer as a constant of this walk (viewed as `shape` when given): read
    /// only when tracing or computing, so a shape walk needs no loaded weights.
    func constant(_ parameter: Parameter, viewedAs shape: [Int]? = nil) -> Feature {
        constant(name: parameter.key ?? "constant", shape: shape ?? parameter.shape) {
            shape.map { parameter.tensor.reshaped($0) } ?? parameter.tensor
        }
    }

    /// Records `op` over this feature and `parameters` (constants named by their state_dict
    /// keys; an absent optional one is left out), under the owner's module path; in a shape walk,
    /// only the output `shape`.
    func applying(_ op: ProgramOp, _ parameters: [Parameter?], shape: [Int]) -> Feature {
        guard let recorder = symbol?.recorder else { return Feature(shape: shape) }
        let present = parameters.compactMap { $0 }
        return recorder.feature(op, [symbol!.id] + present.map { $0.constant(in: recorder) }, shape: shape, path: present.first?.ownerPath)
    }

    /// A constant computed from loaded weights (`make`, run only when tracing) of this walk.
    func constant(name: String, shape: [Int], _ make: () -> Tensor) -> Feature {
        guard let recorder = symbol?.recorder else { return Feature(shape: shape) }
        let id = recorder.constant(shape: shape, name: name) {
            let tensor = make()
            precondition(tensor.shape == shape, "constant \(name) promised \(shape), made \(tensor.shape)")
            return tensor
        }
        return Feature(symbol: Symbol(recorder: recorder, id: id), shape: shape)
    }

    /// A one-element constant of this walk (a scale, an offset), for broadcasting arithmetic.
    public func scalar(_ value: Float, name: String) -> Feature {
        constant(Tensor(shape: [1], storage: [value]), name: name)
    }

    /// Element-wise `a op b` with NumPy broadcasting.
    static func broadcasting(_ op: ProgramOp, _ a: Feature, _ b: Feature) -> Feature {
        let rank = max(a.shape.count, b.shape.count)
        let (left, right) = (Array(repeating: 1, count: rank - a.shape.count) + a.shape, Array(repeating: 1, count: rank - b.shape.count) + b.shape)
        let shape = zip(left, right).map { x, y in
            precondition(x == y || x == 1 || y == 1, "broadcasting \(a.shape) with \(b.shape)")
            return max(x, y)
        }
        return traced(op, [a, b], shapes: [shape])[0]
    }

    /// `torch.matmul(a, b)`: [..., M, K] · [..., K, N], leading axes broadcast.
    public func matmul(_ other: Feature) -> Feature {
        let (a, b) = (shape, other.shape)
        precondition(a.count >= 2 && b.count >= 2 && a[a.count - 1] == b[b.count - 2], "matmul \(a) × \(b)")
        let rank = max(a.count, b.count)
        let (left, right) = (Array(repeating: 1, count: rank - a.count) + a.dropLast(2), Array(repeating: 1, count: rank - b.count) + b.dropLast(2))
        let newShape = zip(left, right).map { max($0, $1) } + [a[a.count - 2], b[b.count - 1]]
        return Feature.traced(.matmul, [self, other], shapes: [newShape])[0]
    }

    public static func - (a: Feature, b: Feature) -> Feature { broadcasting(.subtract, a, b) }
    public static func * (a: Feature, b: Feature) -> Feature { broadcasting(.multiply, a, b) }
    public static func / (a: Feature, b: Feature) -> Feature { broadcasting(.divide, a, b) }
    /// `a + b` with broadcasting (`adding` is the same-shape residual sum planned kernels fuse).
    public func plus(_ b: Feature) -> Feature { Feature.broadcasting(.add, self, b) }
}

extension Feature {
    /// What `body` computes, recorded as one composite operation `name` over `inputs` in a
    /// trace (see `Composite`); outside a trace, just `body`'s results.
    static func composite(_ name: String, attributes: [String: [Int]], inputs: [Feature], _ body: () -> [Feature]) -> [Feature] {
        guard let recorder = inputs.lazy.compactMap(\.symbol).first?.recorder else { return body() }
        return recorder.composite(name, attributes: attributes, inputs: inputs, body)
    }

    /// `body` — a torch.nn module's forward over `inputs` — recorded as one call thop counts by
    /// `kind`'s rule (`Program.moduleCalls`).
    static func moduleCall(_ kind: ModuleCall.Kind, _ inputs: [Feature], _ body: () -> Feature) -> Feature {
        guard let recorder = inputs.lazy.compactMap(\.symbol).first?.recorder else { return body() }
        return recorder.moduleCall(kind, inputShapes: inputs.map(\.shape), body, outputShapes: { [$0.shape] })
    }

    /// Records what `body` records as work PyTorch's eval forward does and inference leaves out
    /// (`ProgramOrigin.countedOnly`), in the graph builder's counting walk only; elsewhere runs nothing.
    func countedOnly(_ body: () throws -> Void) rethrows {
        try symbol?.recorder.countedOnly(body)
    }
}

extension Feature {
    /// `F.normalize(x, dim=axis)`: x divided by its L2 norm along `axis`, clamped below at 1e-12.
    func l2Normalized(axis: Int) -> Feature {
        var kept = shape
        kept[axis] = 1
        let squares = Feature.traced(.multiply, [self, self], shapes: [shape])[0]
        let norm = Feature.traced(.squareRoot, [squares.reducedSum(axis: axis).reshaped(kept)], shapes: [kept])[0].clipped(minimum: 1e-12)
        return self / norm
    }

    /// `nn.AdaptiveMaxPool2d((height, width))`: the largest value of each of PyTorch's bins
    /// (rows ⌊i·H/h⌋ ..< ⌈(i+1)·H/h⌉, likewise columns), one composite over slices and maxima.
    func adaptiveMaxPooled(height: Int, width: Int) -> Feature {
        let (batch, channels) = (shape[0], shape[1])
        func bins(_ count: Int, _ size: Int) -> [Range<Int>] {
            (0..<count).map { ($0 * size) / count..<(($0 + 1) * size + count - 1) / count }
        }
        return Feature.composite("adaptive_max_pool", attributes: ["output_size": [height, width]], inputs: [self]) {
            var cells: [Feature] = []
            for rows in bins(height, shape[2]) {
                for columns in bins(width, shape[3]) {
                    cells.append(sliced(axis: 2, rows).sliced(axis: 3, columns).reducedMax(axis: 3).reducedMax(axis: 2).reshaped([batch, channels, 1]))
                }
            }
            return [(try! Feature.concatenate(cells, axis: 2)).reshaped([batch, channels, height, width])]
        }[0]
    }
}
