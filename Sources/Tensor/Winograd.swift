/// A 3×3, stride-1, padding-1 convolution by Winograd's F(4×4, 3×3) (Lavin & Gray 2015) on
/// channels-last maps: each 4×4 output tile comes from a 6×6 input tile through 36
/// element-wise products over the channels — 4× fewer multiplications than direct convolution.
///
/// The tiles are processed in blocks small enough for the core's L2 cache: a block's input
/// tiles are transformed (Bᵀ d B), multiplied by the transformed weights (36 products
/// [tiles × in] · [in × out], by a register-blocked 6×32 kernel), and transformed back (Aᵀ M A)
/// with bias and activation straight into the NHWC output, so nothing the size of the map
/// goes through memory between the three steps. Every step works on 16 channels at once:
/// channels-last makes them contiguous. The weights are transformed once, in double.
public final class WinogradConvolution: @unchecked Sendable {
    typealias Vector = MicroKernel.Vector
    static let lanes = MicroKernel.lanes
    /// Rows of the multiply kernel (tiles per register block).
    static let rows = MicroKernel.rows

    let inputChannels: Int
    let outputChannels: Int
    /// Channels rounded up to whole vectors; the padding of the transformed weights is zero.
    let paddedInput: Int
    let paddedOutput: Int
    let activation: Activation
    /// U[ξ][i][o] = (G g Gᵀ)[ξ] for each of the 36 tile positions ξ, [paddedInput × paddedOutput] each.
    let transformedWeights: [Float]
    let bias: [Float]
    let scratch: Scratch

    /// Where a plan uses it: 3×3, stride 1, padding 1, no dilation or groups; at least 16 input
    /// and 8 output channels (below that the transforms cost more than the products save: 16→8
    /// at 160² 0.30 ms against oneDNN's 0.37, 8→16 0.47 against 0.24); at least
    /// 16 tiles per image and at most 64 MB of transformed weights, since each call reads all of
    /// them — 4× the kernel's own (oneDNN's direct kernel, 2 threads, AVX-512: 256→256 at 10²
    /// 0.24 ms against 0.39; 1024→1024 at 20² 18.7 against 19.9; 512→512 at 20² 4.7 against 3.8).
    public static func applies(weight: Tensor, geometry: ConvolutionGeometry, groups: Int, inputShape: [Int]) -> Bool {
        guard geometry.kernelHeight == 3 && geometry.kernelWidth == 3 && geometry.stride == 1 && geometry.padding == 1
            && geometry.dilation == 1 && groups == 1 && weight.shape[0] >= 8 && weight.shape[1] >= 16 else { return false }
        return TileGeometry(batch: 1, height: inputShape[2], width: inputShape[3]).tiles >= 16 && 36 * weight.shape[0] * weight.shape[1] * 4 <= 64 << 20
    }

    /// G (6×3) for the kernels, points 0, ±1, ±2 and ∞.
    private static let g: [Double] = [1.0 / 4, 0, 0,
                                      -1.0 / 6, -1.0 / 6, -1.0 / 6,
                                      -1.0 / 6, 1.0 / 6, -1.0 / 6,
                                      1.0 / 24, 1.0 / 12, 1.0 / 6,
                                      1.0 / 24, -1.0 / 12, 1.0 / 6,
                                      0, 0, 1]

