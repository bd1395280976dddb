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
        var out = Tensor(shape: [batch, queryLength, width])
        var scores = [Float](repeating: 0, count: queryLength * keyLength)
        query.storage.withUnsafeBufferPointer { q in
            key.storage.withUnsafeBufferPointer { k in
                value.storage.withUnsafeBufferPointer { v in
                    out.storage.withUnsafeMutableBufferPointer { o in
                        for n in 0..<batch {
                            for head in 0..<heads {
                                let qBase = q.baseAddress! + n * queryLength * width + head * headWidth
                                let kBase = k.baseAddress! + n * keyLength * width + head * headWidth
                                let vBase = v.baseAddress! + n * keyLength * width + head * headWidth
                                let oBase = o.baseAddress! + n * queryLength * width + head * headWidth
                                scores.withUnsafeMutableBufferPointer { s in
                                    Gemm.multiply(m: queryLength, n: keyLength, k: headWidth, a: qBase, lda: width,
                                                  b: kBase, ldb: width, transposeB: true, c: s.baseAddress!, ldc: keyLength,
                                                  alpha: scale)
                                    softmaxRows(s.baseAddress!, rows: queryLength, width: keyLength)
                                    Gemm.multiply(m: queryLength, n: headWidth, k: keyLength, a: s.baseAddress!, lda: keyLength,
                                                  b: vBase, ldb: width, c: oBase, ldc: width)
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// `multi_scale_deformable_attn_pytorch`: per query and head, the attention-weighted sum of
    /// bilinear samples (zero padding) of each level's values. value [B, Lv, heads, d];
    /// locations [B, Lq, heads, levels·points, 2] in [0, 1]; weights [B, Lq, heads, levels·points].
    public static func deformableAttention(value: Tensor, levelShapes: [(height: Int, width: Int)],
                                           locations: Tensor, weights: Tensor) -> Tensor {
        let (batch, valueLength, heads, headWidth) = (value.shape[0], value.shape[1], value.shape[2], value.shape[3])
        let queryLength = locations.shape[1]
        let totalPoints = locations.shape[3]
        let points = totalPoints / levelShapes.count
        var starts = [Int]()
        var running = 0
        for level in levelShapes { starts.append(running); running += level.height * level.width }
        precondition(running == valueLength, "value length \(valueLength) for levels \(levelShapes)")
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
                                    let level = point / points
                                    let (height, levelWidth) = levelShapes[level]
                                    let location = where_! + (index * totalPoints + point) * 2
                                    // grid_sample coordinates: 2·loc − 1
                                    let tap = BilinearTap(x: 2 * location[0] - 1, y: 2 * location[1] - 1,
                                                          width: levelWidth, height: height, padding: .zeros)
                                    let a = attention![index * totalPoints + point]
                                    let plane = values! + ((n * valueLength + starts[level]) * heads + head) * headWidth
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
        var values = [[Float]](), indices = [[Int]]()
        for row in 0..<rows {
            let base = row * n
            let order = (0..<n).sorted { a, b in
                // NaN ranks above everything, as in torch.topk
                let x = storage[base + a].isNaN ? Float.infinity : storage[base + a]
                let y = storage[base + b].isNaN ? Float.infinity : storage[base + b]
                return x != y ? x > y : a < b
            }.prefix(k)
            indices.append(Array(order))
            values.append(order.map { storage[base + $0] })
        }
        return (values, indices)
    }
}

/// In-place softmax of each row.
func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
    for row in 0..<rows {
        let start = x + row * width
        var largest = -Float.infinity
        for i in 0..<width { largest = max(largest, start[i]) }
        var sum: Float = 0
        for i in 0..<width { let e = expf(start[i] - largest); start[i] = e; sum += e }
        let inverse = 1 / sum
        for i in 0..<width { start[i] *= inverse }
    }
}
