// Reductions over windows and bins: max pooling, and DFL's expectation over distance bins.

extension Tensor {
    /// `F.max_pool2d(x, kernel_size, stride, padding)` (dilation 1, floor mode): padding counts as −∞.
    public func maxPooled(kernelSize k: Int, stride: Int, padding: Int) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let outHeight = (height + 2 * padding - k) / stride + 1, outWidth = (width + 2 * padding - k) / stride + 1
        // separable: the max over each window's columns per input row, then over its rows
        // (max is exact in any order, so this equals the 2-D window max)
        let left = (0..<outWidth).map { Swift.max($0 * stride - padding, 0) }
        let right = (0..<outWidth).map { Swift.min($0 * stride - padding + k, width) }
        return Tensor(shape: [batch, channels, outHeight, outWidth]) { out in
            storage.withUnsafeBufferPointer { source in
                Threads.parallelFor(batch * channels) { plane in
                    let input = source.baseAddress! + plane * height * width
                    let output = out.baseAddress! + plane * outHeight * outWidth
                    var rowMaxima = [Float](repeating: 0, count: height * outWidth)
                    rowMaxima.withUnsafeMutableBufferPointer { rowMaxima in
                        for row in 0..<height {
                            let line = input + row * width
                            for x in 0..<outWidth {
                                var best = -Float.infinity
                                for column in left[x]..<right[x] { best = Swift.max(best, line[column]) }
                                rowMaxima[row * outWidth + x] = best
                            }
                        }
                        for y in 0..<outHeight {
                            let top = Swift.max(y * stride - padding, 0), bottom = Swift.min(y * stride - padding + k, height)
                            let destination = output + y * outWidth
                            for x in 0..<outWidth { destination[x] = -Float.infinity }
                            for row in top..<bottom {
                                let maxima = rowMaxima.baseAddress! + row * outWidth
                                for x in 0..<outWidth { destination[x] = Swift.max(destination[x], maxima[x]) }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// DFL's decoding: for x [B, sides·bins, A], each side's softmax over its bins weighted by
    /// `weights` (the bin distances), summed: [B, sides, A]. Anchors run in the inner loops, so
    /// the max, exp and sums vectorise.
    public func distributionExpectation(bins: Int, weights: [Float]) -> Tensor {
        let (batch, anchors) = (shape[0], shape[2])
        let sides = shape[1] / bins
        return Tensor(shape: [batch, sides, anchors]) { out in
            storage.withUnsafeBufferPointer { source in
                for plane in 0..<(batch * sides) {
                    let input = source.baseAddress! + plane * bins * anchors
                    let output = out.baseAddress! + plane * anchors
                    Threads.parallelRanges(anchors, minimumPerChunk: 512) { range in
                        let count = range.count
                        var largest = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                            for i in 0..<count { buffer[i] = input[range.lowerBound + i] }
                            initialized = count
                        }
                        for k in 1..<max(bins, 1) {
                            let row = input + k * anchors + range.lowerBound
                            for i in 0..<count { largest[i] = Swift.max(largest[i], row[i]) }
                        }
                        var total = [Float](repeating: 0, count: count), weighted = [Float](repeating: 0, count: count)
                        for k in 0..<bins {
                            let row = input + k * anchors + range.lowerBound
                            let weight = weights[k]
                            for i in 0..<count {
                                let e = FastMath.exp(row[i] - largest[i])
                                total[i] += e
                                weighted[i] += e * weight
                            }
                        }
                        for i in 0..<count { output[range.lowerBound + i] = weighted[i] / total[i] }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// `F.avg_pool2d(x, k, stride, 0)` on NCHW planes (no padding, floor mode): each window summed
    /// row by row, then divided by k², as PyTorch does.
    public func averagePooled(kernelSize k: Int, stride: Int) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let outHeight = (height - k) / stride + 1, outWidth = (width - k) / stride + 1
        let area = Float(k * k)
        return Tensor(shape: [batch, channels, outHeight, outWidth]) { out in
            storage.withUnsafeBufferPointer { source in
                Threads.parallelFor(batch * channels) { plane in
                    let input = source.baseAddress! + plane * height * width
                    let output = out.baseAddress! + plane * outHeight * outWidth
                    for y in 0..<outHeight {
                        for x in 0..<outWidth {
                            var sum: Float = 0
                            for dy in 0..<k {
                                let line = input + (y * stride + dy) * width + x * stride
                                for dx in 0..<k { sum += line[dx] }
                            }
                            output[y * outWidth + x] = sum / area
                        }
                    }
                }
            }
        }
    }

    /// `averagePooled` on NHWC elements [N, H, W, C].
    public func averagePooledChannelsLast(kernelSize k: Int, stride: Int) -> Tensor {
        let (batch, height, width, channels) = (shape[0], shape[1], shape[2], shape[3])
        let outHeight = (height - k) / stride + 1, outWidth = (width - k) / stride + 1
        let area = Float(k * k)
        return Tensor(shape: [batch, outHeight, outWidth, channels]) { out in
            storage.withUnsafeBufferPointer { source in
                Threads.parallelFor(batch * outHeight) { row in
                    let (n, y) = (row / outHeight, row % outHeight)
                    for x in 0..<outWidth {
                        let output = out.baseAddress! + ((n * outHeight + y) * outWidth + x) * channels
                        for c in 0..<channels { output[c] = 0 }
                        for dy in 0..<k {
                            for dx in 0..<k {
                                let input = source.baseAddress! + ((n * height + y * stride + dy) * width + x * stride + dx) * channels
                                for c in 0..<channels { output[c] += input[c] }
                            }
                        }
                        for c in 0..<channels { output[c] /= area }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// `nn.AdaptiveMaxPool2d((outHeight, outWidth))` on NCHW planes: bin i spans
    /// [⌊i·H/out⌋, ⌈(i+1)·H/out⌉).
    public func adaptiveMaxPooled(height outHeight: Int, width outWidth: Int) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        func bins(_ count: Int, _ size: Int) -> [Range<Int>] {
            (0..<count).map { ($0 * size) / count..<(($0 + 1) * size + count - 1) / count }
        }
        let (rows, columns) = (bins(outHeight, height), bins(outWidth, width))
        return Tensor(shape: [batch, channels, outHeight, outWidth]) { out in
            storage.withUnsafeBufferPointer { source in
                Threads.parallelFor(batch * channels) { plane in
                    let input = source.baseAddress! + plane * height * width
                    let output = out.baseAddress! + plane * outHeight * outWidth
                    for (y, rowRange) in rows.enumerated() {
                        for (x, columnRange) in columns.enumerated() {
                            var best = -Float.infinity
                            for row in rowRange { for column in columnRange { best = Swift.max(best, input[row * width + column]) } }
                            output[y * outWidth + x] = best
                        }
                    }
                }
            }
        }
    }

    /// `F.normalize(x, p=2, dim=axis)`: each vector along `axis` divided by max(‖v‖₂, 1e-12).
    public func normalized(axis: Int) -> Tensor {
        let (outer, size, inner) = around(axis: axis)
        var out = self
        out.storage.withUnsafeMutableBufferPointer { x in
            let base = x.baseAddress!
            for index in 0..<(outer * inner) {
                let start = base + (index / inner) * size * inner + index % inner
                var squares: Float = 0
                for j in 0..<size { squares += start[j * inner] * start[j * inner] }
                let norm = Swift.max(squares.squareRoot(), 1e-12)
                for j in 0..<size { start[j * inner] /= norm }
            }
        }
        return out
    }
}
