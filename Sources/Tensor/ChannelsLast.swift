import CDNNL
import Synchronization

/// Channels-last maps: NHWC, held as tensors of shape [N, H, W, C]. oneDNN's fastest convolution
/// kernels on AVX-512 (brgconv) read and write this layout, so chains of them skip the
/// NCHW⇄NHWC reorders that otherwise surround every call (16→32 stride 2 at 320²: 0.63 ms in
/// NHWC against 0.89 ms with the reorders, on a 2-core AVX-512 EPYC).
public enum ChannelsLast {
    /// The NHWC shape [N, H, W, C] of an NCHW shape [N, C, H, W].
    public static func shape(ofPlain shape: [Int]) -> [Int] { [shape[0], shape[2], shape[3], shape[1]] }

    /// The NCHW shape [N, C, H, W] of an NHWC shape [N, H, W, C].
    public static func plainShape(of shape: [Int]) -> [Int] { [shape[0], shape[3], shape[1], shape[2]] }
}

/// A plan's converter between the two layouts: oneDNN reorders (several times faster than a
/// plain transposing loop), made once per shape and kept.
public final class LayoutConverter: @unchecked Sendable {
    private struct Key: Hashable {
        let shape: [Int]
        let toChannelsLast: Bool
    }

    private let engine: dnnl_engine_t
    private let stream: dnnl_stream_t
    private let reorders = Mutex<[Key: Reorder]>([:])

    public init?() {
        var engine: dnnl_engine_t?
        var stream: dnnl_stream_t?
        guard dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success, let engine else { return nil }
        guard dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue) == dnnl_success, let stream else {
            dnnl_engine_destroy(engine)
            return nil
        }
        self.engine = engine
        self.stream = stream
    }

    deinit {
        reorders.withLock { $0.removeAll() }
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// NCHW [N, C, H, W] → NHWC [N, H, W, C].
    public func channelsLast(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4)
        return convert(x, logicalShape: x.shape, toChannelsLast: true)
    }

    /// NHWC [N, H, W, C] → NCHW [N, C, H, W].
    public func channelsFirst(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4)
        return convert(x, logicalShape: ChannelsLast.plainShape(of: x.shape), toChannelsLast: false)
    }

    /// `logicalShape` is the NCHW shape of both sides.
    private func convert(_ x: Tensor, logicalShape: [Int], toChannelsLast: Bool) -> Tensor {
        let shape = toChannelsLast ? ChannelsLast.shape(ofPlain: logicalShape) : logicalShape
        if x.count == 0 { return Tensor(shape: shape) }
        let key = Key(shape: logicalShape, toChannelsLast: toChannelsLast)
        let reorder = reorders.withLock { cache -> Reorder in
            if let known = cache[key] { return known }
            let dims = logicalShape.map { dnnl_dim_t($0) }
            var plain = dnnl_memory_desc_t(), last = dnnl_memory_desc_t()
            let made = dnnl_memory_desc_init_by_tag(&plain, 4, dims, dnnl_f32, dnnl_nchw) == dnnl_success
                && dnnl_memory_desc_init_by_tag(&last, 4, dims, dnnl_f32, dnnl_nhwc) == dnnl_success
            precondition(made, "oneDNN memory descriptors for \(logicalShape)")
            let created = toChannelsLast ? Reorder(from: &plain, to: &last, engine: engine) : Reorder(from: &last, to: &plain, engine: engine)
            guard let created else { preconditionFailure("oneDNN reorder for \(logicalShape)") }
            cache[key] = created
            return created
        }
        return Tensor(shape: shape) { out in
            x.storage.withUnsafeBufferPointer { source in
                reorder.run(from: UnsafeMutableRawPointer(mutating: source.baseAddress!), to: UnsafeMutableRawPointer(out.baseAddress!), stream: stream)
            }
        }
    }
}

extension Tensor {
    /// `interpolateNearest` on a channels-last map [N, H, W, C]: each output pixel copies its
    /// source pixel's channel run.
    public func interpolateNearestChannelsLast(height outHeight: Int, width outWidth: Int,
                                               scaleHeight: Float? = nil, scaleWidth: Float? = nil, exact: Bool = false) -> Tensor {
        let (batch, height, width, channels) = (shape[0], shape[1], shape[2], shape[3])
        let rows = Tensor.nearestSources(outHeight, from: height, step: scaleHeight, exact: exact)
        let columns = Tensor.nearestSources(outWidth, from: width, step: scaleWidth, exact: exact)
        return Tensor(shape: [batch, outHeight, outWidth, channels]) { out in
            storage.withUnsafeBufferPointer { source in
                Threads.parallelFor(batch) { n in
                    Tensor.resampleNearest(source.baseAddress! + n * height * width * channels, width: width, rows: rows, columns: columns,
                                           element: channels, into: out.baseAddress! + n * outHeight * outWidth * channels)
                }
            }
        }
    }

