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

    public static let isCommunityModule = true
    public static let channelRule = ChannelRule.inputPair

    public var typeName: String { "FreqFusion" }
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
    public var hammingLowPass: Parameter
    public var hammingHighPass: Parameter
    public var hrChannelCompressor: Conv2d
    public var lrChannelCompressor: Conv2d
    public var contentEncoder: Conv2d
    public var dysampler: LocalSimGuidedSampler?
    public var contentEncoder2: Conv2d

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
        let (compressed, lowPassKernel, highPassKernel) = (compressedChannels, lowPassKernel, highPassKernel)
        let (encoderKernel, encoderDilation) = (encoderKernel, encoderDilation)
        let hammingWindow = hammingWindow
        hammingLowPass = Parameter(hammingWindow ? [1, 1, lowPassKernel, lowPassKernel] : [1],
                                   initialization: .computed { hammingWindow ? FreqFusion.hamming2D(lowPassKernel) : Tensor(shape: [1], repeating: 1) },
                                   isBuffer: true)
        hammingHighPass = Parameter(hammingWindow ? [1, 1, highPassKernel, highPassKernel] : [1],
                                    initialization: .computed { hammingWindow ? FreqFusion.hamming2D(highPassKernel) : Tensor(shape: [1], repeating: 1) },
                                    isBuffer: true)
        let padding = (encoderKernel - 1) * encoderDilation / 2
        hrChannelCompressor = Conv2d(highResolutionChannels, compressed, kernelSize: 1)
        lrChannelCompressor = Conv2d(lowResolutionChannels, compressed, kernelSize: 1)
        contentEncoder = Conv2d(compressed, lowPassKernel * lowPassKernel, kernelSize: encoderKernel, padding: padding, dilation: encoderDilation)
        contentEncoder2 = Conv2d(compressed, highPassKernel * highPassKernel, kernelSize: encoderKernel, padding: padding, dilation: encoderDilation)
        dysampler = featureResample
            ? LocalSimGuidedSampler(compressed, groups: featureResampleGroups, kernelSize: encoderKernel, normalized: featureResampleNorm)
            : nil
    }

    public var outputChannels: [Int] { [highResolutionChannels] }

    var encoderPadding: Int { (encoderKernel - 1) * encoderDilation / 2 }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("hamming_lowpass", &hammingLowPass)
        visitor.parameter("hamming_highpass", &hammingHighPass)
        visitor.child("hr_channel_compressor", &hrChannelCompressor)
        visitor.child("lr_channel_compressor", &lrChannelCompressor)
        visitor.child("content_encoder", &contentEncoder)
        visitor.child("dysampler", &dysampler, absent: nil)
        visitor.child("content_encoder2", &contentEncoder2)
    }

    func checkShapes(_ high: [Int], _ low: [Int]) throws(LayerError) {
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
    }

    /// `np.outer(np.hamming(k), np.hamming(k))` as [1, 1, k, k].
    static func hamming2D(_ size: Int) -> Tensor {
        let window = (0..<size).map { n in
            size == 1 ? 1.0 : 0.54 - 0.46 * cos(2 * Double.pi * Double(n) / Double(size - 1))
        }
        return Tensor(shape: [1, 1, size, size], storage: window.flatMap { a in window.map { b in Float(a * b) } })
    }

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        let high = inputs[0], low = inputs[1]
        try checkShapes(high.shape, low.shape)
        return [try forward(high: high, low: low, pass)]
    }

    /// The seed's `_forward` (semi_conv, comp_feat_upsample, use_high_pass).
    func forward(high: Feature, low: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        // `kernel_normalizer`: one composite, so the execution pass runs one kernel (Tensor.kernelsNormalized)
        func normalize(_ mask: Feature, _ window: Parameter, kernelSize k: Int) -> Feature {
            // hamming_window=False keeps a one-element window of 1
            let weights = mask.constant(window, viewedAs: window.shape.reduce(1, *) == k * k ? [1, k * k, 1, 1] : [1, 1, 1, 1])
            return Feature.composite("kernel_normalize", attributes: [:], inputs: [mask, weights]) {
                let windowed = mask.softmax(axis: 1) * weights
                return [windowed / windowed.reducedSum(axis: 1).reshaped([mask.shape[0], 1, mask.shape[2], mask.shape[3]])]
            }[0]
        }
        func carafe(_ x: Feature, mask: Feature, kernelSize k: Int) -> Feature {
            let (batch, channels, up) = (x.shape[0], x.shape[1], mask.shape[2] / x.shape[2])
            // one composite, so the execution pass runs the reassembly kernel (Tensor.carafeReassembled)
            return Feature.composite("carafe_reassemble", attributes: ["kernel_size": [k], "up": [up], "product_taps": [k * k]], inputs: [x, mask]) {
                let taps = x.unfoldedTaps(kernelSize: k, padding: k / 2, reflect: true)
                let spread = up == 1 ? taps : taps.reshaped([batch, channels * k * k, x.shape[2], x.shape[3]]).nearestUpsampled(factor: up)
                    .reshaped([batch, channels, k * k, mask.shape[2], mask.shape[3]])
                return [(spread * mask.reshaped([batch, 1, k * k, mask.shape[2], mask.shape[3]])).reducedSum(axis: 2)]
            }[0]
        }
        // x combined with carafe(x) element by element, plus `addend`: one composite, so the
        // execution pass runs it in the reassembly's own pass (Tensor.carafeCombined)
        func combined(_ x: Feature, mask: Feature, kernelSize k: Int, _ form: CarafeCombination, adding addend: Feature? = nil) -> Feature {
            Feature.composite("carafe_combine", attributes: ["kernel_size": [k], "form": [form.rawValue]], inputs: [x, mask] + (addend.map { [$0] } ?? [])) {
                let reassembled = carafe(x, mask: mask, kernelSize: k)
                let combined: Feature
                switch form {
                case .twiceMinusCarafe: combined = (x + x) - reassembled
                case .minusCarafe: combined = x - reassembled
                case .minusCarafePlusInput: combined = (x - reassembled) + x
                }
                return [addend.map { combined + $0 } ?? combined]
            }[0]
        }
        var compressedHigh = try hrChannelCompressor(high, pass)
        let compressedLow = try lrChannelCompressor(low, pass)
        let maskHighHigh = try contentEncoder2(compressedHigh, pass)
        let maskHighInitial = normalize(maskHighHigh, hammingHighPass, kernelSize: highPassKernel)
        compressedHigh = combined(compressedHigh, mask: maskHighInitial, kernelSize: highPassKernel, .twiceMinusCarafe)
        let maskLowHigh = try contentEncoder(compressedHigh, pass)
        var maskLowInitial = normalize(maskLowHigh, hammingLowPass, kernelSize: lowPassKernel)
        let maskLowLow = carafe(try contentEncoder(compressedLow, pass), mask: maskLowInitial, kernelSize: lowPassKernel)
        var maskLow = maskLowHigh + maskLowLow
        maskLowInitial = normalize(maskLow, hammingLowPass, kernelSize: lowPassKernel)
        let maskHighLow = carafe(try contentEncoder2(compressedLow, pass), mask: maskLowInitial, kernelSize: lowPassKernel)
        var maskHigh = maskHighHigh + maskHighLow
        maskLow = normalize(maskLow, hammingLowPass, kernelSize: lowPassKernel)
        var lowFeatures = carafe(low, mask: maskLow, kernelSize: lowPassKernel)
        maskHigh = normalize(maskHigh, hammingHighPass, kernelSize: highPassKernel)
        if let dysampler {
            lowFeatures = try dysampler(high: compressedHigh, low: compressedLow, features: lowFeatures, pass)
        }
        return combined(high, mask: maskHigh, kernelSize: highPassKernel, highResolutionResidual ? .minusCarafePlusInput : .minusCarafe,
                        adding: lowFeatures)
    }
}

