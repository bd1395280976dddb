/// A 3×3, stride-1, padding-1 convolution by Winograd's F(2×2, 3×3): each 2×2 output tile
/// comes from a 4×4 input tile through 16 element-wise products, done as 16 oneDNN GEMMs
/// ([out × in] · [in × tiles]) — 2.25× fewer multiplications than direct convolution, for the
/// CPUs where oneDNN has no Winograd of its own (it has one for AVX-512 only). The weights are
/// transformed once; the transforms run a whole tile row at a time so their loops vectorise;
/// bias and activation are applied in the output transform.
public final class WinogradConvolution: @unchecked Sendable {
    let inputChannels: Int
    let outputChannels: Int
    let activation: Activation
    /// U[ξ][o][i] = (G g Gᵀ)[ξ] for each of the 16 tile positions ξ.
    let transformedWeights: [Float]
    let bias: [Float]
    let scratch: Scratch

    /// Where a plan uses it: 3×3, stride 1, padding 1, no dilation or groups, and wide enough
    /// (≥ 64 channels each way) that the GEMMs dominate the transforms.
    public static func applies(weight: Tensor, geometry: ConvolutionGeometry, groups: Int) -> Bool {
        geometry.kernelHeight == 3 && geometry.kernelWidth == 3 && geometry.stride == 1 && geometry.padding == 1
            && geometry.dilation == 1 && groups == 1 && weight.shape[0] >= 64 && weight.shape[1] >= 64
    }

