#if canImport(Glibc)
import Glibc
#endif

/// Activations PyTorch modules apply element-wise.
public enum Activation: Sendable, Hashable {
    case identity, relu, relu6, silu, gelu, sigmoid, tanh

    @inline(__always)
    public func apply(_ x: Float) -> Float {
        switch self {
        case .identity: return x
        case .relu: return x > 0 ? x : 0
        case .relu6: return min(max(x, 0), 6)
        case .silu: return x / (1 + FastMath.exp(-x))
        case .gelu: return 0.5 * x * (1 + erff(x * 0.70710678118654752))  // nn.GELU(): the erf form
        case .sigmoid: return 1 / (1 + FastMath.exp(-x))
        case .tanh: return tanhf(x)
        }
    }

    /// In place over a contiguous run: one loop per activation, so each one vectorises
    /// (a switch per element keeps the loop scalar — 5× slower for SiLU).
    @inline(__always)
    public func apply(_ p: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .identity: return
        case .relu: for i in 0..<count { p[i] = Activation.relu.apply(p[i]) }
        case .relu6: for i in 0..<count { p[i] = Activation.relu6.apply(p[i]) }
        case .silu: for i in 0..<count { p[i] = Activation.silu.apply(p[i]) }
        case .gelu: for i in 0..<count { p[i] = Activation.gelu.apply(p[i]) }
        case .sigmoid: for i in 0..<count { p[i] = Activation.sigmoid.apply(p[i]) }
        case .tanh: for i in 0..<count { p[i] = Activation.tanh.apply(p[i]) }
        }
    }
}

extension Tensor {
    /// Applies `f` to every element, in parallel for large tensors. Inlined, so `f` is
    /// specialised into the loop at each call site.
    @inline(__always)
    public func map(_ f: (Float) -> Float) -> Tensor {
        transformedCopy(rowWidth: 1, minimumRowsPerChunk: 32768) { base, range in
            for i in range { base[i] = f(base[i]) }
        }
    }

    /// A transformed copy: the elements go into a fresh tensor in parallel, a chunk of rows of
    /// `rowWidth` at a time, and `body(base, rows)` then works on each chunk in place while it
    /// is in cache. (`var out = self` and an in-place pass would first copy the whole tensor on
    /// one thread: copy-on-write, since the caller still holds `self` — 1 ms for the RT-DETR
    /// encoder's 8400×256 LayerNorm.)
    @inline(__always)
    func transformedCopy(rowWidth: Int, minimumRowsPerChunk: Int, _ body: (UnsafeMutablePointer<Float>, Range<Int>) -> Void) -> Tensor {
        let rows = count / max(rowWidth, 1)
        return Tensor(shape: shape) { out in
            storage.withUnsafeBufferPointer { x in
                guard let source = x.baseAddress, let target = out.baseAddress else { return }
                Threads.parallelRanges(rows, minimumPerChunk: minimumRowsPerChunk) { range in
                    (target + range.lowerBound * rowWidth).update(from: source + range.lowerBound * rowWidth, count: range.count * rowWidth)
                    body(target, range)
                }
            }
        }
    }

    public func activated(_ activation: Activation) -> Tensor {
        if activation == .identity { return self }
        return transformedCopy(rowWidth: 1, minimumRowsPerChunk: 32768) { base, range in
            activation.apply(base + range.lowerBound, count: range.count)
        }
    }

    /// In place on NCHW planes: plane p gets `bias[p % channels]` added (when given), then the
    /// activation — a convolution's epilogue, one pass per plane.
    mutating func addChannelBias(_ bias: Tensor?, activation: Activation) {
        guard bias != nil || activation != .identity else { return }
        let (planes, channels) = (shape[0] * shape[1], shape[1])
        let positions = count / max(planes, 1)
        let biases = bias?.storage ?? [Float](repeating: 0, count: channels)
        storage.withUnsafeMutableBufferPointer { x in
            biases.withUnsafeBufferPointer { b in
                let (base, values) = (x.baseAddress!, b.baseAddress!)
                Threads.parallelFor(planes) { plane in
                    let row = base + plane * positions, shift = values[plane % channels]
                    for i in 0..<positions { row[i] += shift }
                    activation.apply(row, count: positions)
                }
            }
        }
    }

    public func sigmoid() -> Tensor { activated(.sigmoid) }