    /// `maxPooled` on a channels-last map [N, H, W, C]: each window's maximum taken a channel run
    /// at a time (the loops over channels vectorise).
    public func maxPooledChannelsLast(kernelSize k: Int, stride: Int, padding: Int) -> Tensor {
        let (batch, height, width, channels) = (shape[0], shape[1], shape[2], shape[3])
        let outHeight = (height + 2 * padding - k) / stride + 1, outWidth = (width + 2 * padding - k) / stride + 1
        return Tensor(shape: [batch, outHeight, outWidth, channels]) { out in
            storage.withUnsafeBufferPointer { source in
                Threads.parallelFor(batch * outHeight) { line in
                    let (n, y) = (line / outHeight, line % outHeight)
                    let input = source.baseAddress! + n * height * width * channels
                    let top = Swift.max(y * stride - padding, 0), bottom = Swift.min(y * stride - padding + k, height)
                    for x in 0..<outWidth {
                        let destination = out.baseAddress! + ((n * outHeight + y) * outWidth + x) * channels
                        destination.update(repeating: -Float.infinity, count: channels)
                        let left = Swift.max(x * stride - padding, 0), right = Swift.min(x * stride - padding + k, width)
                        for row in top..<bottom {
                            for column in left..<right {
                                let pixel = input + (row * width + column) * channels
                                for c in 0..<channels { destination[c] = Swift.max(destination[c], pixel[c]) }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `zeroPadded` on a channels-last map [N, H, W, C].
    public func zeroPaddedChannelsLast(left: Int = 0, right: Int, top: Int = 0, bottom: Int) -> Tensor {
        let (batch, height, width, channels) = (shape[0], shape[1], shape[2], shape[3])
        let (outHeight, outWidth) = (top + height + bottom, left + width + right)
        return Tensor(shape: [batch, outHeight, outWidth, channels]) { out in
            storage.withUnsafeBufferPointer { source in
                Threads.parallelFor(batch) { n in
                    Tensor.zeroPad(source.baseAddress! + n * height * width * channels, height: height, width: width, left: left, right: right,
                                   top: top, bottom: bottom, element: channels, into: out.baseAddress! + n * outHeight * outWidth * channels)
                }
            }
        }
    }
}

/// A depthwise convolution (groups = channels, one filter per channel) on channels-last maps:
/// every tap a run of FMAs over the channels, which are contiguous. oneDNN's depthwise kernel
/// for NHWC (brdgmm) takes no dilation, and its blocked fallback reorders both sides; LSKNet's
/// 7×7 at dilation 3 over 32 channels at 160² ran 5.8 ms there.
public final class DepthwiseConvolutionChannelsLast: @unchecked Sendable {
    let channels: Int
    let geometry: ConvolutionGeometry
    /// The filters as [kh][kw][C], a tap's weights contiguous over the channels.
    let taps: [Float]
    let bias: [Float]
    let activation: Activation

    /// Whether it serves a convolution: depthwise (weight [C, 1, kh, kw], groups = C).
    public static func applies(weight: Tensor, groups: Int) -> Bool {
        weight.rank == 4 && groups > 1 && weight.shape[0] == groups && weight.shape[1] == 1
    }

    public init(weight: Tensor, bias: Tensor?, geometry: ConvolutionGeometry, activation: Activation) {
        precondition(weight.rank == 4 && weight.shape[1] == 1, "a depthwise filter bank [C, 1, kh, kw], got \(weight.shape)")
        channels = weight.shape[0]
        self.geometry = geometry
        let (kh, kw) = (weight.shape[2], weight.shape[3])
        var taps = [Float](repeating: 0, count: kh * kw * channels)
        for c in 0..<channels {
            for tap in 0..<(kh * kw) { taps[tap * channels + c] = weight.storage[c * kh * kw + tap] }
        }
        self.taps = taps
        self.bias = bias?.storage ?? [Float](repeating: 0, count: channels)
        self.activation = activation
    }

    /// NHWC [N, H, W, C] → NHWC [N, Ho, Wo, C].
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank == 4 && x.shape[3] == channels, "depthwise convolution of \(channels) channels got \(x.shape)")
        let (batch, height, width) = (x.shape[0], x.shape[1], x.shape[2])
        let g = geometry, channels = channels
        let (outHeight, outWidth) = (g.outputHeight(height), g.outputWidth(width))
        // each tap's offset from a window's top-left pixel, in elements
        let tapOffsets = (0..<(g.kernelHeight * g.kernelWidth)).map { tap in
            ((tap / g.kernelWidth) * g.dilation * width + (tap % g.kernelWidth) * g.dilation) * channels
        }
        // the output columns whose windows lie inside the map (no tap needs a bounds check)
        let firstInside = min(outWidth, (g.padding + g.stride - 1) / g.stride)
        let lastColumn = width - 1 - (g.kernelWidth - 1) * g.dilation + g.padding  // the largest ox·stride inside
        let endInside = max(firstInside, min(outWidth, lastColumn < 0 ? 0 : lastColumn / g.stride + 1))
        let fullBlocks = channels / 16 * 16
        return Tensor(shape: [batch, outHeight, outWidth, channels]) { out in
            x.storage.withUnsafeBufferPointer { source in
                taps.withUnsafeBufferPointer { taps in
                    bias.withUnsafeBufferPointer { bias in
                        tapOffsets.withUnsafeBufferPointer { tapOffsets in
                            Threads.parallelRanges(batch * outHeight, minimumPerChunk: 1) { lines in
                                for line in lines {
                                    let (n, y) = (line / outHeight, line % outHeight)
                                    let input = source.baseAddress! + n * height * width * channels
                                    let row = out.baseAddress! + line * outWidth * channels
                                    let top = y * g.stride - g.padding
                                    let rowInside = top >= 0 && top + (g.kernelHeight - 1) * g.dilation < height
                                    var ox = 0
                                    while ox < outWidth {
                                        if rowInside && ox >= firstInside && ox + 4 <= endInside && fullBlocks > 0 {
                                            // four whole windows: each tap's weights loaded once for the four
                                            let corner = input + (top * width + ox * g.stride - g.padding) * channels
                                            let step = g.stride * channels
                                            for block in stride(from: 0, to: fullBlocks, by: 16) {
                                                let start = UnsafeRawPointer(bias.baseAddress! + block).loadUnaligned(as: SIMD16<Float>.self)
                                                var (s0, s1, s2, s3) = (start, start, start, start)
                                                for tap in 0..<tapOffsets.count {
                                                    let w = UnsafeRawPointer(taps.baseAddress! + tap * channels + block).loadUnaligned(as: SIMD16<Float>.self)
                                                    let p = UnsafeRawPointer(corner + tapOffsets[tap] + block)
                                                    s0.addProduct(w, p.loadUnaligned(as: SIMD16<Float>.self))
                                                    s1.addProduct(w, p.loadUnaligned(fromByteOffset: step * 4, as: SIMD16<Float>.self))
                                                    s2.addProduct(w, p.loadUnaligned(fromByteOffset: 2 * step * 4, as: SIMD16<Float>.self))
                                                    s3.addProduct(w, p.loadUnaligned(fromByteOffset: 3 * step * 4, as: SIMD16<Float>.self))
                                                }
                                                let destination = UnsafeMutableRawPointer(row + ox * channels + block)
                                                destination.storeBytes(of: s0, as: SIMD16<Float>.self)
                                                destination.storeBytes(of: s1, toByteOffset: channels * 4, as: SIMD16<Float>.self)
                                                destination.storeBytes(of: s2, toByteOffset: 2 * channels * 4, as: SIMD16<Float>.self)
                                                destination.storeBytes(of: s3, toByteOffset: 3 * channels * 4, as: SIMD16<Float>.self)
                                            }
                                            for pixel in ox..<(ox + 4) where fullBlocks < channels {
                                                pixelTail(from: fullBlocks, input: input, row: row, ox: pixel, y: y, height: height, width: width,
                                                          taps: taps.baseAddress!, bias: bias.baseAddress!)
                                            }
                                            ox += 4
                                        } else {
                                            pixelTail(from: 0, input: input, row: row, ox: ox, y: y, height: height, width: width,
                                                      taps: taps.baseAddress!, bias: bias.baseAddress!)
                                            ox += 1
                                        }
                                    }
                                    activation.apply(row, count: outWidth * channels)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// One output pixel's channels from `first` on, each tap checked against the map's edges.
    @inline(__always)
    private func pixelTail(from first: Int, input: UnsafePointer<Float>, row: UnsafeMutablePointer<Float>, ox: Int, y: Int, height: Int, width: Int,
                           taps: UnsafePointer<Float>, bias: UnsafePointer<Float>) {
        let g = geometry
        let destination = row + ox * channels
        for c in first..<channels { destination[c] = bias[c] }
        for ky in 0..<g.kernelHeight {
            let iy = y * g.stride - g.padding + ky * g.dilation
            guard iy >= 0 && iy < height else { continue }
            for kx in 0..<g.kernelWidth {
                let ix = ox * g.stride - g.padding + kx * g.dilation
                guard ix >= 0 && ix < width else { continue }
                let pixel = input + (iy * width + ix) * channels
                let weights = taps + (ky * g.kernelWidth + kx) * channels
                for c in first..<channels { destination[c] += weights[c] * pixel[c] }
            }
        }
    }
}
