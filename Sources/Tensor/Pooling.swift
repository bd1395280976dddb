extension Tensor {
    /// `F.max_pool2d(x, kernel_size, stride, padding)` (dilation 1, floor mode): padding counts as −∞.
    public func maxPooled(kernelSize k: Int, stride: Int, padding: Int) -> Tensor {
        let (batch, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let outHeight = (height + 2 * padding - k) / stride + 1, outWidth = (width + 2 * padding - k) / stride + 1
        return Tensor(shape: [batch, channels, outHeight, outWidth]) { out in
            storage.withUnsafeBufferPointer { source in
                Threads.parallelFor(batch * channels) { plane in
                    let input = source.baseAddress! + plane * height * width
                    let output = out.baseAddress! + plane * outHeight * outWidth
                    for y in 0..<outHeight {
                        let top = max(y * stride - padding, 0), bottom = min(y * stride - padding + k, height)
                        for x in 0..<outWidth {
                            let left = max(x * stride - padding, 0), right = min(x * stride - padding + k, width)
                            var best = -Float.infinity
                            for row in top..<bottom {
                                for column in left..<right { best = Swift.max(best, input[row * width + column]) }
                            }
                            output[y * outWidth + x] = best
                        }
                    }
                }
            }
        }
    }
}