    public init(weight: Tensor, bias: Tensor?, activation: Activation, scratch: Scratch) {
        precondition(weight.rank == 4 && weight.shape[2] == 3 && weight.shape[3] == 3)
        outputChannels = weight.shape[0]
        inputChannels = weight.shape[1]
        paddedInput = roundedUp(inputChannels, to: Self.lanes)
        paddedOutput = roundedUp(outputChannels, to: Self.lanes)
        self.activation = activation
        var paddedBias = [Float](repeating: 0, count: paddedOutput)
        if let bias { for o in 0..<outputChannels { paddedBias[o] = bias.storage[o] } }
        self.bias = paddedBias
        self.scratch = scratch
        let g = Self.g
        let (inputs, outputs, paddedInput, paddedOutput) = (inputChannels, outputChannels, paddedInput, paddedOutput)
        var u = [Float](repeating: 0, count: 36 * paddedInput * paddedOutput)
        weight.storage.withUnsafeBufferPointer { w in
            var left = [Double](repeating: 0, count: 18)
            for o in 0..<outputs {
                for i in 0..<inputs {
                    let kernel = w.baseAddress! + (o * inputs + i) * 9
                    // G · kernel (6×3), then (G · kernel) · Gᵀ (6×6), in double, rounded once
                    for row in 0..<6 {
                        for column in 0..<3 {
                            var sum = 0.0
                            for k in 0..<3 { sum += g[row * 3 + k] * Double(kernel[k * 3 + column]) }
                            left[row * 3 + column] = sum
                        }
                    }
                    for row in 0..<6 {
                        for column in 0..<6 {
                            var sum = 0.0
                            for k in 0..<3 { sum += left[row * 3 + k] * g[column * 3 + k] }
                            u[((row * 6 + column) * paddedInput + i) * paddedOutput + o] = Float(sum)
                        }
                    }
                }
            }
        }
        transformedWeights = u
    }

    /// Tiles per block: the block's transformed inputs and products (36 vectors of each channel
    /// per tile) within about 512 KB, a whole number of kernel rows, and at least two of them so
    /// that wide convs still use each pass over the transformed weights twice (256→256 at 80²:
    /// about 11 ms with one row, 8–9 with two).
    private var blockCapacity: Int {
        let perTile = 36 * (paddedInput + paddedOutput) * 4
        return max(2, min(16, 512 * 1024 / perTile / Self.rows)) * Self.rows
    }

