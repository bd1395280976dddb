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
            // oneDNN rejects K = 0; the product is empty, so C = beta · C
            for row in 0..<m { for column in 0..<n { c[row * ldc + column] *= beta } }
            return
        }
        let status = dnnl_sgemm(transposeA ? 84 : 78, transposeB ? 84 : 78,  // 'T' : 'N'
                                dnnl_dim_t(m), dnnl_dim_t(n), dnnl_dim_t(k), alpha,
                                a, dnnl_dim_t(lda), b, dnnl_dim_t(ldb), beta, c, dnnl_dim_t(ldc))
        precondition(status == dnnl_success, "dnnl_sgemm failed (\(status.rawValue)) for M=\(m) N=\(n) K=\(k)")
    }
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
        var out = matmul(weight, transposeOther: true)
        if let bias { out.addRowBias(bias) }
        return out
    }

    /// Adds a vector to every row of the last axis.
    public mutating func addRowBias(_ bias: Tensor) {
        let width = bias.count
        precondition(shape.last == width)
        let rows = count / max(width, 1)
        bias.storage.withUnsafeBufferPointer { b in
            storage.withUnsafeMutableBufferPointer { x in
                let source = b.baseAddress, target = x.baseAddress
                Threads.parallelRanges(rows, minimumPerChunk: max(1, 16384 / max(width, 1))) { range in
                    for row in range {
                        let base = target! + row * width
                        for i in 0..<width { base[i] += source![i] }
                    }
                }
            }
        }
    }
}
