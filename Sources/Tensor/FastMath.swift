/// A fast expf (Cephes' polynomial, ≤ 2 ulp relative error on [-87, 88]; 0 below) written as a
/// plain loop body the compiler vectorises, for softmax where glibc's scalar expf dominated.
enum FastMath {
    @inline(__always)
    static func exp(_ value: Float) -> Float {
        let x = min(max(value, -87.33654), 88.72283)
        // round to nearest by the 1.5·2²³ trick: the sum's low mantissa bits are n itself, so
        // no float→int conversion (whose range check would stop vectorisation) is needed
        let shifted = x * 1.442695040888963 + 12_582_912
        let n = shifted - 12_582_912
        let integer = Int32(bitPattern: shifted.bitPattern) &- 0x4B40_0000
        var r = x - n * 0.693359375
        r = r - n * -2.12194440e-4
        var y: Float = 1.9875691500e-4
        y = y * r + 1.3981999507e-3
        y = y * r + 8.3334519073e-3
        y = y * r + 4.1665795894e-2
        y = y * r + 1.6666665459e-1
        y = y * r + 5.0000001201e-1
        y = y * r * r + r + 1
        let scale = Float(bitPattern: UInt32(bitPattern: (integer &+ 127) &<< 23))
        return value < -87.33654 ? 0 : y * scale
    }

    /// In place: p[i] = exp(p[i] − shift); returns the sum.
    @inline(__always)
    static func expSubtracting(_ p: UnsafeMutablePointer<Float>, count: Int, shift: Float) -> Float {
        for i in 0..<count { p[i] = exp(p[i] - shift) }
        // eight running sums, so the additions vectorise (float addition is not reassociated)
        var lanes = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var sum = lanes.sum()
        while i < count { sum += p[i]; i += 1 }
        return sum
    }
}

extension FastMath {
    /// The largest element (−∞ for none), as a loop that vectorises.
    @inline(__always)
    static func maximum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var largest = -Float.infinity
        for i in 0..<count { largest = p[i] > largest ? p[i] : largest }
        return largest
    }
}

extension FastMath {
    /// Σ p[i] with eight running sums (vectorises; float addition is not reassociated otherwise).
    @inline(__always)
    static func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count { lanes += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self); i += 8 }
        var total = lanes.sum()
        while i < count { total += p[i]; i += 1 }
        return total
    }

    /// Σ (p[i] − mean)², eight lanes at a time.
    @inline(__always)
    static func sumOfSquaredDeviations(_ p: UnsafePointer<Float>, count: Int, from mean: Float) -> Float {
        var lanes = SIMD8<Float>(repeating: 0)
        let centre = SIMD8<Float>(repeating: mean)
        var i = 0
        while i + 8 <= count {
            let d = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self) - centre
            lanes += d * d
            i += 8
        }
        var total = lanes.sum()
        while i < count { let d = p[i] - mean; total += d * d; i += 1 }
        return total
    }
}

extension FastMath {
    /// In-place softmax of one contiguous row (max-subtracted, as PyTorch).
    @inline(__always)
    static func softmax(_ p: UnsafeMutablePointer<Float>, count: Int) {
        let inverse = 1 / expSubtracting(p, count: count, shift: maximum(p, count: count))
        for i in 0..<count { p[i] *= inverse }
    }
}
