/// A 1×1 convolution of a channel concatenation, computed part by part without making the
/// concatenation: parts given at full size, and parts still to be nearest-upsampled by a whole
/// factor — a YOLO neck's `Concat([Upsample(deep), lateral])` before a C2f/C3k2/RepC3.
///
/// A 1×1 convolution is linear in its input channels and commutes with nearest upsampling, so
/// `conv(cat(up(a), b)) = up(W_a·a) + W_b·b + bias`: the upsampled part's product is taken at
/// its own, smaller size (a quarter of the multiply-adds for a factor of 2), and neither the
/// upsampled map nor the concatenation is ever written. yolo11n's neck: 384→128 at 40² and
/// 256→64 at 80² (0.42 + 0.70 ms with the copies' 0.34 ms before) become half their products.
public final class PartwisePointwiseConvolution: @unchecked Sendable {
    /// One oneDNN primitive per part (channels-last both sides); the first full-size part's primitive adds the bias.
    private let convolutions: [DNNLConvolution]
    private let factors: [Int]
    private let base: Int
    private let activation: Activation
    public let outputShape: [Int]
    /// The shared scratch its primitives ask for (one runs at a time).
    public var scratchBytes: (Int, Int) {
        convolutions.reduce((0, 0)) { (max($0.0, $1.scratchBytes.0), max($0.1, $1.scratchBytes.1)) }
    }

    /// `partShapes` are the parts' NCHW shapes as given (an upsampled part at its own size);
    /// `factors[i]` is part i's upsampling factor (1: full size). Nil when no part is full size,
    /// a factor does not tile the output exactly, or oneDNN has no NHWC kernel for a part.
    public init?(partShapes: [[Int]], factors: [Int], weight: Tensor, bias: Tensor?, activation: Activation, scratch: Scratch) {
        precondition(partShapes.count == factors.count && weight.rank == 4 && weight.shape[2] == 1 && weight.shape[3] == 1)
        guard let base = factors.firstIndex(of: 1), partShapes.reduce(0, { $0 + $1[1] }) == weight.shape[1] else { return nil }
        let (height, width) = (partShapes[base][2], partShapes[base][3])
        var convolutions: [DNNLConvolution] = []
        var start = 0
        for (shape, factor) in zip(partShapes, factors) {
            guard factor >= 1, shape[2] * factor == height, shape[3] * factor == width, shape[0] == partShapes[base][0] else { return nil }
            let slice = weight.slice(axis: 1, start..<(start + shape[1]))
            start += shape[1]
            guard let convolution = DNNLConvolution(inputShape: shape, weight: slice, bias: convolutions.count == base ? bias : nil,
                                                    geometry: ConvolutionGeometry(kernelSize: 1), groups: 1,
                                                    activation: .identity, scratch: scratch,
                                                    channelsLastSource: true, channelsLastDestination: true),
                  !convolution.implementation.hasPrefix("ref") else { return nil }
            convolutions.append(convolution)
        }
        self.convolutions = convolutions
        self.factors = factors
        self.base = base
        self.activation = activation
        outputShape = [partShapes[base][0], weight.shape[0], height, width]
    }

    /// The convolution of the concatenation of `parts` (NHWC elements, each at its given size),
    /// as NHWC elements [N, H, W, C'].
    public func callAsFunction(_ parts: [Tensor]) -> Tensor {
        precondition(parts.count == convolutions.count)
        var out = convolutions[base](parts[base])
        // the other parts' products, each with its factor, to add to the base part's
        let others = parts.indices.filter { $0 != base }
        let products = others.map { convolutions[$0](parts[$0]) }
        let productFactors = others.map { factors[$0] }
        let (batch, height, width, channels) = (outputShape[0], outputShape[2], outputShape[3], outputShape[1])
        let activation = activation
        out.storage.withUnsafeMutableBufferPointer { destination in
            let destination = destination.baseAddress!
            Tensor.withBaseAddresses(products[...]) { sources in
                // each output row adds the products' source rows, then activates while in cache
                Threads.parallelRanges(batch * height, minimumPerChunk: max(1, 8192 / max(width * channels, 1))) { rows in
                    for row in rows {
                        let (image, y) = row.quotientAndRemainder(dividingBy: height)
                        let line = destination + row * width * channels
                        for (source, factor) in zip(sources, productFactors) {
                            let (sourceHeight, sourceWidth) = (height / factor, width / factor)
                            let sourceLine = source + ((image * sourceHeight + y / factor) * sourceWidth) * channels
                            for x in 0..<width {
                                let (target, from) = (line + x * channels, sourceLine + (x / factor) * channels)
                                for c in 0..<channels { target[c] += from[c] }
                            }
                        }
                        activation.apply(line, count: width * channels)
                    }
                }
            }
        }
        return out
    }
}
