extension Tensor {
    /// The output size of `nn.ConvTranspose2d` along one axis.
    public static func transposedConvolvedSize(_ size: Int, kernelSize: Int, stride: Int, padding: Int, outputPadding: Int,
                                               dilation: Int) -> Int {
        (size - 1) * stride - 2 * padding + dilation * (kernelSize - 1) + outputPadding + 1
    }

    /// `F.conv_transpose2d` on an NCHW map; `weight` is [in, out / groups, k, k] as PyTorch holds
    /// it. Per batch and group one GEMM makes every tap's contribution (Wᵀ·X: [out·k·k, H·W]) and
    /// col2im adds each into its output position.
    public func transposedConv2d(weight: Tensor, bias: Tensor?, kernelSize: Int, stride: Int, padding: Int, outputPadding: Int,
                                 dilation: Int, groups: Int) -> Tensor {
        let (batch, inputChannels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let groupIn = inputChannels / groups, groupOut = weight.shape[1]
        let outputChannels = groupOut * groups
        precondition(weight.shape == [inputChannels, groupOut, kernelSize, kernelSize], "conv_transpose2d weight \(weight.shape) for input \(shape)")
        let outHeight = Tensor.transposedConvolvedSize(height, kernelSize: kernelSize, stride: stride, padding: padding,
                                                       outputPadding: outputPadding, dilation: dilation)
        let outWidth = Tensor.transposedConvolvedSize(width, kernelSize: kernelSize, stride: stride, padding: padding,
                                                      outputPadding: outputPadding, dilation: dilation)
        var out = Tensor(shape: [batch, outputChannels, outHeight, outWidth])
        if out.count == 0 { return out }
        let taps = kernelSize * kernelSize, positions = height * width
        var columns = [Float](repeating: 0, count: groupOut * taps * positions)
        storage.withUnsafeBufferPointer { input in
            weight.storage.withUnsafeBufferPointer { weights in
                out.storage.withUnsafeMutableBufferPointer { output in
                    columns.withUnsafeMutableBufferPointer { buffer in
                        let columns = buffer.baseAddress!
                        for n in 0..<batch {
                            for group in 0..<groups {
                                let source = input.baseAddress! + (n * inputChannels + group * groupIn) * positions
                                // weights of this group: [groupIn, groupOut·k·k], read transposed
                                Gemm.multiply(m: groupOut * taps, n: positions, k: groupIn,
                                              a: weights.baseAddress! + group * groupIn * groupOut * taps, lda: groupOut * taps, transposeA: true,
                                              b: source, ldb: positions, c: columns, ldc: positions)
                                let planes = output.baseAddress! + (n * outputChannels + group * groupOut) * outHeight * outWidth
                                Threads.parallelRanges(groupOut, minimumPerChunk: 1) { range in
                                    for o in range {
                                        let plane = planes + o * outHeight * outWidth
                                        for ky in 0..<kernelSize {
                                            for kx in 0..<kernelSize {
                                                let column = columns + ((o * kernelSize + ky) * kernelSize + kx) * positions
                                                for y in 0..<height {
                                                    let outY = y * stride - padding + ky * dilation
                                                    guard outY >= 0 && outY < outHeight else { continue }
                                                    for x in 0..<width {
                                                        let outX = x * stride - padding + kx * dilation
                                                        guard outX >= 0 && outX < outWidth else { continue }
                                                        plane[outY * outWidth + outX] += column[y * width + x]
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        out.addChannelBias(bias, activation: .identity)
        return out
    }
}
