/// Register-blocked matrix kernels shared by the Winograd products and attention: C[6 × 32]
/// (or [6 × 16]) = A[6 × depth] · B[depth × 32] with rows of A and B at any stride,
/// single-threaded (callers split the work).
enum MicroKernel {
    typealias Vector = SIMD16<Float>
    static let lanes = 16
    /// Rows of A per call.
    static let rows = 6

    /// C[6 × 32] = A[6 × depth] · B[depth × 32]: twelve 16-lane accumulators, one broadcast of A
    /// per row and two vectors of B per step.
    @inline(__always)
    static func kernel6x32(_ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                                   _ c: UnsafeMutablePointer<Float>, ldc: Int, depth: Int) {
        var c00 = Vector(), c01 = Vector(), c10 = Vector(), c11 = Vector(), c20 = Vector(), c21 = Vector()
        var c30 = Vector(), c31 = Vector(), c40 = Vector(), c41 = Vector(), c50 = Vector(), c51 = Vector()
        var (a0, a1, a2, a3, a4, a5) = (a, a + lda, a + 2 * lda, a + 3 * lda, a + 4 * lda, a + 5 * lda)
        var bp = b
        for _ in 0..<depth {
            let b0 = load(bp), b1 = load(bp + lanes)
            var s = Vector(repeating: a0.pointee); c00 = c00.addingProduct(s, b0); c01 = c01.addingProduct(s, b1)
            s = Vector(repeating: a1.pointee); c10 = c10.addingProduct(s, b0); c11 = c11.addingProduct(s, b1)
            s = Vector(repeating: a2.pointee); c20 = c20.addingProduct(s, b0); c21 = c21.addingProduct(s, b1)
            s = Vector(repeating: a3.pointee); c30 = c30.addingProduct(s, b0); c31 = c31.addingProduct(s, b1)
            s = Vector(repeating: a4.pointee); c40 = c40.addingProduct(s, b0); c41 = c41.addingProduct(s, b1)
            s = Vector(repeating: a5.pointee); c50 = c50.addingProduct(s, b0); c51 = c51.addingProduct(s, b1)
            a0 += 1; a1 += 1; a2 += 1; a3 += 1; a4 += 1; a5 += 1
            bp += ldb
        }
        store(c, c00); store(c + lanes, c01)
        store(c + ldc, c10); store(c + ldc + lanes, c11)
        store(c + 2 * ldc, c20); store(c + 2 * ldc + lanes, c21)
        store(c + 3 * ldc, c30); store(c + 3 * ldc + lanes, c31)
        store(c + 4 * ldc, c40); store(c + 4 * ldc + lanes, c41)
        store(c + 5 * ldc, c50); store(c + 5 * ldc + lanes, c51)
    }

    /// C[6 × 16] = A[6 × depth] · B[depth × 16], for an odd number of output vectors.
    @inline(__always)
    static func kernel6x16(_ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
                                   _ c: UnsafeMutablePointer<Float>, ldc: Int, depth: Int) {
        var c0 = Vector(), c1 = Vector(), c2 = Vector(), c3 = Vector(), c4 = Vector(), c5 = Vector()
        var (a0, a1, a2, a3, a4, a5) = (a, a + lda, a + 2 * lda, a + 3 * lda, a + 4 * lda, a + 5 * lda)
        var bp = b
        for _ in 0..<depth {
            let b0 = load(bp)
            c0 = c0.addingProduct(Vector(repeating: a0.pointee), b0)
            c1 = c1.addingProduct(Vector(repeating: a1.pointee), b0)
            c2 = c2.addingProduct(Vector(repeating: a2.pointee), b0)
            c3 = c3.addingProduct(Vector(repeating: a3.pointee), b0)
            c4 = c4.addingProduct(Vector(repeating: a4.pointee), b0)
            c5 = c5.addingProduct(Vector(repeating: a5.pointee), b0)
            a0 += 1; a1 += 1; a2 += 1; a3 += 1; a4 += 1; a5 += 1
            bp += ldb
        }
        store(c, c0); store(c + ldc, c1); store(c + 2 * ldc, c2); store(c + 3 * ldc, c3); store(c + 4 * ldc, c4); store(c + 5 * ldc, c5)
    }

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector { UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }

    @inline(__always)
    static func store(_ p: UnsafeMutablePointer<Float>, _ value: Vector) {
        UnsafeMutableRawPointer(p).storeBytes(of: value, as: Vector.self)
    }
}
