#if canImport(Glibc)
import Glibc
#endif
import ModelSpec
import Tensor

/// FreqFusion (seeds 000/002): fuses a high-resolution map `hr` with a low-resolution map `lr`
/// (exactly half its height and width) through content-aware low-pass (CARAFE) upsampling of
/// `lr` and a high-pass residual on `hr`; returns `hr + up(lr)`. Input channels `[hr, lr]`
/// come from `from`; the YAML arguments follow the seed-002 constructor's positional order.
/// With `feature_resample` a LocalSimGuidedSampler (DySample-like offset generator) resamples
/// the upsampled `lr`, built on the computed compressed width `(hr + lr) // 8`.
public struct FreqFusion: LayerModule {
    public static let names = ["FreqFusion"]
    public static let inputArity = InputArity.exactly(2)
    public static let signature = Signature([
        .init("scale_factor", "scaleFactor", .int(min: 1), default: .int(1)),
        .init("lowpass_kernel", "lowPassKernel", .int(min: 1), default: .int(5)),
        .init("highpass_kernel", "highPassKernel", .int(min: 1), default: .int(3)),
        .init("up_group", "upGroups", .int(min: 1), default: .int(1)),
        .init("encoder_kernel", "encoderKernel", .int(min: 1), default: .int(3)),
        .init("encoder_dilation", "encoderDilation", .int(min: 1), default: .int(1)),
        .init("compressed_channels", "compressedChannelsArgument", .int(min: 1), default: .int(64)),
        .init("align_corners", "alignCorners", .bool, default: .bool(false)),
        .init("upsample_mode", "upsampleMode", .choice(["nearest", "bilinear"]), default: .string("nearest")),
        .init("feature_resample", "featureResample", .bool, default: .bool(false)),
        .init("feature_resample_group", "featureResampleGroups", .int(min: 1), default: .int(4)),
        .init("comp_feat_upsample", "compressedFeatureUpsample", .bool, default: .bool(true)),
        .init("use_high_pass", "useHighPass", .bool, default: .bool(true)),
        .init("use_low_pass", "useLowPass", .bool, default: .bool(true)),
        .init("hr_residual", "highResolutionResidual", .bool, default: .bool(true)),
        .init("semi_conv", "semiConv", .bool, default: .bool(true)),
        .init("hamming_window", "hammingWindow", .bool, default: .bool(true)),
        .init("feature_resample_norm", "featureResampleNorm", .bool, default: .bool(true)),
    ])

    public let highResolutionChannels: Int
    public let lowResolutionChannels: Int
    public let compressedChannels: Int
    public let lowPassKernel: Int
    public let highPassKernel: Int
    public let encoderKernel: Int
    public let encoderDilation: Int
    public let featureResample: Bool
    public let featureResampleGroups: Int
    public let featureResampleNorm: Bool
    public let hammingWindow: Bool
    public let highResolutionResidual: Bool
    public let printedArguments: [ArgumentValue]

    public init(_ context: LayerContext) throws(LayerError) {
        let arguments = context.arguments
        highResolutionChannels = context.inputChannels[0]
        lowResolutionChannels = context.inputChannels[1]
        compressedChannels = (highResolutionChannels + lowResolutionChannels) / 8
        lowPassKernel = arguments.int("lowPassKernel")
        highPassKernel = arguments.int("highPassKernel")
        encoderKernel = arguments.int("encoderKernel")
        encoderDilation = arguments.int("encoderDilation")
        featureResample = arguments.bool("featureResample")
        featureResampleGroups = arguments.int("featureResampleGroups")
        featureResampleNorm = arguments.bool("featureResampleNorm")
        hammingWindow = arguments.bool("hammingWindow")
        highResolutionResidual = arguments.bool("highResolutionResidual")

        // The seed's forward path exists only for these settings.
        for label in ["semiConv", "compressedFeatureUpsample", "useHighPass"] where !arguments.bool(label) {
            let name = FreqFusion.signature.parameters[arguments.position(label)].yamlName
            throw LayerError("\(name)=False has no forward path in the seed's FreqFusion; only \(name)=True is supported",
                             blame: .argument(arguments.position(label)))
        }
        for label in ["scaleFactor", "upGroups"] where arguments.int(label) != 1 {
            let name = FreqFusion.signature.parameters[arguments.position(label)].yamlName
            throw LayerError("\(name)=\(arguments.int(label)): the seed's CARAFE reassembly uses one k×k mask per pixel, so \(name) must be 1",
                             blame: .argument(arguments.position(label)))
        }
        for label in ["lowPassKernel", "highPassKernel", "encoderKernel"] where arguments.int(label) % 2 == 0 {
            let name = FreqFusion.signature.parameters[arguments.position(label)].yamlName
            throw LayerError("\(name)=\(arguments.int(label)) must be odd so masks keep the feature map's size",
                             blame: .argument(arguments.position(label)))
        }
        guard highResolutionChannels == lowResolutionChannels else {
            throw LayerError("returns hr + upsampled lr, so both inputs need the same channels; found hr \(highResolutionChannels), lr \(lowResolutionChannels)",
                             blame: .from(1))
        }
        guard compressedChannels >= 1 else {
            throw LayerError("compressed width (hr + lr) // 8 = \(compressedChannels); inputs need at least 8 channels in total",
                             blame: .from(nil))
        }
        if featureResample {
            let groups = featureResampleGroups
            let position = arguments.position("featureResampleGroups")
            guard compressedChannels >= groups, compressedChannels % groups == 0 else {
                throw LayerError("feature_resample: compressed width \(compressedChannels) must be a multiple of feature_resample_group=\(groups)",
                                 blame: .argument(position))
            }
            guard lowResolutionChannels % groups == 0 else {
                throw LayerError("feature_resample: lr channels \(lowResolutionChannels) must be a multiple of feature_resample_group=\(groups)",
                                 blame: .argument(position))
            }
            if featureResampleNorm && compressedChannels < 8 {
                throw LayerError("feature_resample_norm: GroupNorm(\(compressedChannels) // 8, \(compressedChannels)) needs a compressed width ≥ 8",
                                 blame: .from(nil))
            }
            if featureResampleNorm && compressedChannels % (compressedChannels / 8) != 0 {
                throw LayerError("feature_resample_norm: GroupNorm(\(compressedChannels / 8), \(compressedChannels)) needs the width to divide into \(compressedChannels / 8) groups",
                                 blame: .from(nil))
            }
        }
        printedArguments = [.list([.int(highResolutionChannels), .int(lowResolutionChannels)])] + arguments.writtenValues
    }

