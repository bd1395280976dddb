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

extension Tensor {
    /// `transposedConv2dNonOverlapping` on a channels-last map: NHWC [N, H, W, C] in, NHWC
    /// [N, H·k, W·k, O] out, `weight` PyTorch's [C, O, k, k]. In NHWC the k taps along a row of
    /// one kernel window and their O channels are one contiguous run, so per image, input row y
    /// and kernel row i one GEMM writes its products straight into place — X[y] [W×C] times
    /// the weights of kernel row i [C × (k·O)], rows k·O apart — with no product buffer and no
    /// layout conversion on either side (Proto's upsampler between two channels-last convs).
    public func transposedConv2dNonOverlappingChannelsLast(weight: Tensor, bias: Tensor?) -> Tensor {
        let (batch, height, width, channels) = (shape[0], shape[1], shape[2], shape[3])
        let (outputs, k) = (weight.shape[1], weight.shape[2])
        precondition(weight.shape == [channels, outputs, k, k], "conv_transpose2d NHWC \(shape) with weight \(weight.shape)")
        let run = k * outputs
        // per kernel row i: [C × (k·O)], column j·O + o holding weight[c, o, i, j]
        let rowWeights = weight.permuted([2, 0, 3, 1]).storage
        let (outHeight, outWidth) = (height * k, width * k)
        // every element is written below (a GEMM over C = 0 channels writes zeros)
        var out = Tensor(shape: [batch, outHeight, outWidth, outputs]) { _ in }
        storage.withUnsafeBufferPointer { input in
            rowWeights.withUnsafeBufferPointer { weights in
                out.storage.withUnsafeMutableBufferPointer { output in
                    let (input, weights, output) = (input.baseAddress!, weights.baseAddress!, output.baseAddress!)
                    for n in 0..<batch {
                        Threads.parallelRanges(height * k, minimumPerChunk: 1) { rows in
                            for row in rows {
                                let (y, i) = (row / k, row % k)
                                let target = output + (n * outHeight + y * k + i) * outWidth * outputs
                                Gemm.multiply(m: width, n: run, k: channels, a: input + (n * height + y) * width * channels, lda: channels,
                                              b: weights + i * channels * run, ldb: run, c: target, ldc: run)
                                guard let bias else { continue }
                                bias.storage.withUnsafeBufferPointer { shift in
                                    for position in 0..<outWidth {
                                        let values = target + position * outputs
                                        for o in 0..<outputs { values[o] += shift[o] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