/// The seed's `LocalSimGuidedSampler`: offsets from the compressed features and their local
/// cosine similarity, at lr and (pixel-unshuffled) hr resolution, then DySample-style sampling.
public struct LocalSimGuidedSampler: Block {
    public var typeName: String { "LocalSimGuidedSampler" }
    let groups: Int
    let normGroups: Int
    public var initialPositions: Parameter
    public var offset: Conv2d
    public var directScale: Conv2d
    public var hrOffset: Conv2d
    public var hrDirectScale: Conv2d
    public var normHigh: GroupNorm?
    public var normLow: GroupNorm?

    init(_ channels: Int, groups: Int, kernelSize: Int, normalized: Bool) {
        self.groups = groups
        normGroups = channels / 8
        let input = channels + 3 * 3 - 1  // features + local similarity of a 3×3 window
        initialPositions = DySample.initialPositionsBuffer(scale: 2, groups: groups)
        offset = Conv2d(input, 2 * groups * 4, kernelSize: kernelSize, padding: kernelSize / 2)
        directScale = Conv2d(input, 2 * groups * 4, kernelSize: kernelSize, padding: kernelSize / 2)
        hrOffset = Conv2d(input, 2 * groups, kernelSize: kernelSize, padding: kernelSize / 2)
        hrDirectScale = Conv2d(input, 2 * groups, kernelSize: kernelSize, padding: kernelSize / 2)
        normHigh = normalized ? GroupNorm(groups: channels / 8, channels: channels) : nil
        normLow = normalized ? GroupNorm(groups: channels / 8, channels: channels) : nil
    }

    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {
        visitor.parameter("init_pos", &initialPositions)
        visitor.child("offset", &offset)
        visitor.child("direct_scale", &directScale)
        visitor.child("hr_offset", &hrOffset)
        visitor.child("hr_direct_scale", &hrDirectScale)
        visitor.child("norm_hr", &normHigh, absent: "Identity")
        visitor.child("norm_lr", &normLow, absent: "Identity")
    }