    /// NHWC [N, H, W, in] → NHWC [N, H, W, out].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[3] == inputChannels, "Winograd(\(inputChannels)→\(outputChannels)) got \(x.shape)")
        let geometry = TileGeometry(batch: x.shape[0], height: x.shape[1], width: x.shape[2])
        var out = Tensor(shape: [geometry.batch, geometry.height, geometry.width, outputChannels]) { _ in }  // every element is written below
        guard geometry.tiles > 0 else { return out }
        x.storage.withUnsafeBufferPointer { source in
            out.storage.withUnsafeMutableBufferPointer { destination in
                transformedWeights.withUnsafeBufferPointer { weights in
                    bias.withUnsafeBufferPointer { bias in
                        let operands = Operands(input: source.baseAddress!, output: destination.baseAddress!,
                                                weights: weights.baseAddress!, bias: bias.baseAddress!)
                        // blocks pay for a pass over the transformed weights each; where those
                        // outweigh the transformed map, transform the whole map at once instead
                        if runsWhole(geometry) {
                            runWhole(operands, geometry)
                        } else {
                            runBlocks(operands, geometry)
                        }
                    }
                }
            }
        }
        return out
    }

    private struct Operands {
        let input: UnsafePointer<Float>
        let output: UnsafeMutablePointer<Float>
        let weights: UnsafePointer<Float>
        let bias: UnsafePointer<Float>
    }

    /// Whether a call transforms the whole map at once: where the passes over the transformed
    /// weights that blocks pay for each outweigh the transformed map.
    private func runsWhole(_ geometry: TileGeometry) -> Bool {
        geometry.tiles * (paddedInput + paddedOutput) <= 2 * paddedInput * paddedOutput
    }

    /// Threads, blocks and tiles per block of a blocked call.
    private func blocking(_ geometry: TileGeometry) -> (workers: Int, blocks: Int, perBlock: Int) {
        let workers = max(1, min(Threads.count, (geometry.tiles + Self.rows - 1) / Self.rows))
        var blocks = (geometry.tiles + blockCapacity - 1) / blockCapacity
        blocks = (blocks + workers - 1) / workers * workers
        let perBlock = roundedUp((geometry.tiles + blocks - 1) / blocks, to: Self.rows)
        return (workers, (geometry.tiles + perBlock - 1) / perBlock, perBlock)
    }

    private static let patchFloats = 2 * 36 * lanes

    /// The shared scratch a call on an NCHW-shaped `inputShape` asks for (at the current
    /// thread count), in bytes.
    public func scratchBytes(inputShape: [Int]) -> (Int, Int) {
        let geometry = TileGeometry(batch: inputShape[0], height: inputShape[2], width: inputShape[3])
        guard geometry.tiles > 0 else { return (0, 0) }
        return runsWhole(geometry) ? wholeScratchBytes(geometry) : (blocking(geometry).workers * blockWorkerFloats(geometry) * 4, 0)
    }

    /// Floats of one worker's share of a blocked call's scratch: its block's transformed inputs
    /// and products, and its patch.
    private func blockWorkerFloats(_ geometry: TileGeometry) -> Int {
        36 * blocking(geometry).perBlock * (paddedInput + paddedOutput) + Self.patchFloats
    }

    /// A whole-map call's scratch: every tile's transformed inputs and products; a patch per thread.
    private func wholeScratchBytes(_ geometry: TileGeometry) -> (Int, Int) {
        (36 * roundedUp(geometry.tiles, to: Self.rows) * (paddedInput + paddedOutput) * 4, max(1, Threads.count) * Self.patchFloats * 4)
    }

    /// Blocks of tiles through all three steps while they are in the core's cache, spread over
    /// the threads in equal blocks, a whole number per thread.
    private func runBlocks(_ operands: Operands, _ geometry: TileGeometry) {
        let (workers, blocks, perBlock) = blocking(geometry)
        let workerFloats = blockWorkerFloats(geometry)
        scratch.use(workers * workerFloats * 4, 0) { buffer, _ in
            Threads.parallelFor(workers) { worker in
                let v = buffer.assumingMemoryBound(to: Float.self) + worker * workerFloats
                let products = v + 36 * perBlock * paddedInput
                let patch = products + 36 * perBlock * paddedOutput
                var block = worker
                while block < blocks {
                    let first = block * perBlock, count = min(perBlock, geometry.tiles - first)
                    let rows = roundedUp(count, to: Self.rows)
                    transformInput(operands.input, geometry, tiles: first..<first + count, into: v, firstRow: 0, capacity: perBlock, patch: patch)
                    zeroRows(count..<rows, of: v, capacity: perBlock)
                    multiply(v, operands.weights, into: products, capacity: perBlock, rows: rows, positions: 0..<36)
                    transformOutput(products, capacity: perBlock, bias: operands.bias, geometry, tiles: first..<first + count, firstRow: 0,
                                    into: operands.output, patch: patch)
                    block += workers
                }
            }
        }
    }

    /// The whole map's tiles at once, in three parallel steps: the transformed weights are read
    /// once in all (each thread multiplies its own positions), not once per block.
    private func runWhole(_ operands: Operands, _ geometry: TileGeometry) {
        let rows = roundedUp(geometry.tiles, to: Self.rows)
        let workers = max(1, Threads.count)
        let patchFloats = Self.patchFloats
        let perWorker = (geometry.tiles + workers - 1) / workers
        let tilesOf = { (worker: Int) in min(geometry.tiles, worker * perWorker)..<min(geometry.tiles, (worker + 1) * perWorker) }
        let (bufferBytes, patchBytes) = wholeScratchBytes(geometry)
        scratch.use(bufferBytes, patchBytes) { buffer, patches in
            let v = buffer.assumingMemoryBound(to: Float.self)
            let products = v + 36 * rows * paddedInput
            Threads.parallelFor(workers) { worker in
                let tiles = tilesOf(worker)
                transformInput(operands.input, geometry, tiles: tiles, into: v, firstRow: tiles.lowerBound, capacity: rows,
                               patch: patches.assumingMemoryBound(to: Float.self) + worker * patchFloats)
            }
            zeroRows(geometry.tiles..<rows, of: v, capacity: rows)
            Threads.parallelFor(36) { position in
                multiply(v, operands.weights, into: products, capacity: rows, rows: rows, positions: position..<position + 1)
            }
            Threads.parallelFor(workers) { worker in
                let tiles = tilesOf(worker)
                transformOutput(products, capacity: rows, bias: operands.bias, geometry, tiles: tiles, firstRow: tiles.lowerBound,
                                into: operands.output, patch: patches.assumingMemoryBound(to: Float.self) + worker * patchFloats)
            }
        }
    }

    /// Zeroes transformed-input rows past the last tile up to the kernel's row multiple (the
    /// multiply kernel reads them; their products are never used).
    private func zeroRows(_ rows: Range<Int>, of v: UnsafeMutablePointer<Float>, capacity: Int) {
        guard !rows.isEmpty else { return }
        for position in 0..<36 {
            (v + (position * capacity + rows.lowerBound) * paddedInput).update(repeating: 0, count: rows.count * paddedInput)
        }
    }

    struct TileGeometry {
        let batch, height, width, tilesY, tilesX, perImage, tiles: Int
        init(batch: Int, height: Int, width: Int) {
            (self.batch, self.height, self.width) = (batch, height, width)
            tilesY = (height + 3) / 4
            tilesX = (width + 3) / 4
            perImage = tilesY * tilesX
            tiles = batch * perImage
        }

        /// Image, first row and first column of a tile's 4×4 outputs.
        func origin(_ tile: Int) -> (image: Int, y: Int, x: Int) {
            let image = tile / perImage, within = tile % perImage
            return (image, within / tilesX * 4, within % tilesX * 4)
        }
    }

    /// V[ξ][row][c] = (Bᵀ d B)[ξ] for the tiles, from `firstRow` on.
    private func transformInput(_ input: UnsafePointer<Float>, _ geometry: TileGeometry, tiles: Range<Int>,
                                into v: UnsafeMutablePointer<Float>, firstRow: Int, capacity: Int, patch: UnsafeMutablePointer<Float>) {
        let (channels, padded, lanes) = (inputChannels, paddedInput, Self.lanes)
        let columnsFull = channels % lanes == 0
        for (index, tile) in tiles.enumerated() {
            let row = firstRow + index
            let (image, y0, x0) = geometry.origin(tile)
            let (top, left) = (y0 - 1, x0 - 1)
            let interior = columnsFull && top >= 0 && left >= 0 && top + 6 <= geometry.height && left + 6 <= geometry.width
            let imageBase = input + image * geometry.height * geometry.width * channels
            for c in stride(from: 0, to: padded, by: lanes) {
                let target = v + row * padded + c
                if interior {
                    Self.inputTile(imageBase + (top * geometry.width + left) * channels + c, rowStride: geometry.width * channels,
                                   columnStride: channels, into: target, positionStride: capacity * padded, scratch: patch)
                } else {
                    // the 6×6 patch with zeros outside the map and past the last channel
                    let live = min(lanes, channels - c)
                    for i in 0..<6 {
                        for j in 0..<6 {
                            let cell = patch + 36 * lanes + (i * 6 + j) * lanes
                            let (y, x) = (top + i, left + j)
                            if y >= 0 && y < geometry.height && x >= 0 && x < geometry.width {
                                let from = imageBase + (y * geometry.width + x) * channels + c
                                if live == lanes {
                                    cell.update(from: from, count: lanes)
                                } else {
                                    cell.update(from: from, count: live)
                                    (cell + live).update(repeating: 0, count: lanes - live)
                                }
                            } else {
                                cell.update(repeating: 0, count: lanes)
                            }
                        }
                    }
                    Self.inputTile(patch + 36 * lanes, rowStride: 6 * lanes, columnStride: lanes, into: target,
                                   positionStride: capacity * padded, scratch: patch)
                }
            }
        }
    }

    /// Bᵀ d B for one 16-channel 6×6 tile: Bᵀ down each column into `scratch`, then along each row.
    /// Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1].
    @inline(__always)
    private static func inputTile(_ source: UnsafePointer<Float>, rowStride: Int, columnStride: Int,
                                  into target: UnsafeMutablePointer<Float>, positionStride: Int, scratch: UnsafeMutablePointer<Float>) {
        for j in 0..<6 {
            let s = source + j * columnStride
            let (d0, d1, d2) = (MicroKernel.load(s), MicroKernel.load(s + rowStride), MicroKernel.load(s + 2 * rowStride))
            let (d3, d4, d5) = (MicroKernel.load(s + 3 * rowStride), MicroKernel.load(s + 4 * rowStride), MicroKernel.load(s + 5 * rowStride))
            let t = scratch + j * lanes
            combineInput(d0, d1, d2, d3, d4, d5) { MicroKernel.store(t + $0 * 6 * lanes, $1) }
        }
        for i in 0..<6 {
            let s = scratch + i * 6 * lanes
            let (d0, d1, d2) = (MicroKernel.load(s), MicroKernel.load(s + lanes), MicroKernel.load(s + 2 * lanes))
            let (d3, d4, d5) = (MicroKernel.load(s + 3 * lanes), MicroKernel.load(s + 4 * lanes), MicroKernel.load(s + 5 * lanes))
            let t = target + i * 6 * positionStride
            combineInput(d0, d1, d2, d3, d4, d5) { MicroKernel.store(t + $0 * positionStride, $1) }
        }
    }

    @inline(__always)
    private static func combineInput(_ d0: Vector, _ d1: Vector, _ d2: Vector, _ d3: Vector, _ d4: Vector, _ d5: Vector,
                                     _ emit: (Int, Vector) -> Void) {
        let four = Vector(repeating: 4), five = Vector(repeating: 5), two = Vector(repeating: 2)
        let a = d4 - four * d2, b = d3 - four * d1  // rows 1 and 2: a ± b
        let c = d4 - d2, e = two * (d3 - d1)         // rows 3 and 4: c ± e
        emit(0, four * d0 - five * d2 + d4)
        emit(1, a + b)
        emit(2, a - b)
        emit(3, c + e)
        emit(4, c - e)
        emit(5, four * d1 - five * d3 + d5)
    }

    /// M[ξ] = V[ξ] · U[ξ] for the 36 positions, [rows × paddedInput] · [paddedInput × paddedOutput].
    private func multiply(_ v: UnsafePointer<Float>, _ u: UnsafePointer<Float>, into products: UnsafeMutablePointer<Float>,
                          capacity: Int, rows: Int, positions: Range<Int>) {
        let (k, n, lanes) = (paddedInput, paddedOutput, Self.lanes)
        for position in positions {
            let a = v + position * capacity * k, b = u + position * k * n, c = products + position * capacity * n
            var column = 0
            while column + 2 * lanes <= n {
                for row in stride(from: 0, to: rows, by: Self.rows) {
                    MicroKernel.kernel6x32(a + row * k, lda: k, b + column, ldb: n, c + row * n + column, ldc: n, depth: k)
                }
                column += 2 * lanes
            }
            if column < n {
                for row in stride(from: 0, to: rows, by: Self.rows) {
                    MicroKernel.kernel6x16(a + row * k, lda: k, b + column, ldb: n, c + row * n + column, ldc: n, depth: k)
                }
            }
        }
    }

    /// Aᵀ M A + bias for the block's tiles, activated, into the NHWC output (cropped at the map's
    /// edges and at the last channel).
    private func transformOutput(_ products: UnsafePointer<Float>, capacity: Int, bias: UnsafePointer<Float>,
                                 _ geometry: TileGeometry, tiles: Range<Int>, firstRow: Int,
                                 into output: UnsafeMutablePointer<Float>, patch: UnsafeMutablePointer<Float>) {
        let (channels, padded, lanes) = (outputChannels, paddedOutput, Self.lanes)
        let positionStride = capacity * padded
        for (index, tile) in tiles.enumerated() {
            let row = firstRow + index
            let (image, y0, x0) = geometry.origin(tile)
            let (rows, columns) = (min(4, geometry.height - y0), min(4, geometry.width - x0))
            let full = rows == 4 && columns == 4 && channels % lanes == 0
            let corner = output + ((image * geometry.height + y0) * geometry.width + x0) * channels
            for c in stride(from: 0, to: padded, by: lanes) {
                let source = products + row * padded + c
                let shift = MicroKernel.load(bias + c)
                if full {
                    Self.outputTile(source, positionStride: positionStride, bias: shift, into: corner + c,
                                    rowStride: geometry.width * channels, columnStride: channels, scratch: patch)
                } else {
                    Self.outputTile(source, positionStride: positionStride, bias: shift, into: patch + 36 * lanes,
                                    rowStride: 4 * lanes, columnStride: lanes, scratch: patch)
                    let live = min(lanes, channels - c)
                    for i in 0..<rows {
                        for j in 0..<columns {
                            (corner + (i * geometry.width + j) * channels + c).update(from: patch + 36 * lanes + (i * 4 + j) * lanes, count: live)
                        }
                    }
                }
            }
            for i in 0..<rows { activation.apply(corner + i * geometry.width * channels, count: columns * channels) }
        }
    }

    /// Aᵀ M A + bias for one 16-channel tile: Aᵀ along each row of M into `scratch`, then down
    /// each column. Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
    @inline(__always)
    private static func outputTile(_ source: UnsafePointer<Float>, positionStride: Int, bias: Vector,
                                   into target: UnsafeMutablePointer<Float>, rowStride: Int, columnStride: Int,
                                   scratch: UnsafeMutablePointer<Float>) {
        for i in 0..<6 {
            let s = source + i * 6 * positionStride
            let (m0, m1, m2) = (MicroKernel.load(s), MicroKernel.load(s + positionStride), MicroKernel.load(s + 2 * positionStride))
            let (m3, m4, m5) = (MicroKernel.load(s + 3 * positionStride), MicroKernel.load(s + 4 * positionStride), MicroKernel.load(s + 5 * positionStride))
            let t = scratch + i * 4 * lanes
            combineOutput(m0, m1, m2, m3, m4, m5) { MicroKernel.store(t + $0 * lanes, $1) }
        }
        for j in 0..<4 {
            let s = scratch + j * lanes
            let (m0, m1, m2) = (MicroKernel.load(s), MicroKernel.load(s + 4 * lanes), MicroKernel.load(s + 8 * lanes))
            let (m3, m4, m5) = (MicroKernel.load(s + 12 * lanes), MicroKernel.load(s + 16 * lanes), MicroKernel.load(s + 20 * lanes))
            let t = target + j * columnStride
            combineOutput(m0, m1, m2, m3, m4, m5) { MicroKernel.store(t + $0 * rowStride, $1 + bias) }
        }
    }

    @inline(__always)
    private static func combineOutput(_ m0: Vector, _ m1: Vector, _ m2: Vector, _ m3: Vector, _ m4: Vector, _ m5: Vector,
                                      _ emit: (Int, Vector) -> Void) {
        let sum12 = m1 + m2, difference12 = m1 - m2, sum34 = m3 + m4, difference34 = m3 - m4
        emit(0, m0 + sum12 + sum34)
        emit(1, difference12 + Vector(repeating: 2) * difference34)
        emit(2, sum12 + Vector(repeating: 4) * sum34)
        emit(3, difference12 + Vector(repeating: 8) * difference34 + m5)
    }
}

/// `value` rounded up to a multiple of `multiple`.
private func roundedUp(_ value: Int, to multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }
