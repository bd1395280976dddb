#if canImport(Glibc)
import Glibc
#endif

extension Tensor {
    /// Scaled dot-product attention of packed heads, as inside `nn.MultiheadAttention`:
    /// q [B, Lq, E], k and v [B, Lk, E], E = heads · d → [B, Lq, E].
    public static func attention(query: Tensor, key: Tensor, value: Tensor, heads: Int) -> Tensor {
        let (batch, queryLength, width) = (query.shape[0], query.shape[1], query.shape[2])
        let keyLength = key.shape[1]
        let headWidth = width / heads
        let scale = 1 / Float(headWidth).squareRoot()
        if headWidth % MicroKernel.lanes == 0 && queryLength > 0 && keyLength > 0 {
            return blockedAttention(query: query, key: key, value: value, heads: heads, scale: scale)
        }
        var out = Tensor(shape: [batch, queryLength, width])
        query.storage.withUnsafeBufferPointer { q in
            key.storage.withUnsafeBufferPointer { k in
                value.storage.withUnsafeBufferPointer { v in
                    out.storage.withUnsafeMutableBufferPointer { o in
                        let (qPointer, kPointer, vPointer, oPointer) = (q.baseAddress!, k.baseAddress!, v.baseAddress!, o.baseAddress!)
                        // heads in turn: each GEMM is threaded by oneDNN (a oneDNN call inside an
                        // OpenMP region measured 2× slower)
                        for task in 0..<(batch * heads) {
                            let n = task / heads, head = task % heads
                            let qBase = qPointer + n * queryLength * width + head * headWidth
                            let kBase = kPointer + n * keyLength * width + head * headWidth
                            let vBase = vPointer + n * keyLength * width + head * headWidth
                            let oBase = oPointer + n * queryLength * width + head * headWidth
                            let scores = UnsafeMutablePointer<Float>.allocate(capacity: queryLength * keyLength)
                            defer { scores.deallocate() }
                            Gemm.multiply(m: queryLength, n: keyLength, k: headWidth, a: qBase, lda: width,
                                          b: kBase, ldb: width, transposeB: true, c: scores, ldc: keyLength, alpha: scale)
                            softmaxRows(scores, rows: queryLength, width: keyLength)
                            Gemm.multiply(m: queryLength, n: headWidth, k: keyLength, a: scores, lda: keyLength,
                                          b: vBase, ldb: width, c: oBase, ldc: width)
                        }
                    }
                }
            }
        }
        return out
    }

    /// `attention` for heads of whole vectors: every (image, head, 6 query rows) is one task —
    /// scores by the register kernel against the head's transposed keys, softmax, then the
    /// weighted values — so the heads run in parallel (oneDNN's GEMMs on 300×300×32 products ran
    /// one head at a time, each too small to keep two cores busy).
    static func blockedAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int, scale: Float) -> Tensor {
        let (batch, queryLength, width) = (query.shape[0], query.shape[1], query.shape[2])
        let keyLength = key.shape[1], headWidth = width / heads
        let (rows, lanes) = (MicroKernel.rows, MicroKernel.lanes)
        // keys transposed per (image, head): [headWidth × paddedKeys], zero past the last key
        let paddedKeys = (keyLength + 2 * lanes - 1) / (2 * lanes) * (2 * lanes)
        var transposedKeys = [Float](repeating: 0, count: batch * heads * headWidth * paddedKeys)
        key.storage.withUnsafeBufferPointer { k in
            transposedKeys.withUnsafeMutableBufferPointer { t in
                let (source, target) = (k.baseAddress!, t.baseAddress!)
                Threads.parallelFor(batch * heads) { task in
                    let n = task / heads, head = task % heads
                    let keys = source + n * keyLength * width + head * headWidth, into = target + task * headWidth * paddedKeys
                    for j in 0..<keyLength { for c in 0..<headWidth { into[c * paddedKeys + j] = keys[j * width + c] } }
                }
            }
        }
        let blocks = (queryLength + rows - 1) / rows
        return Tensor(shape: [batch, queryLength, width]) { out in
            query.storage.withUnsafeBufferPointer { q in
                value.storage.withUnsafeBufferPointer { v in
                    transposedKeys.withUnsafeBufferPointer { t in
                        let (queries, values, keysT, output) = (q.baseAddress!, v.baseAddress!, t.baseAddress!, out.baseAddress!)
                        Threads.parallelFor(batch * heads * blocks) { task in
                            let block = task % blocks, pair = task / blocks
                            let n = pair / heads, head = pair % heads
                            let first = block * rows, live = min(rows, queryLength - first)
                            withUnsafeTemporaryAllocation(of: Float.self, capacity: rows * (paddedKeys + 2 * headWidth)) { scratch in
                                let scores = scratch.baseAddress!, padded = scores + rows * paddedKeys, result = padded + rows * headWidth
                                // the block's query rows; a last partial block is copied and zero-filled to 6
                                var a = queries + (n * queryLength + first) * width + head * headWidth, lda = width
                                if live < rows {
                                    padded.update(repeating: 0, count: rows * headWidth)
                                    for r in 0..<live { (padded + r * headWidth).update(from: a + r * width, count: headWidth) }
                                    (a, lda) = (UnsafePointer(padded), headWidth)
                                }
                                let keyBlock = keysT + pair * headWidth * paddedKeys
                                for column in stride(from: 0, to: paddedKeys, by: 2 * lanes) {
                                    MicroKernel.kernel6x32(a, lda: lda, keyBlock + column, ldb: paddedKeys, scores + column, ldc: paddedKeys, depth: headWidth)
                                }
                                for r in 0..<rows {
                                    let row = scores + r * paddedKeys
                                    for j in 0..<keyLength { row[j] *= scale }
                                    FastMath.softmax(row, count: keyLength)
                                }
                                // out rows = scores · this head's values; a partial block goes through `result`
                                let target = live < rows ? result : output + (n * queryLength + first) * width + head * headWidth
                                let ldc = live < rows ? headWidth : width
                                let valueBlock = values + n * keyLength * width + head * headWidth
                                var column = 0
                                while column + 2 * lanes <= headWidth {
                                    MicroKernel.kernel6x32(scores, lda: paddedKeys, valueBlock + column, ldb: width, target + column, ldc: ldc, depth: keyLength)
                                    column += 2 * lanes
                                }
                                if column < headWidth {
                                    MicroKernel.kernel6x16(scores, lda: paddedKeys, valueBlock + column, ldb: width, target + column, ldc: ldc, depth: keyLength)
                                }
                                if live < rows {
                                    for r in 0..<live {
                                        (output + (n * queryLength + first + r) * width + head * headWidth).update(from: result + r * headWidth, count: headWidth)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `multi_scale_deformable_attn_pytorch`: per query and head, the attention-weighted sum of
    /// bilinear samples (zero padding) of each level's values. value [B, Lv, heads, d];
    /// locations [B, Lq, heads, levels·points, 2] in [0, 1]; weights [B, Lq, heads, levels·points].
    public static func deformableAttention(value: Tensor, levelShapes: [(height: Int, width: Int)],
                                           locations: Tensor, weights: Tensor) -> Tensor {
        let (batch, valueLength, heads, headWidth) = (value.shape[0], value.shape[1], value.shape[2], value.shape[3])
        let queryLength = locations.shape[1]
        let sampling = DeformableSampling(levelShapes: levelShapes, valueLength: valueLength, totalPoints: locations.shape[3])
        let totalPoints = sampling.totalPoints
        let width = heads * headWidth
        return Tensor(shape: [batch, queryLength, width]) { out in
            value.storage.withUnsafeBufferPointer { v in
                locations.storage.withUnsafeBufferPointer { l in
                    weights.storage.withUnsafeBufferPointer { w in
                        let destination = out.baseAddress, values = v.baseAddress, where_ = l.baseAddress, attention = w.baseAddress
                        Threads.parallelRanges(batch * queryLength * heads, minimumPerChunk: 64) { range in
                            for index in range {
                                let n = index / (queryLength * heads)
                                let head = index % heads
                                let output = destination! + index * headWidth
                                for i in 0..<headWidth { output[i] = 0 }
                                for point in 0..<totalPoints {
                                    let (level, tap) = sampling.tap(where_!, sample: index * totalPoints + point)
                                    let a = attention![index * totalPoints + point]
                                    let plane = values! + ((n * valueLength + sampling.starts[level]) * heads + head) * headWidth
                                    for i in 0..<headWidth {
                                        output[i] += a * tap.sample(plane + i, stride: width)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The `k` largest elements of each row of a [rows, n] tensor, largest first (ties: lower
    /// index first), as `torch.topk(x, k, dim=1)`.
    public func topK(_ k: Int) -> (values: [[Float]], indices: [[Int]]) {
        let n = shape[rank - 1]
        let rows = count / max(n, 1)
        let kept = min(k, n)
        var values = [[Float]](), indices = [[Int]]()
        for row in 0..<rows {
            let base = row * n
            // NaN ranks above everything, as in torch.topk; the index breaks ties, so the order is total
            func key(_ i: Int) -> Float { storage[base + i].isNaN ? .infinity : storage[base + i] }
            func better(_ a: Int, _ b: Int) -> Bool { key(a) != key(b) ? key(a) > key(b) : a < b }
            // a heap of the best `kept` so far, its worst at the root: O(n log k), not a full sort
            var heap = [Int]()
            heap.reserveCapacity(kept)
            func siftDown(_ start: Int) {
                var parent = start
                while true {
                    let left = 2 * parent + 1, right = left + 1
                    var worst = parent
                    if left < heap.count && better(heap[worst], heap[left]) { worst = left }
                    if right < heap.count && better(heap[worst], heap[right]) { worst = right }
                    if worst == parent { return }
                    heap.swapAt(parent, worst)
                    parent = worst
                }
            }
            for i in 0..<n where kept > 0 {
                if heap.count < kept {
                    heap.append(i)
                    var child = heap.count - 1
                    while child > 0, better(heap[(child - 1) / 2], heap[child]) {
                        heap.swapAt(child, (child - 1) / 2)
                        child = (child - 1) / 2
                    }
                } else if better(i, heap[0]) {
                    heap[0] = i
                    siftDown(0)
                }
            }
            let order = heap.sorted(by: better)
            indices.append(order)
            values.append(order.map { storage[base + $0] })
        }
        return (values, indices)
    }
}

/// The levels of a multi-scale deformable attention: where each level's tokens start, and the
/// bilinear tap of each sampling location (grid_sample coordinates 2·loc − 1, zero padding).
struct DeformableSampling {
    let levelShapes: [(height: Int, width: Int)]
    let starts: [Int]
    let totalPoints: Int
    let pointsPerLevel: Int

    init(levelShapes: [(height: Int, width: Int)], valueLength: Int, totalPoints: Int) {
        var starts = [Int](), running = 0
        for level in levelShapes { starts.append(running); running += level.height * level.width }
        precondition(running == valueLength, "value length \(valueLength) for levels \(levelShapes)")
        self.levelShapes = levelShapes
        self.starts = starts
        self.totalPoints = totalPoints
        pointsPerLevel = totalPoints / levelShapes.count
    }

    /// The level and tap of sample `sample` (= (query·heads + head)·totalPoints + point) in
    /// `locations`, pairs of (x, y) in [0, 1].
    @inline(__always)
    func tap(_ locations: UnsafePointer<Float>, sample: Int) -> (level: Int, tap: BilinearTap) {
        let level = (sample % totalPoints) / pointsPerLevel
        let (height, width) = levelShapes[level]
        let location = locations + sample * 2
        return (level, BilinearTap(x: 2 * location[0] - 1, y: 2 * location[1] - 1, width: width, height: height, padding: .zeros))
    }
}

/// In-place softmax of each row.
func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    Threads.parallelRanges(rows, minimumPerChunk: max(1, 8192 / max(width, 1))) { range in
        for row in range { FastMath.softmax(x + row * width, count: width) }
    }
}

extension Tensor {
    /// `deformableAttention` with the value projection moved after the sampling: bilinear
    /// sampling and the attention-weighted sum are linear, so sampling the raw features and
    /// projecting the per-head sums gives the same result as projecting all Lv tokens first
    /// (the bias is scaled by the weight that fell inside the map, as zero padding applies to
    /// projected values). features [B, Lv, C]; valueWeight [heads·d, C]; valueBias [heads·d].
    public static func projectedDeformableAttention(features: Tensor, levelShapes: [(height: Int, width: Int)],
                                                    locations: Tensor, weights: Tensor,
                                                    valueWeight: Tensor, valueBias: Tensor, heads: Int) -> Tensor {
        let (batch, valueLength, channels) = (features.shape[0], features.shape[1], features.shape[2])
        let queryLength = locations.shape[1]
        let sampling = DeformableSampling(levelShapes: levelShapes, valueLength: valueLength, totalPoints: locations.shape[3])
        let totalPoints = sampling.totalPoints
        let width = valueWeight.shape[0], headWidth = width / heads
        // per (query, head): Σ a·w·feature (C values) and Σ a·w over in-map corners
        // (every element is written by weightedRowSum, so no zero fill first)
        var sums = [Float](unsafeUninitializedCapacity: batch * queryLength * heads * channels) { _, initialized in
            initialized = batch * queryLength * heads * channels
        }
        var mass = [Float](repeating: 0, count: batch * queryLength * heads)
        features.storage.withUnsafeBufferPointer { f in
            locations.storage.withUnsafeBufferPointer { l in
                weights.storage.withUnsafeBufferPointer { w in
                    sums.withUnsafeMutableBufferPointer { s in
                        mass.withUnsafeMutableBufferPointer { m in
                            let source = f.baseAddress, where_ = l.baseAddress, attention = w.baseAddress
                            let target = s.baseAddress, total = m.baseAddress
                            Threads.parallelRanges(batch * queryLength * heads, minimumPerChunk: 16) { range in
                                // the in-map corners of all points: (feature row, weight)
                                let taps = UnsafeMutablePointer<(row: Int, weight: Float)>.allocate(capacity: 4 * totalPoints)
                                defer { taps.deallocate() }
                                for index in range {
                                    let n = index / (queryLength * heads)
                                    var weightSum: Float = 0, tapCount = 0
                                    for point in 0..<totalPoints {
                                        let (level, tap) = sampling.tap(where_!, sample: index * totalPoints + point)
                                        let a = attention![index * totalPoints + point]
                                        let first = n * valueLength + sampling.starts[level]
                                        for corner in 0..<4 {
                                            let (offset, cornerWeight) = tap.corner(corner)
                                            if cornerWeight == 0 { continue }
                                            let scale = a * cornerWeight
                                            weightSum += scale
                                            taps[tapCount] = (first + offset, scale)
                                            tapCount += 1
                                        }
                                    }
                                    total![index] = weightSum
                                    weightedRowSum(source!, rows: taps, count: tapCount, width: channels, into: target! + index * channels)
                                }
                            }
                        }
                    }
                }
            }
        }
        var out = Tensor(shape: [batch, queryLength, width])
        sums.withUnsafeBufferPointer { s in
            valueWeight.storage.withUnsafeBufferPointer { v in
                out.storage.withUnsafeMutableBufferPointer { o in
                    for head in 0..<heads {
                        Gemm.multiply(m: batch * queryLength, n: headWidth, k: channels,
                                      a: s.baseAddress! + head * channels, lda: heads * channels,
                                      b: v.baseAddress! + head * headWidth * channels, ldb: channels, transposeB: true,
                                      c: o.baseAddress! + head * headWidth, ldc: width)
                    }
                    for row in 0..<(batch * queryLength) {
                        for head in 0..<heads {
                            let weightSum = mass[row * heads + head]
                            for j in 0..<headWidth {
                                o[row * width + head * headWidth + j] += valueBias.storage[head * headWidth + j] * weightSum
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// target = Σ_t rows[t].weight · source[rows[t].row · width ..< +width], taps in order: 64
/// columns at a time held in registers across all taps, so the target is written once instead
/// of loaded and stored per tap (the loop was bound by that traffic). Deformable attention's
/// samples and CARAFE's channels-last taps.
@inline(__always)
func weightedRowSum(_ source: UnsafePointer<Float>, rows: UnsafePointer<(row: Int, weight: Float)>, count: Int, width: Int,
                    into target: UnsafeMutablePointer<Float>) {
    typealias Vector = MicroKernel.Vector
    let (load, store) = (MicroKernel.load, MicroKernel.store)
    var column = 0
    while column + 64 <= width {
        var (a0, a1, a2, a3) = (Vector(), Vector(), Vector(), Vector())
        for t in 0..<count {
            let p = source + rows[t].row * width + column, w = Vector(repeating: rows[t].weight)
            a0 += w * load(p)
            a1 += w * load(p + 16)
            a2 += w * load(p + 32)
            a3 += w * load(p + 48)
        }
        store(target + column, a0)
        store(target + column + 16, a1)
        store(target + column + 32, a2)
        store(target + column + 48, a3)
        column += 64
    }
    while column + 16 <= width {
        var a0 = Vector()
        for t in 0..<count { a0 += Vector(repeating: rows[t].weight) * load(source + rows[t].row * width + column) }
        store(target + column, a0)
        column += 16
    }
    while column < width {
        var sum: Float = 0
        for t in 0..<count { sum += rows[t].weight * source[rows[t].row * width + column] }
        target[column] = sum
        column += 1
    }
}

extension Tensor {
    /// The core of Ultralytics' `Attention` (PSABlock, C2PSA, ABlock) on a qkv map
    /// [B, heads·(2·keyDim + headDim), H, W] whose channels are per head q, k, v:
    /// per head softmax((q·scale)ᵀ k) over the N = H·W keys, then v · attnᵀ.
    /// Returns the attended values and v itself, both [B, heads·headDim, H, W].
    public static func positionalAttention(qkv: Tensor, heads: Int, keyDimension: Int, headDimension: Int,
                                           scale: Float, areas: Int = 1) -> (attended: Tensor, values: Tensor) {
        attendPositions(qkv: qkv, heads: heads, keyDimension: keyDimension, headDimension: headDimension, scale: scale,
                        areas: areas, channelsLast: false)
    }

    /// `positionalAttention` on a channels-last qkv map (NHWC [N, H, W, heads·(2·key + head)]),
    /// returning NHWC maps: each head's q, k and v are column blocks of the position rows, read
    /// in place by the GEMMs (no reorders before or after).
    public static func positionalAttentionChannelsLast(qkv: Tensor, heads: Int, keyDimension: Int, headDimension: Int,
                                                       scale: Float, areas: Int = 1) -> (attended: Tensor, values: Tensor) {
        attendPositions(qkv: qkv, heads: heads, keyDimension: keyDimension, headDimension: headDimension, scale: scale,
                        areas: areas, channelsLast: true)
    }

    /// Both layouts: element (channel c, position p) of an image sits at c·channelStride +
    /// p·positionStride, one of the two strides being 1; the GEMMs read q, k and v in place.
    private static func attendPositions(qkv: Tensor, heads: Int, keyDimension: Int, headDimension: Int, scale: Float,
                                        areas: Int, channelsLast: Bool) -> (attended: Tensor, values: Tensor) {
        let shape = qkv.shape
        let (batch, channels, height, width) = channelsLast ? (shape[0], shape[3], shape[1], shape[2]) : (shape[0], shape[1], shape[2], shape[3])
        let positions = height * width, perHead = 2 * keyDimension + headDimension, outChannels = heads * headDimension
        precondition(channels == heads * perHead, "qkv \(channelsLast ? "NHWC " : "")\(shape) for \(heads) heads of \(perHead)")
        precondition(areas >= 1 && positions % areas == 0, "\(positions) positions in \(areas) areas")
        let (channelStride, positionStride) = channelsLast ? (1, channels) : (positions, 1)
        let (outChannelStride, outPositionStride) = channelsLast ? (1, outChannels) : (positions, 1)
        let outputShape = channelsLast ? [batch, height, width, outChannels] : [batch, outChannels, height, width]
        var attended = Tensor(shape: outputShape), values = Tensor(shape: outputShape)
        if positions == 0 { return (attended, values) }
        // AAttn's areas: runs of consecutive positions (horizontal strips), each attending only
        // within itself
        let span = positions / areas
        var query = [Float](repeating: 0, count: span * keyDimension)
        var scores = [Float](repeating: 0, count: span * span)
        qkv.storage.withUnsafeBufferPointer { source in
            attended.storage.withUnsafeMutableBufferPointer { output in
                values.storage.withUnsafeMutableBufferPointer { valueOutput in
                    for task in 0..<(batch * heads) {
                        let n = task / heads, head = task % heads
                        let q = source.baseAddress! + n * positions * channels + head * perHead * channelStride
                        let (k, v) = (q + keyDimension * channelStride, q + 2 * keyDimension * channelStride)
                        let out = output.baseAddress! + n * positions * outChannels + head * headDimension * outChannelStride
                        let valuesOut = valueOutput.baseAddress! + n * positions * outChannels + head * headDimension * outChannelStride
                        if channelsLast {
                            for p in 0..<positions { (valuesOut + p * outPositionStride).update(from: v + p * positionStride, count: headDimension) }
                        } else {
                            valuesOut.update(from: v, count: headDimension * positions)
                        }
                        for area in 0..<areas {
                            let first = area * span
                            // PyTorch scales q before the product, so the rounding matches
                            query.withUnsafeMutableBufferPointer { scaled in
                                for i in 0..<span {
                                    for d in 0..<keyDimension {
                                        scaled[i * keyDimension + d] = q[d * channelStride + (first + i) * positionStride] * scale
                                    }
                                }
                                scores.withUnsafeMutableBufferPointer { s in
                                    // scores[i, j] = Σ_d q[i, d] k[d, j]; k is [j][d] rows channels-last, [d][j] planes otherwise
                                    Gemm.multiply(m: span, n: span, k: keyDimension, a: scaled.baseAddress!, lda: keyDimension,
                                                  b: k + first * positionStride, ldb: channelsLast ? positionStride : channelStride,
                                                  transposeB: channelsLast, c: s.baseAddress!, ldc: span)
                                    softmaxRows(s.baseAddress!, rows: span, width: span)
                                    if channelsLast {
                                        // out[i, c] = Σ_j scores[i, j] v[j, c]
                                        Gemm.multiply(m: span, n: headDimension, k: span, a: s.baseAddress!, lda: span,
                                                      b: v + first * positionStride, ldb: positionStride,
                                                      c: out + first * outPositionStride, ldc: outPositionStride)
                                    } else {
                                        // out[c, i] = Σ_j v[c, j] scores[i, j]
                                        Gemm.multiply(m: headDimension, n: span, k: span, a: v + first, lda: channelStride,
                                                      b: s.baseAddress!, ldb: span, transposeB: true,
                                                      c: out + first, ldc: outChannelStride)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (attended, values)
    }
}
