extension Tensor {
    /// The seed's `carafe(x, mask, k, group=1, up)`: every output pixel is a mask-weighted sum of
    /// the k×k reflect-padded neighbourhood of its source pixel. x [N, C, H, W], mask
    /// [N, k², H·up, W·up] → [N, C, H·up, W·up].
    public func carafeReassembled(mask: Tensor, kernelSize k: Int, up: Int) -> Tensor {
        reassembled(mask: mask, kernelSize: k, up: up) { sum, _, target, count in target.update(from: sum, count: count) }
    }

    /// `combine(x, carafe(x))` element by element, plus `addend` when given — the high-pass
    /// branches of FreqFusion (`x − carafe(x)`, then `+ x`, then `+ the low-pass branch`) in the
    /// reassembly's own pass, in the reference's order of operations. up = 1: the output has
    /// this tensor's shape.
    @inline(__always)
    public func carafeCombined(mask: Tensor, kernelSize k: Int, adding addend: Tensor? = nil,
                               _ combine: (Float, Float) -> Float) -> Tensor {
        combined(mask: mask, kernelSize: k, adding: addend, channelsLast: false, combine)
    }

    /// `carafeCombined` with one of FreqFusion's combinations, on an NCHW map or (with
    /// `channelsLast`) an NHWC one and addend.
    public func carafeCombined(mask: Tensor, kernelSize k: Int, adding addend: Tensor? = nil, _ combination: CarafeCombination,
                               channelsLast: Bool) -> Tensor {
        switch combination {
        case .twiceMinusCarafe: return combined(mask: mask, kernelSize: k, adding: addend, channelsLast: channelsLast) { x, carafe in x + x - carafe }
        case .minusCarafe: return combined(mask: mask, kernelSize: k, adding: addend, channelsLast: channelsLast) { x, carafe in x - carafe }
        case .minusCarafePlusInput: return combined(mask: mask, kernelSize: k, adding: addend, channelsLast: channelsLast) { x, carafe in (x - carafe) + x }
        }
    }

    /// Both layouts' `carafeCombined`: the reassembly hands each summed run to combine(x,
    /// carafe) per element at the run's offset (the same in x, addend and output), plus addend.
    @inline(__always)
    private func combined(mask: Tensor, kernelSize k: Int, adding addend: Tensor?, channelsLast: Bool,
                          _ combine: (Float, Float) -> Float) -> Tensor {
        precondition(addend.map { $0.shape == shape } ?? true, "carafe addend \(addend?.shape ?? []) for \(shape)")
        return storage.withUnsafeBufferPointer { x in
            (addend?.storage ?? []).withUnsafeBufferPointer { a in
                // (an empty array's buffer may still have a base address)
                let (input, extra) = (x.baseAddress!, addend == nil ? nil : a.baseAddress)
                func finish(_ sum: UnsafeMutablePointer<Float>, _ at: Int, _ target: UnsafeMutablePointer<Float>, _ count: Int) {
                    let source = input + at
                    if let extra {
                        let more = extra + at
                        for i in 0..<count { target[i] = combine(source[i], sum[i]) + more[i] }
                    } else {
                        for i in 0..<count { target[i] = combine(source[i], sum[i]) }
                    }
                }
                return channelsLast ? reassembledChannelsLast(mask: mask, kernelSize: k, up: 1, finish: finish)
                                    : reassembled(mask: mask, kernelSize: k, up: 1, finish: finish)
            }
        }
    }