    public var outputChannels: [Int] { [highResolutionChannels] }

    var encoderPadding: Int { (encoderKernel - 1) * encoderDilation / 2 }

    public var tree: ModuleNode {
        let compressed = compressedChannels
        var children: [ModuleNode] = [
            .conv2d("hr_channel_compressor", inputChannels: highResolutionChannels, outputChannels: compressed, kernelSize: 1),
            .conv2d("lr_channel_compressor", inputChannels: lowResolutionChannels, outputChannels: compressed, kernelSize: 1),
            .conv2d("content_encoder", inputChannels: compressed, outputChannels: lowPassKernel * lowPassKernel, kernelSize: encoderKernel),
        ]
        if featureResample {
            let input = compressed + 3 * 3 - 1  // features + local similarity of a 3×3 window
            let groups = featureResampleGroups
            var sampler: [ModuleNode] = [
                .conv2d("offset", inputChannels: input, outputChannels: 2 * groups * 4, kernelSize: encoderKernel),
                .conv2d("direct_scale", inputChannels: input, outputChannels: 2 * groups * 4, kernelSize: encoderKernel),
                .conv2d("hr_offset", inputChannels: input, outputChannels: 2 * groups, kernelSize: encoderKernel),
                .conv2d("hr_direct_scale", inputChannels: input, outputChannels: 2 * groups, kernelSize: encoderKernel),
            ]
            sampler += featureResampleNorm
                ? [.groupNorm("norm_hr", channels: compressed), .groupNorm("norm_lr", channels: compressed)]
                : [.leaf("norm_hr", "Identity"), .leaf("norm_lr", "Identity")]
            children.append(ModuleNode("dysampler", "LocalSimGuidedSampler", buffers: [TensorDeclaration("init_pos", [1, 2 * groups * 4, 1, 1])],
                                       children: sampler))
        }
        children.append(.conv2d("content_encoder2", inputChannels: compressed, outputChannels: highPassKernel * highPassKernel, kernelSize: encoderKernel))
        let windows = hammingWindow
            ? [TensorDeclaration("hamming_lowpass", [1, 1, lowPassKernel, lowPassKernel]), TensorDeclaration("hamming_highpass", [1, 1, highPassKernel, highPassKernel])]
            : [TensorDeclaration("hamming_lowpass", [1]), TensorDeclaration("hamming_highpass", [1])]
        return ModuleNode("", "FreqFusion", buffers: windows, children: children)
    }

