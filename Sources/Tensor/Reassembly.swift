extension Tensor {
    /// The seed's `carafe(x, mask, k, group=1, up)`: every output pixel is a mask-weighted sum of
    /// the k×k reflect-padded neighbourhood of its source pixel. x [N, C, H, W], mask
    /// [N, k², H·up, W·up] → [N, C, H·up, W·up].
    public func carafeReassembled(mask: Tensor, kernelSize k: Int, up: Int) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let outHeight = height * up, outWidth = width * up
        precondition(mask.shape == [batch, k * k, outHeight, outWidth], "carafe mask \(mask.shape) for \(shape)")
        let pad = k / 2
        let outPositions = outHeight * outWidth
        // reflected source offsets per output pixel and tap, shared by all channels
        var taps = [Int32](repeating: 0, count: k * k * outPositions)
        for oy in 0..<outHeight {
            for ox in 0..<outWidth {
                for ky in 0..<k {
                    let iy = reflect(oy / up + ky - pad, height)
                    for kx in 0..<k {
                        let ix = reflect(ox / up + kx - pad, width)
                        taps[(ky * k + kx) * outPositions + oy * outWidth + ox] = Int32(iy * width + ix)
                    }
                }
            }
        }
        return Tensor(shape: [batch, channels, outHeight, outWidth]) { out in
            storage.withUnsafeBufferPointer { x in
                mask.storage.withUnsafeBufferPointer { m in
                    taps.withUnsafeBufferPointer { t in
                        let destination = out.baseAddress, source = x.baseAddress, weights = m.baseAddress, tapBase = t.baseAddress
                        Threads.parallelFor(batch * channels) { plane in
                            let n = plane / channels
                            let input = source! + plane * height * width
                            let output = destination! + plane * outPositions
                            let maskBase = weights! + n * k * k * outPositions
                            for p in 0..<outPositions { output[p] = 0 }
                            for tap in 0..<(k * k) {
                                let maskRow = maskBase + tap * outPositions
                                let tapRow = tapBase! + tap * outPositions
                                for p in 0..<outPositions { output[p] += input[Int(tapRow[p])] * maskRow[p] }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Seed 003's CARAFE reassembly: `einsum("bkhw,bckhw->bchw", W, unfold(upsample(X)))` with
    /// the unfold dilated by `scale` and zero-padded. x [N, C, H, W], weights [N, k², H·s, W·s].
    public func carafeModuleReassembled(weights: Tensor, kernelSize k: Int, scale: Int) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let outHeight = height * scale, outWidth = width * scale
        let outPositions = outHeight * outWidth
        let half = k / 2
        var taps = [Int32](repeating: -1, count: k * k * outPositions)
        for oy in 0..<outHeight {
            for ox in 0..<outWidth {
                for ky in 0..<k {
                    let uy = oy + (ky - half) * scale
                    for kx in 0..<k {
                        let ux = ox + (kx - half) * scale
                        if uy >= 0 && uy < outHeight && ux >= 0 && ux < outWidth {
                            taps[(ky * k + kx) * outPositions + oy * outWidth + ox] = Int32((uy / scale) * width + ux / scale)
                        }
                    }
                }
            }
        }
        return Tensor(shape: [batch, channels, outHeight, outWidth]) { out in
            storage.withUnsafeBufferPointer { x in
                weights.storage.withUnsafeBufferPointer { m in
                    taps.withUnsafeBufferPointer { t in
                        let destination = out.baseAddress, source = x.baseAddress, maskPointer = m.baseAddress, tapBase = t.baseAddress
                        Threads.parallelFor(batch * channels) { plane in
                            let n = plane / channels
                            let input = source! + plane * height * width
                            let output = destination! + plane * outPositions
                            let maskBase = maskPointer! + n * k * k * outPositions
                            for p in 0..<outPositions { output[p] = 0 }
                            for tap in 0..<(k * k) {
                                let maskRow = maskBase + tap * outPositions
                                let tapRow = tapBase! + tap * outPositions
                                for p in 0..<outPositions where tapRow[p] >= 0 {
                                    output[p] += input[Int(tapRow[p])] * maskRow[p]
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
