/// A dense float32 tensor: a shape and its elements in row-major (NCHW for feature maps) order.
/// A value type: copies share storage until one is written (Array's copy-on-write).
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var storage: [Float]

    /// A tensor over `storage`, which must hold exactly the shape's element count.
    public init(shape: [Int], storage: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(storage.count == Tensor.count(of: shape), "\(storage.count) elements for shape \(shape)")
        self.shape = shape
        self.storage = storage
    }

    public init(shape: [Int], repeating value: Float = 0) {
        self.init(shape: shape, storage: [Float](repeating: value, count: Tensor.count(of: shape)))
    }

    /// A tensor whose elements are written by `body` into uninitialised storage of the shape's size.
    public init(shape: [Int], writing body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let total = Tensor.count(of: shape)
        self.shape = shape
        self.storage = [Float](unsafeUninitializedCapacity: total) { buffer, initialized in
            body(buffer)
            initialized = total
        }
    }

    public static func count(of shape: [Int]) -> Int { shape.reduce(1, *) }

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// The same elements under another shape of equal size.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, storage: storage)
    }

    /// A copy with the axes reordered: result axis i is this tensor's axis `axes[i]`.
    public func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.sorted() == Array(0..<rank), "bad permutation \(axes) for rank \(rank)")
        let resultShape = axes.map { shape[$0] }
        let strides = Tensor.strides(of: shape)
        // the copy's loops: axes of size 1 dropped, and an axis merged into the next where the
        // two are contiguous in the source too (a kernel's 3×3 moved as runs of 9, not of 3)
        var newShape: [Int] = [], sourceStrides: [Int] = []
        for axis in axes where shape[axis] > 1 {
            if let lastStride = sourceStrides.last, lastStride == strides[axis] * shape[axis] {
                newShape[newShape.count - 1] *= shape[axis]
                sourceStrides[sourceStrides.count - 1] = strides[axis]
            } else {
                newShape.append(shape[axis])
                sourceStrides.append(strides[axis])
            }
        }
        return Tensor(shape: resultShape) { out in
            storage.withUnsafeBufferPointer { source in
                var index = [Int](repeating: 0, count: newShape.count)
                var offset = 0
                let last = newShape.count - 1
                let innerStride = last >= 0 ? sourceStrides[last] : 0
                let innerCount = last >= 0 ? newShape[last] : 1
                var position = 0
                let total = out.count
                while position < total {
                    // the innermost axis as a strided run
                    var source_i = offset
                    for i in 0..<innerCount {
                        out[position + i] = source[source_i]
                        source_i += innerStride
                    }
                    position += innerCount
                    // odometer over the outer axes
                    var axis = last - 1
                    while axis >= 0 {
                        index[axis] += 1
                        offset += sourceStrides[axis]
                        if index[axis] < newShape[axis] { break }
                        offset -= sourceStrides[axis] * newShape[axis]
                        index[axis] = 0
                        axis -= 1
                    }
                    if axis < 0 { break }
                }
            }
        }
    }

    /// The maximum along `axis`, which is dropped.
    public func reducedMax(axis: Int) -> Tensor { reduced(axis: axis, MaximumReduction()) }
    /// Sums along `axis`, accumulated in double precision: a float32 running sum over thousands
    /// of elements (a GroupNorm's statistics over a group) drifts past PyTorch's own error.
    public func reducedSum(axis: Int) -> Tensor { reduced(axis: axis, DoubleSum()) }

    /// `reduction` along `axis`, which is dropped: one running value per output element, in the
    /// axis's order, output rows in parallel.
    @inline(__always)
    func reduced<R: Reduction>(axis: Int, _ reduction: R) -> Tensor {
        let outer = shape.prefix(axis).reduce(1, *), size = shape[axis], inner = shape.suffix(from: axis + 1).reduce(1, *)
        var newShape = shape
        newShape.remove(at: axis)
        return Tensor(shape: newShape) { out in
            storage.withUnsafeBufferPointer { source in
                guard let from = source.baseAddress, let to = out.baseAddress else { return }
                Threads.parallelRanges(outer, minimumPerChunk: max(1, 16384 / max(size * inner, 1))) { range in
                    if inner == 1 {
                        // along the last axis: one running value per row
                        for o in range { to[o] = reduction.reduceRow(from + o &* size, count: size) }
                        return
                    }
                    var running = [R.Running](repeating: reduction.initial, count: inner)
                    for o in range {
                        let block = from + o * size * inner
                        for i in 0..<inner { running[i] = reduction.initial }
                        for a in 0..<size {
                            let line = block + a * inner
                            for i in 0..<inner { running[i] = reduction.combine(running[i], line[i]) }
                        }
                        for i in 0..<inner { to[o * inner + i] = reduction.result(running[i]) }
                    }
                }
            }
        }
    }

    /// Row-major strides of a shape.
    public static func strides(of shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// Splits the shape around `axis` into (outer, axis size, inner) element counts.
    func around(axis: Int) -> (outer: Int, size: Int, inner: Int) {
        (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
    }

    /// Joins tensors that agree on every axis but `axis`.
    public static func concatenate(_ tensors: [Tensor], axis: Int) -> Tensor {
        precondition(!tensors.isEmpty)
        var newShape = tensors[0].shape
        newShape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
        let outer = tensors[0].around(axis: axis).outer
        let runs = tensors.map { $0.shape[axis...].reduce(1, *) }
        let total = runs.reduce(0, +)
        return Tensor(shape: newShape) { out in
            guard let destination = out.baseAddress else { return }
            if outer >= 64 && total <= 4096 {
                // many short runs (an NHWC map's channels): rows in parallel, each row's pieces
                // in turn, so the output is written front to back
                withBaseAddresses(tensors[...]) { sources in
                    Threads.parallelRanges(outer, minimumPerChunk: Swift.max(1, 32768 / Swift.max(total, 1))) { rows in
                        for o in rows {
                            var target = destination + o * total
                            for (source, run) in zip(sources, runs) {
                                Tensor.copy(source + o * run, to: target, count: run)
                                target += run
                            }
                        }
                    }
                }
                return
            }
            // one memcpy per (outer index, piece); the pieces of one outer index in parallel
            for (piece, tensor) in tensors.enumerated() {
                let run = runs[piece], before = runs[..<piece].reduce(0, +)
                tensor.storage.withUnsafeBufferPointer { source in
                    guard let source = source.baseAddress, run > 0 else { return }
                    Threads.parallelRanges(outer * run, minimumPerChunk: 1 << 15) { range in
                        // a range of the piece's elements, cut at its runs
                        var index = range.lowerBound
                        while index < range.upperBound {
                            let o = index / run, offset = index % run
                            let count = min(run - offset, range.upperBound - index)
                            Tensor.copy(source + index, to: destination + o * total + before + offset, count: count)
                            index += count
                        }
                    }
                }
            }
        }
    }

    /// Runs `body` with the element pointers of all `tensors` (an empty tensor gets a dangling
    /// placeholder, never read: its runs are 0).
    static func withBaseAddresses(_ tensors: ArraySlice<Tensor>, _ collected: [UnsafePointer<Float>] = [],
                                          _ body: ([UnsafePointer<Float>]) -> Void) {
        guard let first = tensors.first else { return body(collected) }
        first.storage.withUnsafeBufferPointer { buffer in
            let pointer = buffer.baseAddress ?? UnsafePointer(bitPattern: MemoryLayout<Float>.alignment)!
            withBaseAddresses(tensors.dropFirst(), collected + [pointer], body)
        }
    }

    /// Copies `count` floats; short runs (an NHWC map's channels) by an inline loop, since a
    /// memcpy call per 16–64 floats costs more than the copy.
    @inline(__always)
    static func copy(_ source: UnsafePointer<Float>, to target: UnsafeMutablePointer<Float>, count: Int) {
        if count <= 256 {
            for i in 0..<count { target[i] = source[i] }
        } else {
            target.update(from: source, count: count)
        }
    }

    /// The elements with `range` on `axis`.
    public func slice(axis: Int, _ range: Range<Int>) -> Tensor {
        let (outer, size, inner) = around(axis: axis)
        var newShape = shape
        newShape[axis] = range.count
        return Tensor(shape: newShape) { out in
            storage.withUnsafeBufferPointer { source in
                guard let destination = out.baseAddress, let source = source.baseAddress else { return }
                let run = range.count * inner
                // rows in parallel when there are many (the channels of an NHWC map)
                Threads.parallelRanges(outer, minimumPerChunk: Swift.max(1, 32768 / Swift.max(run, 1))) { rows in
                    for o in rows { Tensor.copy(source + (o * size + range.lowerBound) * inner, to: destination + o * run, count: run) }
                }
            }
        }
    }

    /// Consecutive pieces of the given sizes along `axis`.
    public func split(axis: Int, sizes: [Int]) -> [Tensor] {
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return slice(axis: axis, start..<(start + size))
        }
    }

    /// The largest absolute element (0 for an empty tensor).
    public var maxMagnitude: Float { storage.reduce(0) { Swift.max($0, abs($1)) } }

    /// The largest absolute difference to a tensor of the same shape.
    public func maxDifference(to other: Tensor) -> Float {
        precondition(shape == other.shape, "shapes \(shape) and \(other.shape) differ")
        var worst: Float = 0
        for i in 0..<count {
            if storage[i] == other.storage[i] { continue }  // equal infinities too
            let difference = abs(storage[i] - other.storage[i])
            if difference > worst || difference.isNaN { worst = difference.isNaN ? .infinity : difference }
        }
        return worst
    }
}