    /// The CARAFE reassembly, handing each summed output row to `finish(sum, offset, target,
    /// count)` (offset: the row's element offset in the output).
    @inline(__always)
    func reassembled(mask: Tensor, kernelSize k: Int, up: Int,
                     finish: (UnsafeMutablePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let outHeight = height * up, outWidth = width * up
        precondition(mask.shape == [batch, k * k, outHeight, outWidth], "carafe mask \(mask.shape) for \(shape)")
        let pad = k / 2
        let outPositions = outHeight * outWidth
        let paddedWidth = width + 2 * pad
        // expanded column j holds source column reflect(j / up − pad): the padded row repeated
        // `up` times per pixel, so output column ox's tap kx is expanded[ox + up·kx]
        let expandedWidth = up * paddedWidth
        let columns = (0..<expandedWidth).map { reflect($0 / up - pad, width) }
        return Tensor(shape: [batch, channels, outHeight, outWidth]) { out in
            storage.withUnsafeBufferPointer { x in
                mask.storage.withUnsafeBufferPointer { m in
                    columns.withUnsafeBufferPointer { reflected in
                        let destination = out.baseAddress, source = x.baseAddress, weights = m.baseAddress, columnOf = reflected.baseAddress
                        // one task per output row, all channels: the row's k² mask rows stay in
                        // cache for every channel, and each output row is summed in a local buffer
                        // and written once (the target rows of 256 channels lie a plane apart and
                        // evicted each other when updated tap by tap)
                        Threads.parallelFor(batch * outHeight) { task in
                            let n = task / outHeight, oy = task % outHeight
                            let maskBase = weights! + n * k * k * outPositions + oy * outWidth
                            let expanded = UnsafeMutablePointer<Float>.allocate(capacity: expandedWidth + outWidth)
                            defer { expanded.deallocate() }
                            let sum = expanded + expandedWidth
                            for c in 0..<channels {
                                let plane = source! + (n * channels + c) * height * width
                                for i in 0..<outWidth { sum[i] = 0 }
                                for ky in 0..<k {
                                    let line = plane + reflect(oy / up + ky - pad, height) * width
                                    for j in 0..<expandedWidth { expanded[j] = line[columnOf![j]] }
                                    for kx in 0..<k {
                                        let weightsRow = maskBase + (ky * k + kx) * outPositions
                                        let shifted = expanded + up * kx
                                        for i in 0..<outWidth { sum[i] += shifted[i] * weightsRow[i] }
                                    }
                                }
                                let offset = (n * channels + c) * outPositions + oy * outWidth
                                finish(sum, offset, destination! + offset, outWidth)
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

extension Tensor {
    /// FreqFusion's `kernel_normalizer` on reassembly kernels [N, T, H, W] (T = k² taps per
    /// pixel): softmax over the taps, times `window` ([T], or one value for all), renormalised
    /// to sum 1 — in one pass per image row (T × W values in cache) instead of four passes
    /// over the whole tensor.
    public func kernelsNormalized(window: Tensor) -> Tensor {
        let (batch, taps, height, width) = (shape[0], shape[1], shape[2], shape[3])
        precondition(window.count == taps || window.count == 1, "window of \(window.count) for \(taps) taps")
        let plane = height * width
        let weights = window.count == taps ? window.storage : [Float](repeating: window.storage[0], count: taps)
        return Tensor(shape: shape) { out in
            storage.withUnsafeBufferPointer { x in
                weights.withUnsafeBufferPointer { w in
                    let (source, destination, windowValues) = (x.baseAddress!, out.baseAddress!, w.baseAddress!)
                    Threads.parallelFor(batch * height) { task in
                        let n = task / height, y = task % height
                        let first = n * taps * plane + y * width
                        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * width)
                        defer { scratch.deallocate() }
                        let (largest, total) = (scratch, scratch + width)
                        for i in 0..<width { largest[i] = -.infinity; total[i] = 0 }
                        for t in 0..<taps {
                            let row = source + first + t * plane
                            for i in 0..<width { largest[i] = row[i] > largest[i] ? row[i] : largest[i] }
                        }
                        for t in 0..<taps {
                            let row = source + first + t * plane, target = destination + first + t * plane
                            for i in 0..<width {
                                let e = FastMath.exp(row[i] - largest[i])
                                target[i] = e
                                total[i] += e
                            }
                        }
                        // softmax · window, then over its sum
                        for i in 0..<width { largest[i] = 0 }
                        let weightedTotal = largest
                        for t in 0..<taps {
                            let target = destination + first + t * plane, factor = windowValues[t]
                            for i in 0..<width {
                                let weighted = target[i] / total[i] * factor
                                target[i] = weighted
                                weightedTotal[i] += weighted
                            }
                        }
                        for t in 0..<taps {
                            let target = destination + first + t * plane
                            for i in 0..<width { target[i] /= weightedTotal[i] }
                        }
                    }
                }
            }
        }
    }
}

extension Tensor {
    /// `carafeReassembled` on a channels-last map: this tensor is NHWC [N, H, W, C], the mask
    /// NCHW [N, k², H·up, W·up], the result NHWC [N, H·up, W·up, C]. Each output pixel is k²
    /// scaled copies of contiguous channel runs — vector work, where the NCHW loop gathers
    /// reflected columns — summed in the same tap order, so both layouts give the same values.
    public func carafeReassembledChannelsLast(mask: Tensor, kernelSize k: Int, up: Int) -> Tensor {
        reassembledChannelsLast(mask: mask, kernelSize: k, up: up) { sum, _, target, count in target.update(from: sum, count: count) }
    }

    /// `carafeCombined` on a channels-last map (NHWC; the mask NCHW; `addend` NHWC like this one).
    @inline(__always)
    public func carafeCombinedChannelsLast(mask: Tensor, kernelSize k: Int, adding addend: Tensor? = nil,
                                           _ combine: (Float, Float) -> Float) -> Tensor {
        combined(mask: mask, kernelSize: k, adding: addend, channelsLast: true, combine)
    }

    /// The channels-last reassembly, handing each output pixel's summed channels to
    /// `finish(sum, offset, target, count)` (offset: the pixel's element offset in the output).
    @inline(__always)
    func reassembledChannelsLast(mask: Tensor, kernelSize k: Int, up: Int,
                                 finish: (UnsafeMutablePointer<Float>, Int, UnsafeMutablePointer<Float>, Int) -> Void) -> Tensor {
        let (batch, height, width, channels) = (shape[0], shape[1], shape[2], shape[3])
        let outHeight = height * up, outWidth = width * up, taps = k * k
        precondition(mask.shape == [batch, taps, outHeight, outWidth], "carafe mask \(mask.shape) for NHWC \(shape)")
        let pad = k / 2, outPositions = outHeight * outWidth
        // tap kx of output column ox reads source column reflect(ox / up + kx − pad)
        let columns = (0..<(outWidth * k)).map { reflect($0 / k / up + $0 % k - pad, width) }
        return Tensor(shape: [batch, outHeight, outWidth, channels]) { out in
            storage.withUnsafeBufferPointer { x in
                mask.storage.withUnsafeBufferPointer { m in
                    columns.withUnsafeBufferPointer { c in
                        let destination = out.baseAddress!, source = x.baseAddress!, weights = m.baseAddress!, columnOf = c.baseAddress!
                        Threads.parallelFor(batch * outHeight) { task in
                            let n = task / outHeight, oy = task % outHeight
                            let sum = UnsafeMutablePointer<Float>.allocate(capacity: channels)
                            defer { sum.deallocate() }
                            // each tap's source pixel (row of the image's [H·W, C] matrix) and weight
                            let lines = (0..<k).map { ky in reflect(oy / up + ky - pad, height) * width }
                            let rows = UnsafeMutablePointer<(row: Int, weight: Float)>.allocate(capacity: taps)
                            defer { rows.deallocate() }
                            let image = source + n * height * width * channels
                            let maskBase = weights + n * taps * outPositions + oy * outWidth
                            for ox in 0..<outWidth {
                                for t in 0..<taps {
                                    rows[t] = (lines[t / k] + columnOf[ox * k + t % k], maskBase[t * outPositions + ox])
                                }
                                weightedRowSum(image, rows: rows, count: taps, width: channels, into: sum)
                                let offset = ((n * outHeight + oy) * outWidth + ox) * channels
                                finish(sum, offset, destination + offset, channels)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// How FreqFusion combines a map x with carafe(x), in the reference's order of operations (the
/// raw values name them in programs: `carafe_combine`'s `form`).
public enum CarafeCombination: Int, Sendable {
    /// x + x − carafe(x): the compressed high-resolution features
    case twiceMinusCarafe = 0
    /// x − carafe(x): the high-pass branch
    case minusCarafe = 1
    /// (x − carafe(x)) + x: the high-pass branch with the high-resolution residual
    case minusCarafePlusInput = 2
}

extension Tensor {
    /// The seed's `compute_similarity(t, 3, dilation=2)`: cosine similarity of each pixel with its
    /// 8 neighbours two pixels away (zero padding), [B, 8, H, W].
    public static func localSimilarity(_ x: Tensor) -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let plane = height * width
        let neighbours = [(-2, -2), (-2, 0), (-2, 2), (0, -2), (0, 2), (2, -2), (2, 0), (2, 2)]
        return Tensor(shape: [batch, neighbours.count, height, width]) { out in
            x.storage.withUnsafeBufferPointer { v in
                for n in 0..<batch {
                    let base = n * channels * plane
                    for y in 0..<height {
                        for x0 in 0..<width {
                            var centreNorm: Float = 0
                            for c in 0..<channels { let a = v[base + c * plane + y * width + x0]; centreNorm += a * a }
                            for (k, (dy, dx)) in neighbours.enumerated() {
                                let ny = y + dy, nx = x0 + dx
                                var result: Float = 0
                                if ny >= 0, ny < height, nx >= 0, nx < width {
                                    var dot: Float = 0, norm: Float = 0
                                    for c in 0..<channels {
                                        let a = v[base + c * plane + y * width + x0], b = v[base + c * plane + ny * width + nx]
                                        dot += a * b
                                        norm += b * b
                                    }
                                    // F.cosine_similarity: each norm clamped to eps = 1e-8
                                    result = dot / (max(centreNorm.squareRoot(), 1e-8) * max(norm.squareRoot(), 1e-8))
                                }
                                out[((n * neighbours.count + k) * height + y) * width + x0] = result
                            }
                        }
                    }
                }
            }
        }
    }
}