    /// The element-wise `op` of two tensors under NumPy broadcasting (shapes aligned from the
    /// right). Runs row by row over the output's last axis, rows in parallel.
    public static func broadcast(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
        withoutActuallyEscaping(op) { broadcast(a, b, ClosureOperation($0)) }
    }

    /// The broadcast with the operation a type, so the loops are specialised for it: a closure
    /// captured by the parallel rows is called per element (a broadcast multiply ran 16× slower
    /// than an addition of two maps).
    @inline(__always)
    static func broadcast<Operation: ElementOperation>(_ a: Tensor, _ b: Tensor, _ operation: Operation) -> Tensor {
        let fullRank = max(a.rank, b.rank, 1)
        let paddedA = [Int](repeating: 1, count: fullRank - a.rank) + a.shape
        let paddedB = [Int](repeating: 1, count: fullRank - b.rank) + b.shape
        var fullShape = [Int](repeating: 1, count: fullRank)
        for axis in 0..<fullRank {
            precondition(paddedA[axis] == paddedB[axis] || paddedA[axis] == 1 || paddedB[axis] == 1,
                         "cannot broadcast \(a.shape) with \(b.shape)")
            fullShape[axis] = max(paddedA[axis], paddedB[axis])
        }
        // neighbouring axes each operand either spans both of or repeats along both are one axis
        // ([N, H, W, C] with [1, 1, 1, C]: [N·H·W, C] with [1, C]), so rows are as long as they
        // can be and a row's offsets cost one division per remaining axis
        var shapeA: [Int] = [], shapeB: [Int] = [], outShape: [Int] = []
        for axis in 0..<fullRank {
            let (x, y, size) = (paddedA[axis], paddedB[axis], fullShape[axis])
            if let last = outShape.indices.last,
               (x == size && shapeA[last] == outShape[last]) || (x == 1 && shapeA[last] == 1),
               (y == size && shapeB[last] == outShape[last]) || (y == 1 && shapeB[last] == 1) {
                shapeA[last] *= x
                shapeB[last] *= y
                outShape[last] *= size
            } else {
                shapeA.append(x)
                shapeB.append(y)
                outShape.append(size)
            }
        }
        let rank = outShape.count
        func broadcastStrides(_ shape: [Int]) -> [Int] {
            zip(Tensor.strides(of: shape), shape).map { stride, size in size == 1 ? 0 : stride }
        }
        let stridesA = broadcastStrides(shapeA), stridesB = broadcastStrides(shapeB)
        let width = outShape[rank - 1]
        let rows = Tensor.count(of: outShape) / max(width, 1)
        let innerA = stridesA[rank - 1], innerB = stridesB[rank - 1]
        let outerShape = Array(outShape.dropLast())
        let resultShape = a.shape == b.shape ? a.shape : (a.rank == 0 && b.rank == 0 ? [] : fullShape)
        if rank == 1 {
            // one run (equal shapes, or a scalar with a tensor): chunks of it in parallel
            return Tensor(shape: resultShape) { out in
                a.storage.withUnsafeBufferPointer { x in
                    b.storage.withUnsafeBufferPointer { y in
                        guard let target = out.baseAddress, let pa = x.baseAddress, let pb = y.baseAddress else { return }
                        Threads.parallelRanges(width, minimumPerChunk: 32768) { range in
                            switch (innerA, innerB) {
                            case (1, 1): for i in range { target[i] = operation.apply(pa[i], pb[i]) }
                            case (1, 0): let v = pb[0]; for i in range { target[i] = operation.apply(pa[i], v) }
                            case (0, 1): let v = pa[0]; for i in range { target[i] = operation.apply(v, pb[i]) }
                            default: let v = operation.apply(pa[0], pb[0]); for i in range { target[i] = v }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: resultShape) { out in
            a.storage.withUnsafeBufferPointer { x in
                b.storage.withUnsafeBufferPointer { y in
                    let destination = out.baseAddress, left = x.baseAddress, right = y.baseAddress
                    Threads.parallelRanges(rows, minimumPerChunk: max(1, 16384 / max(width, 1))) { range in
                        for row in range {
                            // the row's offsets in a and b from its index over the outer axes
                            var remainder = row, offsetA = 0, offsetB = 0
                            for axis in stride(from: outerShape.count - 1, through: 0, by: -1) {
                                let index = remainder % outerShape[axis]
                                remainder /= outerShape[axis]
                                offsetA += index * stridesA[axis]
                                offsetB += index * stridesB[axis]
                            }
                            let target = destination! + row * width
                            let pa = left! + offsetA, pb = right! + offsetB
                            switch (innerA, innerB) {
                            case (1, 1): for i in 0..<width { target[i] = operation.apply(pa[i], pb[i]) }
                            case (1, 0): let v = pb[0]; for i in 0..<width { target[i] = operation.apply(pa[i], v) }
                            case (0, 1): let v = pa[0]; for i in 0..<width { target[i] = operation.apply(v, pb[i]) }
                            default: let v = operation.apply(pa[0], pb[0]); for i in 0..<width { target[i] = v }
                            }
                        }
                    }
                }
            }
        }
    }

    public static func + (a: Tensor, b: Tensor) -> Tensor {
        // same shapes (residual connections): one flat loop the compiler vectorises; the
        // broadcasting path calls its operation per element from inside the parallel closure
        guard a.shape == b.shape else { return broadcast(a, b, Addition()) }
        return a.adding(b)
    }

    /// `activation(self + other)` for two tensors of one shape, in one pass: each chunk is
    /// summed, then activated while in cache (a residual block's `relu(y + x)` without the
    /// separate sum it would otherwise keep alive).
    public func adding(_ other: Tensor, activation: Activation = .identity) -> Tensor {
        precondition(shape == other.shape, "adding \(other.shape) to \(shape)")
        return Tensor(shape: shape) { out in
            storage.withUnsafeBufferPointer { x in
                other.storage.withUnsafeBufferPointer { y in
                    guard let left = x.baseAddress, let right = y.baseAddress, let sum = out.baseAddress else { return }
                    Threads.parallelRanges(out.count, minimumPerChunk: 32768) { range in
                        for i in range { sum[i] = left[i] + right[i] }
                        activation.apply(sum + range.lowerBound, count: range.count)
                    }
                }
            }
        }
    }
    public static func - (a: Tensor, b: Tensor) -> Tensor { broadcast(a, b, Subtraction()) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { broadcast(a, b, Multiplication()) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { broadcast(a, b, Division()) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.map { $0 * s } }
    public static func + (a: Tensor, s: Float) -> Tensor { a.map { $0 + s } }

    /// `nn.BatchNorm2d` in eval mode: per channel (x − mean) / √(var + eps) · weight + bias.
    public func batchNorm(weight: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, epsilon: Float = 1e-5,
                          activation: Activation = .identity) -> Tensor {
        let (scale, shift) = Tensor.batchNormCoefficients(weight: weight, bias: bias, mean: mean, variance: variance, epsilon: epsilon)
        return scaledPerChannel(scale: scale, shift: shift, activation: activation)
    }

    /// Eval-mode BatchNorm as a per-channel affine map: scale = weight / √(var + eps),
    /// shift = bias − mean · scale.
    public static func batchNormCoefficients(weight: Tensor, bias: Tensor, mean: Tensor, variance: Tensor,
                                             epsilon: Float) -> (scale: [Float], shift: [Float]) {
        let scale = zip(weight.storage, variance.storage).map { $0 / ($1 + epsilon).squareRoot() }
        return (scale, scale.indices.map { bias.storage[$0] - mean.storage[$0] * scale[$0] })
    }

    /// The BatchNorm of a channels-last map's NHWC elements [N, H, W, C] (the channels its last
    /// axis), with the NCHW form's per-channel scale and shift.
    public func batchNormChannelsLast(weight: Tensor, bias: Tensor, mean: Tensor, variance: Tensor, epsilon: Float = 1e-5) -> Tensor {
        let channels = shape[rank - 1]
        let (scale, shift) = Tensor.batchNormCoefficients(weight: weight, bias: bias, mean: mean, variance: variance, epsilon: epsilon)
        return scale.withUnsafeBufferPointer { scales in
            shift.withUnsafeBufferPointer { shifts in
                let (scaleOf, shiftOf) = (scales.baseAddress!, shifts.baseAddress!)
                return transformedCopy(rowWidth: channels, minimumRowsPerChunk: max(1, 16384 / max(channels, 1))) { base, range in
                    for row in range {
                        let start = base + row * channels
                        for c in 0..<channels { start[c] = start[c] * scaleOf[c] + shiftOf[c] }
                    }
                }
            }
        }
    }

    /// x · scale[c] + shift[c] per channel of an NCHW tensor, then an activation.
    public func scaledPerChannel(scale: [Float], shift: [Float], activation: Activation = .identity) -> Tensor {
        let (batch, channels) = (shape[0], shape[1])
        let plane = count / max(batch * channels, 1)
        return scale.withUnsafeBufferPointer { scales in
            shift.withUnsafeBufferPointer { shifts in
                let (scaleOf, shiftOf) = (scales.baseAddress!, shifts.baseAddress!)
                return transformedCopy(rowWidth: plane, minimumRowsPerChunk: 1) { base, range in
                    for index in range {
                        let c = index % channels
                        let s = scaleOf[c], t = shiftOf[c]
                        let start = base + index * plane
                        for i in 0..<plane { start[i] = start[i] * s + t }
                        activation.apply(start, count: plane)
                    }
                }
            }
        }
    }

    /// `nn.LayerNorm` over the last axis.
    public func layerNorm(weight: Tensor, bias: Tensor, epsilon: Float = 1e-5) -> Tensor {
        let width = shape[rank - 1]
        return Tensor.withLayerNormRows(weight: weight, bias: bias, epsilon: epsilon) { normalize in
            transformedCopy(rowWidth: width, minimumRowsPerChunk: max(1, 8192 / max(width, 1)), normalize)
        }
    }

    /// Runs `body` with the row kernel of a LayerNorm: (base, rows) normalises those rows of
    /// `weight.count` values each, in place.
    private static func withLayerNormRows<Result>(weight: Tensor, bias: Tensor, epsilon: Float,
                                                 _ body: ((UnsafeMutablePointer<Float>, Range<Int>) -> Void) -> Result) -> Result {
        let width = weight.count
        return weight.storage.withUnsafeBufferPointer { weights in
            bias.storage.withUnsafeBufferPointer { biases in
                // raw pointers in the workers: Array accesses there retain and release the
                // shared buffer, and the two cores then fight over its reference count
                let (scale, shift) = (weights.baseAddress!, biases.baseAddress!)
                return body { x, range in
                    for row in range {
                        let start = x + row * width
                        let mean = FastMath.sum(start, count: width) / Float(width)
                        let variance = FastMath.sumOfSquaredDeviations(start, count: width, from: mean) / Float(width)
                        let inverse = 1 / (variance + epsilon).squareRoot()
                        for i in 0..<width { start[i] = (start[i] - mean) * inverse * scale[i] + shift[i] }
                    }
                }
            }
        }
    }

    /// `nn.GroupNorm(groups, C)` on an NCHW tensor.
    public func groupNorm(groups: Int, weight: Tensor, bias: Tensor, epsilon: Float = 1e-5) -> Tensor {
        let (batch, channels) = (shape[0], shape[1])
        let plane = count / max(batch * channels, 1)
        let perGroup = channels / groups
        var out = self
        out.storage.withUnsafeMutableBufferPointer { x in
            for n in 0..<batch {
                for group in 0..<groups {
                    let start = (n * channels + group * perGroup) * plane
                    let size = perGroup * plane
                    var mean: Double = 0
                    for i in 0..<size { mean += Double(x[start + i]) }
                    mean /= Double(size)
                    var variance: Double = 0
                    for i in 0..<size { let d = Double(x[start + i]) - mean; variance += d * d }
                    variance /= Double(size)
                    let inverse = Float(1 / (variance + Double(epsilon)).squareRoot())
                    for c in 0..<perGroup {
                        let channel = group * perGroup + c
                        let w = weight.storage[channel], b = bias.storage[channel]
                        let base = start + c * plane
                        for i in 0..<plane { x[base + i] = (x[base + i] - Float(mean)) * inverse * w + b }
                    }
                }
            }
        }
        return out
    }

    /// Softmax along `axis` (max-subtracted, as PyTorch).
    public func softmax(axis: Int) -> Tensor {
        let (outer, size, inner) = around(axis: axis)
        if inner == 1 {
            return transformedCopy(rowWidth: size, minimumRowsPerChunk: 4096 / max(size, 1) + 1) { base, range in
                for row in range { FastMath.softmax(base + row * size, count: size) }
            }
        }
        var out = self
        out.storage.withUnsafeMutableBufferPointer { x in
            let base = x.baseAddress
            Threads.parallelRanges(outer * inner, minimumPerChunk: 4096 / max(size, 1) + 1) { range in
                for index in range {
                    let o = index / inner, i = index % inner
                    let start = base! + o * size * inner + i
                    var largest = -Float.infinity
                    for j in 0..<size { largest = max(largest, start[j * inner]) }
                    var sum: Float = 0
                    for j in 0..<size {
                        let e = expf(start[j * inner] - largest)
                        start[j * inner] = e
                        sum += e
                    }
                    let inverse = 1 / sum
                    for j in 0..<size { start[j * inner] *= inverse }
                }
            }
        }
        return out
    }

    /// Sum over `axis`, which is removed from the shape.
    public func sum(axis: Int) -> Tensor {
        let (outer, size, inner) = around(axis: axis)
        var newShape = shape
        newShape.remove(at: axis)
        return Tensor(shape: newShape) { out in
            storage.withUnsafeBufferPointer { x in
                let source = x.baseAddress, destination = out.baseAddress
                Threads.parallelFor(outer) { o in
                    let target = destination! + o * inner
                    for i in 0..<inner { target[i] = 0 }
                    for j in 0..<size {
                        let row = source! + (o * size + j) * inner
                        for i in 0..<inner { target[i] += row[i] }
                    }
                }
            }
        }
    }
}

/// A binary element-wise operation as a type, for loops specialised to it.
protocol ElementOperation {
    func apply(_ a: Float, _ b: Float) -> Float
}
struct Addition: ElementOperation { @inline(__always) func apply(_ a: Float, _ b: Float) -> Float { a + b } }
struct Subtraction: ElementOperation { @inline(__always) func apply(_ a: Float, _ b: Float) -> Float { a - b } }
struct Multiplication: ElementOperation { @inline(__always) func apply(_ a: Float, _ b: Float) -> Float { a * b } }
struct Division: ElementOperation { @inline(__always) func apply(_ a: Float, _ b: Float) -> Float { a / b } }
/// How a reduction runs (`Tensor.reduced`): its running value, each element folded in, the result.
protocol Reduction {
    associatedtype Running
    var initial: Running { get }
    func combine(_ running: Running, _ x: Float) -> Running
    func result(_ running: Running) -> Float
    /// The reduction of `count` contiguous elements.
    func reduceRow(_ row: UnsafePointer<Float>, count: Int) -> Float
}
extension Reduction {
    @inline(__always) func reduceRow(_ row: UnsafePointer<Float>, count: Int) -> Float {
        var value = initial
        for a in 0..<count { value = combine(value, row[a]) }
        return result(value)
    }
}
struct MaximumReduction: Reduction {
    var initial: Float { -.infinity }
    @inline(__always) func combine(_ running: Float, _ x: Float) -> Float { max(running, x) }
    @inline(__always) func result(_ running: Float) -> Float { running }
}
/// Sums in double precision, rounded to float32 once at the end.
struct DoubleSum: Reduction {
    var initial: Double { 0 }
    @inline(__always) func combine(_ running: Double, _ x: Float) -> Double { running + Double(x) }
    @inline(__always) func result(_ running: Double) -> Float { Float(running) }
    /// Sixteen running sums in double, not one: a single chain waits on each addition's latency
    /// (a mean over a 160×160 map's 16 channels: 1.1 ms against 0.1).
    @inline(__always) func reduceRow(_ row: UnsafePointer<Float>, count: Int) -> Float {
        var first = SIMD8<Double>(repeating: 0), second = SIMD8<Double>(repeating: 0)
        var a = 0
        let raw = UnsafeRawPointer(row)
        while a + 16 <= count {
            first += SIMD8<Double>(raw.loadUnaligned(fromByteOffset: a * 4, as: SIMD8<Float>.self))
            second += SIMD8<Double>(raw.loadUnaligned(fromByteOffset: (a + 8) * 4, as: SIMD8<Float>.self))
            a += 16
        }
        var total = (first + second).sum()
        while a < count {
            total += Double(row[a])
            a += 1
        }
        return Float(total)
    }
}
/// Any other operation, called through its closure.
struct ClosureOperation: ElementOperation {
    let body: (Float, Float) -> Float
    init(_ body: @escaping (Float, Float) -> Float) { self.body = body }
    func apply(_ a: Float, _ b: Float) -> Float { body(a, b) }
}