    public func outputShapes(_ inputs: [[Int]]) throws(LayerError) -> [[Int]] {
        let high = inputs[0], low = inputs[1]
        try requireFeatureMap(high, channels: highResolutionChannels, source: 0)
        try requireFeatureMap(low, channels: lowResolutionChannels, source: 1)
        guard high[0] == low[0] else {
            throw LayerError("hr and lr must share the batch size; found \(high[0]) and \(low[0])", blame: .from(1))
        }
        guard high[2] == 2 * low[2], high[3] == 2 * low[3] else {
            throw LayerError("hr must be exactly 2× lr in height and width: hr is \(high[2])×\(high[3]) \(describeShape(high)), lr is \(low[2])×\(low[3]) \(describeShape(low)), so hr should be \(2 * low[2])×\(2 * low[3])",
                             blame: .from(nil))
        }
        // CARAFE's reflect padding must be smaller than the map it pads.
        let lowPad = lowPassKernel / 2, highPad = highPassKernel / 2
        guard low[2] > lowPad, low[3] > lowPad, high[2] > highPad, high[3] > highPad else {
            throw LayerError("reflect padding of \(lowPad) around the \(low[2])×\(low[3]) lr map needs it to be at least \(lowPad + 1)×\(lowPad + 1)",
                             blame: .from(1))
        }
        for (name, shape) in [("hr", high), ("lr", low)] {
            let height = convolvedSize(shape[2], kernelSize: encoderKernel, stride: 1, padding: encoderPadding, dilation: encoderDilation)
            let width = convolvedSize(shape[3], kernelSize: encoderKernel, stride: 1, padding: encoderPadding, dilation: encoderDilation)
            guard height == shape[2], width == shape[3] else {
                throw LayerError("the content encoder (kernel \(encoderKernel), dilation \(encoderDilation)) changes the \(name) map from \(shape[2])×\(shape[3]) to \(height)×\(width)",
                                 blame: .argument(FreqFusion.signature.parameters.firstIndex { $0.label == "encoderKernel" } ?? 0))
            }
        }
        return [high]
    }

    public var fixedBuffers: [String: Tensor] {
        var buffers = [
            "hamming_lowpass": hammingWindow ? FreqFusion.hamming2D(lowPassKernel) : Tensor(shape: [1], repeating: 1),
            "hamming_highpass": hammingWindow ? FreqFusion.hamming2D(highPassKernel) : Tensor(shape: [1], repeating: 1),
        ]
        if featureResample {
            buffers["dysampler.init_pos"] = DySample.initialPositions(scale: 2, groups: featureResampleGroups)
        }
        return buffers
    }

    /// `np.outer(np.hamming(k), np.hamming(k))` as [1, 1, k, k].
    static func hamming2D(_ size: Int) -> Tensor {
        let window = (0..<size).map { n in
            size == 1 ? 1.0 : 0.54 - 0.46 * cos(2 * Double.pi * Double(n) / Double(size - 1))
        }
        return Tensor(shape: [1, 1, size, size], storage: window.flatMap { a in window.map { b in Float(a * b) } })
    }

    public func forward(_ inputs: [Tensor], _ weights: LayerWeights) throws(LayerError) -> [Tensor] {
        let high = inputs[0], low = inputs[1]
        let lowWindow = weights["hamming_lowpass"], highWindow = weights["hamming_highpass"]
        func encode(_ name: String, _ x: Tensor) -> Tensor {
            weights.child(name).conv2d(x, padding: encoderPadding, dilation: encoderDilation)
        }
        func upsampleToHigh(_ x: Tensor, like reference: Tensor) -> Tensor {
            x.interpolateNearest(height: reference.shape[2], width: reference.shape[3])
        }
        var compressedHigh = weights.child("hr_channel_compressor").conv2d(high)
        let compressedLow = weights.child("lr_channel_compressor").conv2d(low)
        // semi_conv, comp_feat_upsample and use_high_pass: the seed's default path
        let maskHighHigh = encode("content_encoder2", compressedHigh)
        let maskHighInitial = FreqFusion.normalizeKernels(maskHighHigh, kernelSize: highPassKernel, window: highWindow)
        compressedHigh = compressedHigh.carafeCombined(mask: maskHighInitial, kernelSize: highPassKernel) { x, carafe in x + x - carafe }
        let maskLowHigh = encode("content_encoder", compressedHigh)
        var maskLowInitial = FreqFusion.normalizeKernels(maskLowHigh, kernelSize: lowPassKernel, window: lowWindow)
        let maskLowLow = upsampleToHigh(encode("content_encoder", compressedLow)
            .carafeReassembled(mask: maskLowInitial, kernelSize: lowPassKernel, up: 2), like: compressedHigh)
        var maskLow = maskLowHigh + maskLowLow
        maskLowInitial = FreqFusion.normalizeKernels(maskLow, kernelSize: lowPassKernel, window: lowWindow)
        let maskHighLow = upsampleToHigh(encode("content_encoder2", compressedLow)
            .carafeReassembled(mask: maskLowInitial, kernelSize: lowPassKernel, up: 2), like: compressedHigh)
        var maskHigh = maskHighHigh + maskHighLow
        maskLow = FreqFusion.normalizeKernels(maskLow, kernelSize: lowPassKernel, window: lowWindow)
        var lowFeatures = low.carafeReassembled(mask: maskLow, kernelSize: lowPassKernel, up: 2)
        maskHigh = FreqFusion.normalizeKernels(maskHigh, kernelSize: highPassKernel, window: highWindow)
        if featureResample {
            lowFeatures = resample(weights.child("dysampler"), high: compressedHigh, low: compressedLow, features: lowFeatures)
        }
        // (high − carafe(high)) [+ high] + low-pass branch, in one pass
        if highResolutionResidual {
            return [high.carafeCombined(mask: maskHigh, kernelSize: highPassKernel, adding: lowFeatures) { x, carafe in (x - carafe) + x }]
        }
        return [high.carafeCombined(mask: maskHigh, kernelSize: highPassKernel, adding: lowFeatures) { x, carafe in x - carafe }]
    }

