import CDNNL

/// Matrix products through oneDNN's `dnnl_sgemm` (row-major, multi-threaded with OpenMP).
public enum Gemm {
    /// C[M×N] = alpha · op(A) · op(B) + beta · C, row-major with leading dimensions.
    /// `transposeA` reads A as K×M (lda ≥ M), otherwise M×K (lda ≥ K); likewise B.
    public static func multiply(m: Int, n: Int, k: Int,
                                a: UnsafePointer<Float>, lda: Int, transposeA: Bool = false,
                                b: UnsafePointer<Float>, ldb: Int, transposeB: Bool = false,
                                c: UnsafeMutablePointer<Float>, ldc: Int,
                                alpha: Float = 1, beta: Float = 0) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            // oneDNN rejects K = 0; the product is empty, so C = beta · C (beta 0: C need not
            // have been initialised, as in BLAS)
            for row in 0..<m { for column in 0..<n { c[row * ldc + column] = beta == 0 ? 0 : c[row * ldc + column] * beta } }
            return
        }
        let status = dnnl_sgemm(transposeA ? 84 : 78, transposeB ? 84 : 78,  // 'T' : 'N'
                                dnnl_dim_t(m), dnnl_dim_t(n), dnnl_dim_t(k), alpha,
                                a, dnnl_dim_t(lda), b, dnnl_dim_t(ldb), beta, c, dnnl_dim_t(ldc))
        precondition(status == dnnl_success, "dnnl_sgemm failed (\(status.rawValue)) for M=\(m) N=\(n) K=\(k)")
    }
}

extension Gemm {
    /// Runs one small product of each transposition, so oneDNN generates its GEMM kernels (code
    /// it writes on first use, once per process) now rather than inside a timed forward pass.
    /// Only the first call does the work.
    public static func prepareKernels() { _ = kernelsPrepared }

    private static let kernelsPrepared: Void = {
        let size = 64
        let a = [Float](repeating: 1, count: size * size), b = a
        var c = [Float](repeating: 0, count: size * size)
        for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
            for (m, n) in [(size, size), (1, size), (size, 1)] {
                a.withUnsafeBufferPointer { a in
                    b.withUnsafeBufferPointer { b in
                        c.withUnsafeMutableBufferPointer { c in
                            multiply(m: m, n: n, k: size, a: a.baseAddress!, lda: size, transposeA: transposeA,
                                     b: b.baseAddress!, ldb: size, transposeB: transposeB, c: c.baseAddress!, ldc: size)
                        }
                    }
                }
            }
        }
    }()
}

extension Tensor {
    /// `[..., K] · [K, N]` (or `[N, K]` when `transposeOther`), as `x @ w` / `x @ w.T`.
    public func matmul(_ other: Tensor, transposeOther: Bool = false) -> Tensor {
        let k = shape[rank - 1]
        let rows = count / max(k, 1)
        let n = transposeOther ? other.shape[0] : other.shape[1]
        precondition((transposeOther ? other.shape[1] : other.shape[0]) == k, "matmul \(shape) × \(other.shape)")
        var outShape = shape
        outShape[rank - 1] = n
        var out = Tensor(shape: outShape)
        if out.count == 0 || k == 0 { return out }
        storage.withUnsafeBufferPointer { a in
            other.storage.withUnsafeBufferPointer { b in
                out.storage.withUnsafeMutableBufferPointer { c in
                    Gemm.multiply(m: rows, n: n, k: k, a: a.baseAddress!, lda: k,
                                  b: b.baseAddress!, ldb: transposeOther ? k : n, transposeB: transposeOther,
                                  c: c.baseAddress!, ldc: n)
                }
            }
        }
        return out
    }