    /// Offsets from both resolutions' features and their local similarity (GroupNorm and the
    /// similarity as composites), then DySample's grid sampling.
    func callAsFunction(high: Feature, low: Feature, features: Feature, _ pass: Pass) throws(LayerError) -> Feature {
        func withSimilarity(_ x: Feature, _ norm: GroupNorm?) -> Feature {
            let normalized = norm.map { $0(x) } ?? x
            return try! Feature.concatenate([normalized, Self.tracedLocalSimilarity(normalized)], axis: 1)
        }
        let highSimilarity = withSimilarity(high, normHigh), lowSimilarity = withSimilarity(low, normLow)
        let moved = try offset(lowSimilarity, pass) + (try hrOffset(highSimilarity, pass)).pixelUnshuffled(2)
        let scope = (try directScale(lowSimilarity, pass) + (try hrDirectScale(highSimilarity, pass)).pixelUnshuffled(2)).activated(.sigmoid)
        let positions = features.constant(initialPositions)
        return DySample.tracedSample(features, offset: (moved * scope).plus(positions), scale: 2, groups: groups)
    }

    /// `compute_similarity(t, 3, dilation=2)` as one composite (`local_similarity`): the
    /// channel dot product with each neighbour two pixels away (zero padding) over the two
    /// norms, each clamped to 1e-8 (F.cosine_similarity).
    static func tracedLocalSimilarity(_ x: Feature) -> Feature {
        let (batch, height, width) = (x.shape[0], x.shape[2], x.shape[3])
        return Feature.composite("local_similarity", attributes: ["dilation": [2]], inputs: [x]) {
            func norm(_ y: Feature) -> Feature {
                Feature.traced(.squareRoot, [(y * y).reducedSum(axis: 1).reshaped([batch, 1, height, width])], shapes: [[batch, 1, height, width]])[0]
                    .clipped(minimum: 1e-8)
            }
            let padded = x.zeroPadded(left: 2, right: 2, top: 2, bottom: 2)
            let centreNorm = norm(x)
            var similarities: [Feature] = []
            for (dy, dx) in [(-2, -2), (-2, 0), (-2, 2), (0, -2), (0, 2), (2, -2), (2, 0), (2, 2)] {
                let neighbour = padded.sliced(axis: 2, (2 + dy)..<(2 + dy + height)).sliced(axis: 3, (2 + dx)..<(2 + dx + width))
                let dot = (x * neighbour).reducedSum(axis: 1).reshaped([batch, 1, height, width])
                similarities.append(dot / (centreNorm * norm(neighbour)))
            }
            return [try! Feature.concatenate(similarities, axis: 1)]
        }[0]
    }
}