    /// `kernel_normalizer`: softmax over each pixel's k² kernel, times the hamming window,
    /// renormalised to sum 1.
    static func normalizeKernels(_ mask: Tensor, kernelSize: Int, window: Tensor) -> Tensor {
        precondition(mask.shape[1] == kernelSize * kernelSize)
        return mask.kernelsNormalized(window: window)
    }

    /// The seed's `LocalSimGuidedSampler`: offsets from the compressed features and their local
    /// cosine similarity, at lr and (pixel-unshuffled) hr resolution, then DySample-style sampling.
    func resample(_ weights: LayerWeights, high: Tensor, low: Tensor, features: Tensor) -> Tensor {
        let groups = compressedChannels / 8
        let normalizedHigh = featureResampleNorm ? weights.child("norm_hr").groupNorm(high, groups: groups) : high
        let normalizedLow = featureResampleNorm ? weights.child("norm_lr").groupNorm(low, groups: groups) : low
        let highSimilarity = Tensor.concatenate([normalizedHigh, FreqFusion.localSimilarity(normalizedHigh)], axis: 1)
        let lowSimilarity = Tensor.concatenate([normalizedLow, FreqFusion.localSimilarity(normalizedLow)], axis: 1)
        let padding = encoderKernel / 2
        func conv(_ name: String, _ x: Tensor) -> Tensor { weights.child(name).conv2d(x, padding: padding) }
        let offset = conv("offset", lowSimilarity) + conv("hr_offset", highSimilarity).pixelUnshuffle(2)
        let scope = (conv("direct_scale", lowSimilarity) + conv("hr_direct_scale", highSimilarity).pixelUnshuffle(2)).sigmoid()
        return DySample.sample(features, offset: offset * scope + weights["init_pos"], scale: 2, groups: featureResampleGroups)
    }

    /// The seed's `compute_similarity(t, 3, dilation=2)`: cosine similarity of each pixel with its
    /// 8 neighbours two pixels away (zero padding), [B, 8, H, W].
    static func localSimilarity(_ x: Tensor) -> Tensor {
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

    /// Compressors, content encoders, the CARAFE reassemblies (k² MACs per output element) and,
    /// with feature_resample, the offset convs and bilinear sampling (4 taps per element).
    public func multiplyAdds(_ inputs: [[Int]], _ outputs: [[Int]]) -> Double {
        let high = inputs[0], low = inputs[1]
        let highPixels = spatialPositions(high), lowPixels = spatialPositions(low)
        let compressed = Double(compressedChannels)
        let low2 = Double(lowPassKernel * lowPassKernel), high2 = Double(highPassKernel * highPassKernel)
        let encoder2 = Double(encoderKernel * encoderKernel)
        let highChannels = Double(highResolutionChannels), lowChannels = Double(lowResolutionChannels)
        var total = highPixels * highChannels * compressed + lowPixels * lowChannels * compressed
        // content_encoder on chr and clr, content_encoder2 on chr (twice: before and after the high-pass) and clr
        total += (highPixels + lowPixels) * compressed * encoder2 * low2
        total += (2 * highPixels + lowPixels) * compressed * encoder2 * high2
        // CARAFE: chr high-pass (k_h²·cc per hr pixel), mask upsampling (k_l²·k_l² and k_l²·k_h² per hr pixel),
        // lr upsampling (k_l²·C per hr pixel), hr high-pass (k_h²·C per hr pixel)
        total += highPixels * (high2 * compressed + low2 * low2 + low2 * high2)
        total += highPixels * (low2 * lowChannels + high2 * highChannels)
        if featureResample {
            let input = compressed + 8, groups = Double(featureResampleGroups)
            total += lowPixels * input * encoder2 * (2 * 2 * groups * 4)
            total += highPixels * input * encoder2 * (2 * 2 * groups)
            total += (highPixels + lowPixels) * compressed * 8 * 9  // cosine similarity over 8 neighbours
            total += highPixels * lowChannels * 4
        }
        return total
    }
}