    /// `nn.Linear`: x[..., in] · weightᵀ[in, out] + bias.
    public func linear(weight: Tensor, bias: Tensor?) -> Tensor {
        guard let bias else { return matmul(weight, transposeOther: true) }
        let k = shape[rank - 1], n = weight.shape[0]
        precondition(weight.shape[1] == k && bias.count == n, "linear \(shape) × \(weight.shape)ᵀ + \(bias.shape)")
        var outShape = shape
        outShape[rank - 1] = n
        let rows = count / max(k, 1)
        // the output starts as the bias rows and the GEMM adds the product (beta = 1): one pass
        // over the output instead of a zero fill and then a bias pass
        return Tensor(shape: outShape) { out in
            guard let c = out.baseAddress, n > 0 else { return }
            Tensor.fillRows(c, rows: rows, with: bias)
            storage.withUnsafeBufferPointer { a in
                weight.storage.withUnsafeBufferPointer { b in
                    if rows > 0 && k > 0 {
                        Gemm.multiply(m: rows, n: n, k: k, a: a.baseAddress!, lda: k, b: b.baseAddress!, ldb: k, transposeB: true,
                                      c: c, ldc: n, beta: 1)
                    }
                }
            }
        }
    }

    /// Writes `row` into each of `rows` consecutive rows at `target`, rows in parallel.
    static func fillRows(_ target: UnsafeMutablePointer<Float>, rows: Int, with row: Tensor) {
        let width = row.count
        row.storage.withUnsafeBufferPointer { values in
            let source = values.baseAddress!
            Threads.parallelRanges(rows, minimumPerChunk: max(1, 16384 / max(width, 1))) { range in
                for r in range { (target + r * width).update(from: source, count: width) }
            }
        }
    }

    /// `nn.Conv2d` 1×1 (weight [out, C] or [out, C, 1, 1], optional bias) over maps, NCHW or
    /// (where `channelsLast`) NHWC [N, H, W, C], written as tokens: [B, Σ H·W, out], each map's
    /// positions in raster order after the previous map's — the flatten-permute-concatenate of
    /// a detection head's input, done by one GEMM per map straight into place (an NHWC map is
    /// already a [positions, C] matrix).
    public static func tokens(projecting maps: [Tensor], channelsLast: [Bool], weights: [Tensor], biases: [Tensor?]) -> Tensor {
        precondition(maps.count == weights.count && maps.count == biases.count && maps.count == channelsLast.count && !maps.isEmpty)
        let batch = maps[0].shape[0], width = weights[0].shape[0]
        let total = zip(maps, channelsLast).reduce(0) { $0 + ($1.1 ? $1.0.shape[1] * $1.0.shape[2] : $1.0.shape[2] * $1.0.shape[3]) }
        return Tensor(shape: [batch, total, width]) { out in
            guard let base = out.baseAddress else { return }
            for n in 0..<batch {
                var start = 0
                for (level, map) in maps.enumerated() {
                    let last = channelsLast[level]
                    let (channels, positions) = last ? (map.shape[3], map.shape[1] * map.shape[2]) : (map.shape[1], map.shape[2] * map.shape[3])
                    precondition(weights[level].count == width * channels && map.shape[0] == batch)
                    let target = base + (n * total + start) * width
                    if let bias = biases[level] {
                        fillRows(target, rows: positions, with: bias)
                    } else {
                        target.update(repeating: 0, count: positions * width)
                    }
                    map.storage.withUnsafeBufferPointer { a in
                        weights[level].storage.withUnsafeBufferPointer { b in
                            Gemm.multiply(m: positions, n: width, k: channels,
                                          a: a.baseAddress! + n * channels * positions, lda: last ? channels : positions, transposeA: !last,
                                          b: b.baseAddress!, ldb: channels, transposeB: true, c: target, ldc: width, beta: 1)
                        }
                    }
                    start += positions
                }
            }
        }
    }
    /// The transpose of `tokens(projecting:)`: the 1×1 convolutions written as one [B, out, Σ H·W]
    /// tensor, each map's positions after the previous map's — a detection head's last convs
    /// and its flatten-and-concatenate in one GEMM per map and image (C = W · X, X read as it
    /// is held: [C, H·W] planes, or [H·W, C] rows of an NHWC map).
    public static func flattenedPointwise(_ maps: [Tensor], channelsLast: [Bool], weights: [Tensor], biases: [Tensor?]) -> Tensor {
        precondition(maps.count == weights.count && maps.count == biases.count && maps.count == channelsLast.count && !maps.isEmpty)
        let batch = maps[0].shape[0], width = weights[0].shape[0]
        let positions = zip(maps, channelsLast).map { $1 ? $0.shape[1] * $0.shape[2] : $0.shape[2] * $0.shape[3] }
        let total = positions.reduce(0, +)
        return Tensor(shape: [batch, width, total]) { out in
            guard let base = out.baseAddress else { return }
            var start = 0
            for (level, map) in maps.enumerated() {
                let last = channelsLast[level], count = positions[level]
                let channels = last ? map.shape[3] : map.shape[1]
                precondition(weights[level].count == width * channels && map.shape[0] == batch && weights[level].shape[0] == width)
                for n in 0..<batch {
                    let target = base + n * width * total + start
                    for o in 0..<width {
                        (target + o * total).update(repeating: biases[level]?.storage[o] ?? 0, count: count)
                    }
                    map.storage.withUnsafeBufferPointer { b in
                        weights[level].storage.withUnsafeBufferPointer { a in
                            Gemm.multiply(m: width, n: count, k: channels, a: a.baseAddress!, lda: channels,
                                          b: b.baseAddress! + n * channels * count, ldb: last ? channels : count, transposeB: last,
                                          c: target, ldc: total, beta: 1)
                        }
                    }
                }
                start += count
            }
        }
    }
}

extension Tensor {
    /// `torch.matmul(a, b)` of [..., M, K] and [..., K, N] with the leading axes broadcast, one
    /// GEMM per output matrix. `transposeA` / `transposeB`: the operand is given with its two
    /// last axes swapped ([..., K, M] / [..., N, K]) and read transposed in place.
    public static func batchedMatmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul of \(a.shape) and \(b.shape)")
        let (aRows, aColumns) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (bRows, bColumns) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transposeA ? (aColumns, aRows) : (aRows, aColumns)
        let n = transposeB ? bRows : bColumns
        precondition((transposeB ? bColumns : bRows) == k, "matmul of \(a.shape) and \(b.shape)")
        let (aLeading, bLeading) = (Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)))
        let rank = max(aLeading.count, bLeading.count)
        let aPadded = Array(repeating: 1, count: rank - aLeading.count) + aLeading
        let bPadded = Array(repeating: 1, count: rank - bLeading.count) + bLeading
        let batchShape = zip(aPadded, bPadded).map { $0 == 1 ? $1 : $0 }
        precondition(zip(aPadded, bPadded).allSatisfy { $0 == $1 || $0 == 1 || $1 == 1 }, "matmul of \(a.shape) and \(b.shape)")
        let batches = batchShape.reduce(1, *)
        let (aOffsets, bOffsets) = (matrixOffsets(a.shape, batchShape: batchShape), matrixOffsets(b.shape, batchShape: batchShape))
        var out = Tensor(shape: batchShape + [m, n])
        if out.count == 0 { return out }
        a.storage.withUnsafeBufferPointer { pa in
            b.storage.withUnsafeBufferPointer { pb in
                out.storage.withUnsafeMutableBufferPointer { pc in
                    for batch in 0..<batches {
                        Gemm.multiply(m: m, n: n, k: k, a: pa.baseAddress! + aOffsets[batch], lda: aColumns, transposeA: transposeA,
                                      b: pb.baseAddress! + bOffsets[batch], ldb: bColumns, transposeB: transposeB,
                                      c: pc.baseAddress! + batch * m * n, ldc: n)
                    }
                }
            }
        }
        return out
    }
}

extension Tensor {
    /// Where each matrix of a batched product over `batchShape` starts in a tensor of `shape`
    /// [..., rows, columns]: its leading axes padded to `batchShape`'s rank, size-1 axes broadcast
    /// (`torch.matmul`'s rule).
    public static func matrixOffsets(_ shape: [Int], batchShape: [Int]) -> [Int] {
        let leading = Array(shape.dropLast(2))
        let padded = Array(repeating: 1, count: batchShape.count - leading.count) + leading
        let strides = Tensor.strides(of: padded)
        let matrix = shape.suffix(2).reduce(1, *)
        return (0..<batchShape.reduce(1, *)).map { index in
            var rest = index, offset = 0
            for axis in stride(from: batchShape.count - 1, through: 0, by: -1) {
                let coordinate = rest % batchShape[axis]
                rest /= batchShape[axis]
                if padded[axis] != 1 { offset += coordinate * strides[axis] }
            }
            return offset * matrix
        }
    }
}
