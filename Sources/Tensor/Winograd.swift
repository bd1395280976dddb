/// A 3×3, stride-1, padding-1 convolution by Winograd's F(m×m, 3×3), m = 2 or 4: each m×m
/// output tile comes from an α×α input tile (α = m + 2) through α² element-wise products, done
/// as α² oneDNN GEMMs ([out × in] · [in × tiles]) — 2.25× (m = 2) or 4× (m = 4) fewer
/// multiplications than direct convolution, for the CPUs where oneDNN has no Winograd of its
/// own (it has one for AVX-512 only). The weights are transformed once; the transforms run a
/// whole tile row at a time so their loops vectorise; bias and activation are applied in the
/// output transform.
public final class WinogradConvolution: @unchecked Sendable {
    let inputChannels: Int
    let outputChannels: Int
    let activation: Activation
    /// m: 2 or 4.
    let outputTile: Int
    /// U[ξ][o][i] = (G g Gᵀ)[ξ] for each of the α² tile positions ξ.
    let transformedWeights: [Float]
    let bias: [Float]
    let scratch: Scratch

    /// Where a plan uses it: 3×3, stride 1, padding 1, no dilation or groups, and wide enough
    /// (≥ 64 channels each way) that the GEMMs dominate the transforms.
    public static func applies(weight: Tensor, geometry: ConvolutionGeometry, groups: Int) -> Bool {
        geometry.kernelHeight == 3 && geometry.kernelWidth == 3 && geometry.stride == 1 && geometry.padding == 1
            && geometry.dilation == 1 && groups == 1 && weight.shape[0] >= 64 && weight.shape[1] >= 64
    }

    /// The output tile for a map: 4×4 (fewest multiplications) unless the map is tiny. Measured
    /// on 256→256 channels, 2 threads (transforms + GEMMs): 80² 19.4 ms vs F(2×2) 27.1 ms,
    /// 40² 6.2 vs 7.0, 20² 2.2 vs 2.4.
    public static func outputTile(height: Int, width: Int) -> Int {
        ((height + 3) / 4) * ((width + 3) / 4) >= 16 ? 4 : 2
    }

    public init(weight: Tensor, bias: Tensor?, activation: Activation, outputTile: Int = 4, scratch: Scratch) {
        precondition(weight.shape[2] == 3 && weight.shape[3] == 3 && (outputTile == 2 || outputTile == 4))
        self.outputTile = outputTile
        outputChannels = weight.shape[0]
        inputChannels = weight.shape[1]
        self.activation = activation
        self.bias = bias?.storage ?? [Float](repeating: 0, count: weight.shape[0])
        self.scratch = scratch
        let g = outputTile == 4 ? F4x4.g : F2x2.g
        let alpha = outputTile + 2
        let pairs = outputChannels * inputChannels
        var u = [Float](repeating: 0, count: alpha * alpha * pairs)
        weight.storage.withUnsafeBufferPointer { w in
            var left = [Double](repeating: 0, count: alpha * 3)
            for pair in 0..<pairs {
                let kernel = w.baseAddress! + pair * 9
                // G · kernel (α×3), then (G · kernel) · Gᵀ (α×α), in double, rounded once
                for row in 0..<alpha {
                    for column in 0..<3 {
                        var sum = 0.0
                        for k in 0..<3 { sum += g[row * 3 + k] * Double(kernel[k * 3 + column]) }
                        left[row * 3 + column] = sum
                    }
                }
                for row in 0..<alpha {
                    for column in 0..<alpha {
                        var sum = 0.0
                        for k in 0..<3 { sum += left[row * 3 + k] * g[column * 3 + k] }
                        u[(row * alpha + column) * pairs + pair] = Float(sum)
                    }
                }
            }
        }
        transformedWeights = u
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        outputTile == 4 ? run(x, F4x4.self) : run(x, F2x2.self)
    }