    public init(weight: Tensor, bias: Tensor?, activation: Activation, scratch: Scratch) {
        precondition(weight.shape[2] == 3 && weight.shape[3] == 3)
        outputChannels = weight.shape[0]
        inputChannels = weight.shape[1]
        self.activation = activation
        self.bias = bias?.storage ?? [Float](repeating: 0, count: weight.shape[0])
        self.scratch = scratch
        let pairs = outputChannels * inputChannels
        var u = [Float](repeating: 0, count: 16 * pairs)
        for pair in 0..<pairs {
            let g = Array(weight.storage[(pair * 9)..<(pair * 9 + 9)])
            // G g: rows g0, (g0+g1+g2)/2, (g0−g1+g2)/2, g2 (over the kernel's columns)
            var left = [Float](repeating: 0, count: 12)
            for column in 0..<3 {
                let (a, b, c) = (g[column], g[3 + column], g[6 + column])
                left[column] = a
                left[3 + column] = (a + b + c) / 2
                left[6 + column] = (a - b + c) / 2
                left[9 + column] = c
            }
            // (G g) Gᵀ: the same combination along each row
            for row in 0..<4 {
                let (a, b, c) = (left[row * 3], left[row * 3 + 1], left[row * 3 + 2])
                u[(row * 4 + 0) * pairs + pair] = a
                u[(row * 4 + 1) * pairs + pair] = (a + b + c) / 2
                u[(row * 4 + 2) * pairs + pair] = (a - b + c) / 2
                u[(row * 4 + 3) * pairs + pair] = c
            }
        }
        transformedWeights = u
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(channels == inputChannels)
        let tilesY = (height + 1) / 2, tilesX = (width + 1) / 2
        let tiles = tilesY * tilesX
        let paddedWidth = 2 * tilesX + 2  // columns −1 … 2·tilesX, zero outside the map
        var out = Tensor(shape: [batch, outputChannels, height, width])
        let inputBytes = 16 * inputChannels * tiles * 4, productBytes = 16 * outputChannels * tiles * 4
        scratch.use(inputBytes, productBytes) { inputBuffer, productBuffer in
            let v = inputBuffer.assumingMemoryBound(to: Float.self)
            let m = productBuffer.assumingMemoryBound(to: Float.self)
            for n in 0..<batch {
                x.storage.withUnsafeBufferPointer { source in
                    let image = source.baseAddress! + n * channels * height * width
                    Threads.parallelFor(channels) { c in
                        let plane = image + c * height * width
                        // four padded input rows, then their Bᵀ combinations, each a whole row
                        let rows = UnsafeMutablePointer<Float>.allocate(capacity: 8 * paddedWidth)
                        defer { rows.deallocate() }
                        let combined = rows + 4 * paddedWidth
                        for ty in 0..<tilesY {
                            for i in 0..<4 {
                                let y = 2 * ty - 1 + i
                                let row = rows + i * paddedWidth
                                for j in 0..<paddedWidth { row[j] = 0 }
                                if y >= 0 && y < height {
                                    let line = plane + y * width
                                    for j in 0..<width { row[j + 1] = line[j] }
                                }
                            }
                            let (d0, d1, d2, d3) = (rows, rows + paddedWidth, rows + 2 * paddedWidth, rows + 3 * paddedWidth)
                            let (t0, t1, t2, t3) = (combined, combined + paddedWidth, combined + 2 * paddedWidth, combined + 3 * paddedWidth)
                            for j in 0..<paddedWidth {
                                t0[j] = d0[j] - d2[j]
                                t1[j] = d1[j] + d2[j]
                                t2[j] = d2[j] - d1[j]
                                t3[j] = d1[j] - d3[j]
                            }
                            // · B along the row: tile tx covers padded columns 2tx … 2tx+3
                            for i in 0..<4 {
                                let t = combined + i * paddedWidth
                                let base = ty * tilesX
                                let s0 = v + ((i * 4 + 0) * channels + c) * tiles + base
                                let s1 = v + ((i * 4 + 1) * channels + c) * tiles + base
                                let s2 = v + ((i * 4 + 2) * channels + c) * tiles + base
                                let s3 = v + ((i * 4 + 3) * channels + c) * tiles + base
                                for tx in 0..<tilesX {
                                    let a = t[2 * tx], b = t[2 * tx + 1], cc = t[2 * tx + 2], d = t[2 * tx + 3]
                                    s0[tx] = a - cc
                                    s1[tx] = b + cc
                                    s2[tx] = cc - b
                                    s3[tx] = b - d
                                }
                            }
                        }
                    }
                }
                transformedWeights.withUnsafeBufferPointer { u in
                    for position in 0..<16 {
                        Gemm.multiply(m: outputChannels, n: tiles, k: inputChannels,
                                      a: u.baseAddress! + position * outputChannels * inputChannels, lda: inputChannels,
                                      b: v + position * inputChannels * tiles, ldb: tiles,
                                      c: m + position * outputChannels * tiles, ldc: tiles)
                    }
                }
                out.storage.withUnsafeMutableBufferPointer { destination in
                    let image = destination.baseAddress! + n * outputChannels * height * width
                    let outputs = outputChannels, activation = activation
                    bias.withUnsafeBufferPointer { biases in
                        Threads.parallelFor(outputs) { o in
                            let plane = image + o * height * width
                            let b = biases[o]
                            // Aᵀ m A for a whole tile row: 8 partial rows, then the 2×2 outputs
                            let partial = UnsafeMutablePointer<Float>.allocate(capacity: 12 * tilesX)
                            defer { partial.deallocate() }
                            for ty in 0..<tilesY {
                                func source(_ position: Int) -> UnsafeMutablePointer<Float> {
                                    m + (position * outputs + o) * tiles + ty * tilesX
                                }
                                for j in 0..<4 {
                                    let (m0, m1, m2, m3) = (source(j), source(4 + j), source(8 + j), source(12 + j))
                                    let r0 = partial + j * tilesX, r1 = partial + (4 + j) * tilesX
                                    for tx in 0..<tilesX {
                                        r0[tx] = m0[tx] + m1[tx] + m2[tx]
                                        r1[tx] = m1[tx] - m2[tx] - m3[tx]
                                    }
                                }
                                let y = partial + 8 * tilesX  // y00, y01, y10, y11 interleaved per tile
                                for i in 0..<2 {
                                    let (r0, r1, r2, r3) = (partial + (4 * i) * tilesX, partial + (4 * i + 1) * tilesX,
                                                            partial + (4 * i + 2) * tilesX, partial + (4 * i + 3) * tilesX)
                                    for tx in 0..<tilesX {
                                        y[2 * tx] = r0[tx] + r1[tx] + r2[tx] + b
                                        y[2 * tx + 1] = r1[tx] - r2[tx] - r3[tx] + b
                                    }
                                    let outputRow = 2 * ty + i
                                    if outputRow < height {
                                        let line = plane + outputRow * width
                                        for j in 0..<width { line[j] = y[j] }
                                        activation.apply(line, count: width)
                                    }
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
