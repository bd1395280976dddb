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
