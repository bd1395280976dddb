/// The geometry of a 2-D convolution or unfold window.
public struct ConvolutionGeometry: Sendable, Hashable {
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var stride: Int
    public var padding: Int
    public var dilation: Int

    public init(kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1) {
        self.init(kernelHeight: kernelSize, kernelWidth: kernelSize, stride: stride, padding: padding, dilation: dilation)
    }

    public init(kernelHeight: Int, kernelWidth: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1) {
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
    }

    public func outputHeight(_ height: Int) -> Int {
        (height + 2 * padding - dilation * (kernelHeight - 1) - 1) / stride + 1
    }

    public func outputWidth(_ width: Int) -> Int {
        (width + 2 * padding - dilation * (kernelWidth - 1) - 1) / stride + 1
    }

    public var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0 }
}

extension Tensor {
    /// `F.conv2d(x, weight, bias, stride, padding, dilation, groups)` on an NCHW input.
    /// Grouped and dense convolutions are oneDNN matrix products (1×1 directly, others over an
    /// im2col buffer); depthwise ones run a direct loop, which a GEMM cannot help.
    public func conv2d(weight: Tensor, bias: Tensor?, geometry: ConvolutionGeometry, groups: Int = 1,
                       activation: Activation = .identity) -> Tensor {
        let (batch, inputChannels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let outputChannels = weight.shape[0]
        precondition(weight.shape == [outputChannels, inputChannels / groups, geometry.kernelHeight, geometry.kernelWidth],
                     "conv2d weight \(weight.shape) for input \(shape), groups \(groups)")
        let outHeight = geometry.outputHeight(height), outWidth = geometry.outputWidth(width)
        if groups == inputChannels && groups == outputChannels && groups > 1 {
            return depthwiseConv2d(weight: weight, bias: bias, geometry: geometry).activated(activation)
        }
        if geometry.isPointwise && groups == 1 {
            return pointwiseConv2d(weight: weight, bias: bias, activation: activation)
        }
        let groupIn = inputChannels / groups, groupOut = outputChannels / groups
        let reduction = groupIn * geometry.kernelHeight * geometry.kernelWidth
        let positions = outHeight * outWidth
        var out = Tensor(shape: [batch, outputChannels, outHeight, outWidth])
        if out.count == 0 { return out }
        var columns = geometry.isPointwise ? [] : [Float](repeating: 0, count: reduction * positions)
        storage.withUnsafeBufferPointer { input in
            weight.storage.withUnsafeBufferPointer { weights in
                out.storage.withUnsafeMutableBufferPointer { output in
                    for n in 0..<batch {
                        for group in 0..<groups {
                            let source = input.baseAddress! + (n * inputChannels + group * groupIn) * height * width
                            let destination = output.baseAddress! + (n * outputChannels + group * groupOut) * positions
                            let a = weights.baseAddress! + group * groupOut * reduction
                            if geometry.isPointwise {
                                Gemm.multiply(m: groupOut, n: positions, k: reduction, a: a, lda: reduction,
                                              b: source, ldb: positions, c: destination, ldc: positions)
                            } else {
                                columns.withUnsafeMutableBufferPointer { buffer in
                                    im2col(source, channels: groupIn, height: height, width: width,
                                           geometry: geometry, into: buffer.baseAddress!)
                                    Gemm.multiply(m: groupOut, n: positions, k: reduction, a: a, lda: reduction,
                                                  b: buffer.baseAddress!, ldb: positions, c: destination, ldc: positions)
                                }
                            }
                        }
                    }
                }
            }
        }
        out.addChannelBias(bias, activation: activation)
        return out
    }

    /// A 1×1 convolution as GEMMs straight on the NCHW planes, out[O, H·W] = W[O, C] · x[C, H·W]
    /// — no layout change. The positions are cut into column blocks, one single-threaded GEMM
    /// each, and bias and activation run on a block while it is still in cache (a separate pass
    /// over the whole output cost ~5 % of a YOLOv8n forward).
    func pointwiseConv2d(weight: Tensor, bias: Tensor?, activation: Activation) -> Tensor {
        let (batch, inputChannels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let outputChannels = weight.shape[0], positions = height * width
        // blocks of ≤ 256 KB of output, a multiple of 16 columns, at least 4 per thread when the map allows
        let cacheColumns = max(64, (65536 / max(outputChannels, 1)) & ~15)
        let spread = (positions + 4 * Threads.count - 1) / (4 * Threads.count)
        let blockWidth = max(16, min(cacheColumns, (spread + 15) & ~15))
        let blocks = (positions + blockWidth - 1) / blockWidth
        let biases = bias?.storage ?? [Float](repeating: 0, count: outputChannels)
        return Tensor(shape: [batch, outputChannels, height, width]) { out in
            guard let destination = out.baseAddress, positions > 0 else { return }
            storage.withUnsafeBufferPointer { input in
                weight.storage.withUnsafeBufferPointer { weights in
                    biases.withUnsafeBufferPointer { shifts in
                        Threads.parallelFor(batch * blocks) { chunk in
                            let (n, start) = (chunk / blocks, (chunk % blocks) * blockWidth)
                            let columns = min(blockWidth, positions - start)
                            let block = destination + n * outputChannels * positions + start
                            Gemm.multiply(m: outputChannels, n: columns, k: inputChannels, a: weights.baseAddress!, lda: inputChannels,
                                          b: input.baseAddress! + n * inputChannels * positions + start, ldb: positions,
                                          c: block, ldc: positions)
                            for o in 0..<outputChannels {
                                let row = block + o * positions, shift = shifts[o]
                                for i in 0..<columns { row[i] += shift }
                                activation.apply(row, count: columns)
                            }
                        }
                    }
                }
            }
        }
    }

    /// One output channel per input channel (groups = channels), as a direct loop.
    func depthwiseConv2d(weight: Tensor, bias: Tensor?, geometry g: ConvolutionGeometry) -> Tensor {
        let (channels, height, width) = (shape[1], shape[2], shape[3])
        let outHeight = g.outputHeight(height), outWidth = g.outputWidth(width)
        let kh = g.kernelHeight, kw = g.kernelWidth
        return weight.storage.withUnsafeBufferPointer { weights in
            mappingPlanes(height: outHeight, width: outWidth) { plane, source, destination in
                let channel = plane % channels
                let kernel = weights.baseAddress! + channel * kh * kw
                let biasValue = bias?.storage[channel] ?? 0
                for oy in 0..<outHeight {
                    for ox in 0..<outWidth {
                        var sum: Float = biasValue
                        for ky in 0..<kh {
                            let iy = oy * g.stride - g.padding + ky * g.dilation
                            if iy < 0 || iy >= height { continue }
                            for kx in 0..<kw {
                                let ix = ox * g.stride - g.padding + kx * g.dilation
                                if ix < 0 || ix >= width { continue }
                                sum += source[iy * width + ix] * kernel[ky * kw + kx]
                            }
                        }
                        destination[oy * outWidth + ox] = sum
                    }
                }
            }
        }
    }

    /// `F.unfold(x, kernel, dilation, padding, stride)`: [N, C·kh·kw, L] with zero padding,
    /// rows ordered channel-major then kernel row, kernel column.
    public func unfold(geometry: ConvolutionGeometry) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let positions = geometry.outputHeight(height) * geometry.outputWidth(width)
        let rows = channels * geometry.kernelHeight * geometry.kernelWidth
        return Tensor(shape: [batch, rows, positions]) { out in
            storage.withUnsafeBufferPointer { input in
                for n in 0..<batch {
                    im2col(input.baseAddress! + n * channels * height * width, channels: channels, height: height,
                           width: width, geometry: geometry, into: out.baseAddress! + n * rows * positions)
                }
            }
        }
    }

}

/// Lays out every kernel tap of every channel as a row over output positions (zero padding).
func im2col(_ source: UnsafePointer<Float>, channels: Int, height: Int, width: Int,
            geometry g: ConvolutionGeometry, into columns: UnsafeMutablePointer<Float>) {
    let outHeight = g.outputHeight(height), outWidth = g.outputWidth(width)
    let positions = outHeight * outWidth
    let taps = g.kernelHeight * g.kernelWidth
    Threads.parallelRanges(channels * taps, minimumPerChunk: max(1, 16384 / max(positions, 1))) { rows in
        for row in rows {
            let channel = row / taps, tap = row % taps
            let ky = tap / g.kernelWidth, kx = tap % g.kernelWidth
            let plane = source + channel * height * width
            let destination = columns + row * positions
            for oy in 0..<outHeight {
                let iy = oy * g.stride - g.padding + ky * g.dilation
                let line = destination + oy * outWidth
                if iy < 0 || iy >= height {
                    for ox in 0..<outWidth { line[ox] = 0 }
                    continue
                }
                let sourceLine = plane + iy * width
                for ox in 0..<outWidth {
                    let ix = ox * g.stride - g.padding + kx * g.dilation
                    line[ox] = (ix >= 0 && ix < width) ? sourceLine[ix] : 0
                }
            }
        }
    }
}

extension Tensor {
    /// `nn.ConvTranspose2d` with stride equal to its kernel and no padding (Proto's 2×2 stride-2
    /// upsampler): the kernel windows do not overlap, so it is one GEMM per image, Wᵀ[(O·k·k)×C] ·
    /// X[C×HW], scattered into k×k output blocks. `weight` is PyTorch's [C, O, k, k].
    public func transposedConv2dNonOverlapping(weight: Tensor, bias: Tensor?) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let (outputs, k) = (weight.shape[1], weight.shape[2])
        precondition(weight.shape[0] == channels && weight.shape[3] == k, "conv_transpose2d \(shape) with weight \(weight.shape)")
        let (rows, positions) = (outputs * k * k, height * width)
        var product = [Float](repeating: 0, count: rows * positions)
        return Tensor(shape: [batch, outputs, height * k, width * k]) { out in
            for n in 0..<batch {
                storage.withUnsafeBufferPointer { x in
                    weight.storage.withUnsafeBufferPointer { w in
                        product.withUnsafeMutableBufferPointer { p in
                            Gemm.multiply(m: rows, n: positions, k: channels, a: w.baseAddress!, lda: rows, transposeA: true,
                                          b: x.baseAddress! + n * channels * positions, ldb: positions, c: p.baseAddress!, ldc: positions)
                        }
                    }
                }
                let outWidth = width * k
                for o in 0..<outputs {
                    let shift = bias?.storage[o] ?? 0
                    let plane = (n * outputs + o) * height * k * outWidth
                    for i in 0..<k {
                        for j in 0..<k {
                            let source = ((o * k + i) * k + j) * positions
                            for y in 0..<height {
                                let row = plane + (y * k + i) * outWidth + j
                                for x in 0..<width { out[row + x * k] = product[source + y * width + x] + shift }
                            }
                        }
                    }
                }
            }
        }
    }
}