    /// Specialised per tile size, so the transforms' α and coefficients are constants.
    private func run<T: WinogradTile>(_ x: Tensor, _: T.Type) -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(channels == inputChannels)
        let (m, alpha) = (T.outputTile, T.outputTile + 2)
        let positions = alpha * alpha
        let tilesY = (height + m - 1) / m, tilesX = (width + m - 1) / m
        let tiles = tilesY * tilesX
        let paddedWidth = m * tilesX + 2  // columns −1 … m·tilesX, zero outside the map
        var out = Tensor(shape: [batch, outputChannels, height, width]) { _ in }  // every element is written below
        let inputBytes = positions * inputChannels * tiles * 4, productBytes = positions * outputChannels * tiles * 4
        scratch.use(inputBytes, productBytes) { inputBuffer, productBuffer in
            let v = inputBuffer.assumingMemoryBound(to: Float.self)
            let products = productBuffer.assumingMemoryBound(to: Float.self)
            for n in 0..<batch {
                x.storage.withUnsafeBufferPointer { source in
                    let image = source.baseAddress! + n * channels * height * width
                    Threads.parallelFor(channels) { c in
                        let plane = image + c * height * width
                        // α padded input rows, their Bᵀ combinations (whole rows), then · B per tile
                        let rows = UnsafeMutablePointer<Float>.allocate(capacity: 2 * alpha * paddedWidth)
                        defer { rows.deallocate() }
                        let combined = rows + alpha * paddedWidth
                        for ty in 0..<tilesY {
                            for i in 0..<alpha {
                                let y = m * ty - 1 + i
                                let row = rows + i * paddedWidth
                                row.update(repeating: 0, count: paddedWidth)
                                if y >= 0 && y < height { (row + 1).update(from: plane + y * width, count: width) }
                            }
                            T.input(rows, stride: paddedWidth, step: 1, into: combined, stride: paddedWidth, step: 1, count: paddedWidth)
                            for r in 0..<alpha {
                                let row = combined + r * paddedWidth
                                let target = v + ((r * alpha) * channels + c) * tiles + ty * tilesX
                                T.input(row, stride: 1, step: m, into: target, stride: channels * tiles, step: 1, count: tilesX)
                            }
                        }
                    }
                }
                transformedWeights.withUnsafeBufferPointer { u in
                    // the α² products split between the threads, each GEMM on one thread (oneDNN
                    // runs single-threaded inside a parallel region): one fork/join instead of α²
                    Threads.parallelFor(positions) { position in
                        Gemm.multiply(m: outputChannels, n: tiles, k: inputChannels,
                                      a: u.baseAddress! + position * outputChannels * inputChannels, lda: inputChannels,
                                      b: v + position * inputChannels * tiles, ldb: tiles,
                                      c: products + position * outputChannels * tiles, ldc: tiles)
                    }
                }
                out.storage.withUnsafeMutableBufferPointer { destination in
                    let image = destination.baseAddress! + n * outputChannels * height * width
                    let outputs = outputChannels, activation = activation
                    bias.withUnsafeBufferPointer { biases in
                        Threads.parallelFor(outputs) { o in
                            let plane = image + o * height * width
                            let b = biases[o]
                            // Aᵀ M A for a whole tile row: Aᵀ over the tile's rows into m·α partial
                            // rows, then · A over its columns into m output rows
                            let partial = UnsafeMutablePointer<Float>.allocate(capacity: m * alpha * tilesX + m * tilesX)
                            defer { partial.deallocate() }
                            let line = partial + m * alpha * tilesX
                            for ty in 0..<tilesY {
                                let first = products + o * tiles + ty * tilesX
                                for column in 0..<alpha {
                                    let source = first + column * outputs * tiles, target = partial + column * tilesX
                                    T.output(source, stride: alpha * outputs * tiles, step: 1, into: target, stride: alpha * tilesX, step: 1,
                                             count: tilesX)
                                }
                                for i in 0..<m where m * ty + i < height {
                                    let rowPartial = partial + i * alpha * tilesX
                                    T.output(rowPartial, stride: tilesX, step: 1, into: line, stride: 1, step: m, count: tilesX)
                                    let target = plane + (m * ty + i) * width
                                    for j in 0..<width { target[j] = line[j] + b }
                                    activation.apply(target, count: width)
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// One Winograd F(m×m, 3×3) (Lavin & Gray 2015): G (α×3) for the kernels, Bᵀ (α×α) for the
/// input tiles and Aᵀ (m×α) for the output tiles, α = m + 2, with Bᵀ and Aᵀ written out as
/// code so their zeros and ±1s cost nothing. Each applies to `count` vectors at once: vector t
/// has element k at source[k·stride + t·step] and its result r goes to target[r·stride + t·step]
/// — one pointer per element, so the loops over t vectorise.
protocol WinogradTile {
    static var outputTile: Int { get }
    static var g: [Double] { get }
    /// Bᵀ · d for each vector d (α elements to α).
    static func input(_ source: UnsafePointer<Float>, stride: Int, step: Int,
                      into target: UnsafeMutablePointer<Float>, stride targetStride: Int, step targetStep: Int, count: Int)
    /// Aᵀ · d for each vector d (α elements to m).
    static func output(_ source: UnsafePointer<Float>, stride: Int, step: Int,
                       into target: UnsafeMutablePointer<Float>, stride targetStride: Int, step targetStep: Int, count: Int)
}

/// Points 0, 1, −1 and ∞.
enum F2x2: WinogradTile {
    static let outputTile = 2
    static let g: [Double] = [1, 0, 0,
                              0.5, 0.5, 0.5,
                              0.5, -0.5, 0.5,
                              0, 0, 1]

    /// Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1].
    @inline(__always)
    static func input(_ s: UnsafePointer<Float>, stride: Int, step: Int,
                      into t: UnsafeMutablePointer<Float>, stride ts: Int, step tStep: Int, count: Int) {
        let (s0, s1, s2, s3) = (s, s + stride, s + 2 * stride, s + 3 * stride)
        let (t0, t1, t2, t3) = (t, t + ts, t + 2 * ts, t + 3 * ts)
        for i in 0..<count {
            let (d0, d1, d2, d3) = (s0[i * step], s1[i * step], s2[i * step], s3[i * step])
            t0[i * tStep] = d0 - d2
            t1[i * tStep] = d1 + d2
            t2[i * tStep] = d2 - d1
            t3[i * tStep] = d1 - d3
        }
    }

    /// Aᵀ = [1 1 1 0; 0 1 −1 −1].
    @inline(__always)
    static func output(_ s: UnsafePointer<Float>, stride: Int, step: Int,
                       into t: UnsafeMutablePointer<Float>, stride ts: Int, step tStep: Int, count: Int) {
        let (s0, s1, s2, s3) = (s, s + stride, s + 2 * stride, s + 3 * stride)
        let (t0, t1) = (t, t + ts)
        for i in 0..<count {
            let (m0, m1, m2, m3) = (s0[i * step], s1[i * step], s2[i * step], s3[i * step])
            t0[i * tStep] = m0 + m1 + m2
            t1[i * tStep] = m1 - m2 - m3
        }
    }
}

/// Points 0, ±1, ±2 and ∞.
enum F4x4: WinogradTile {
    static let outputTile = 4
    static let g: [Double] = [1.0 / 4, 0, 0,
                              -1.0 / 6, -1.0 / 6, -1.0 / 6,
                              -1.0 / 6, 1.0 / 6, -1.0 / 6,
                              1.0 / 24, 1.0 / 12, 1.0 / 6,
                              1.0 / 24, -1.0 / 12, 1.0 / 6,
                              0, 0, 1]

    /// Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1].
    @inline(__always)
    static func input(_ s: UnsafePointer<Float>, stride: Int, step: Int,
                      into t: UnsafeMutablePointer<Float>, stride ts: Int, step tStep: Int, count: Int) {
        let (s0, s1, s2, s3, s4, s5) = (s, s + stride, s + 2 * stride, s + 3 * stride, s + 4 * stride, s + 5 * stride)
        let (t0, t1, t2, t3, t4, t5) = (t, t + ts, t + 2 * ts, t + 3 * ts, t + 4 * ts, t + 5 * ts)
        for i in 0..<count {
            let (d0, d1, d2, d3, d4, d5) = (s0[i * step], s1[i * step], s2[i * step], s3[i * step], s4[i * step], s5[i * step])
            let a = d4 - 4 * d2, b = d3 - 4 * d1  // rows 1 and 2: a ± b
            let c = d4 - d2, e = 2 * (d3 - d1)     // rows 3 and 4: c ± e
            t0[i * tStep] = 4 * d0 - 5 * d2 + d4
            t1[i * tStep] = a + b
            t2[i * tStep] = a - b
            t3[i * tStep] = c + e
            t4[i * tStep] = c - e
            t5[i * tStep] = 4 * d1 - 5 * d3 + d5
        }
    }

    /// Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
    @inline(__always)
    static func output(_ s: UnsafePointer<Float>, stride: Int, step: Int,
                       into t: UnsafeMutablePointer<Float>, stride ts: Int, step tStep: Int, count: Int) {
        let (s0, s1, s2, s3, s4, s5) = (s, s + stride, s + 2 * stride, s + 3 * stride, s + 4 * stride, s + 5 * stride)
        let (t0, t1, t2, t3) = (t, t + ts, t + 2 * ts, t + 3 * ts)
        for i in 0..<count {
            let (m0, m1, m2, m3, m4, m5) = (s0[i * step], s1[i * step], s2[i * step], s3[i * step], s4[i * step], s5[i * step])
            let sum12 = m1 + m2, difference12 = m1 - m2, sum34 = m3 + m4, difference34 = m3 - m4
            t0[i * tStep] = m0 + sum12 + sum34
            t1[i * tStep] = difference12 + 2 * difference34
            t2[i * tStep] = sum12 + 4 * sum34
            t3[i * tStep] = difference12 + 8 * difference34 + m5
        }
    }
}
