import Tensor

// The planned kernels of convolutions: chosen once per convolution, input shape and layout, by
// the execution pass over the program (keyed by instruction).

/// How a plan runs one convolution, chosen once per convolution and input shape.
enum ConvolutionKernel: Sendable {
    /// 3×3 stride-1 convs wide enough for Winograd's transforms to pay off (channels-last).
    case winograd(WinogradConvolution, inputShape: [Int])
    /// A oneDNN primitive in its blocked layout (strided, grouped, dilated, large kernels).
    case primitive(DNNLConvolution, inputShape: [Int])
    /// A 1×1 conv of a concatenation holding upsampled parts, part by part (channels-last).
    case partwise(PartwisePointwiseConvolution, inputShape: [Int])
    /// A 1×1 conv written NCHW by one GEMM per image, reading its input in either layout (the
    /// program's pass picks it where every reader of the output reads NCHW).
    case pointwisePlain(weight: Tensor, bias: Tensor?, activation: Activation)
    /// im2col / 1×1 GEMM on NCHW planes (1×1 convs: faster than the primitive's reorders).
    case gemm
    /// A depthwise convolution oneDNN has no channels-last kernel for (dilated), on NHWC maps.
    case depthwise(DepthwiseConvolutionChannelsLast, inputShape: [Int])

    /// The plan's shared scratch the kernel asks for at its input shape.
    var scratchBytes: (Int, Int) {
        switch self {
        case .winograd(let kernel, let shape): return kernel.scratchBytes(inputShape: shape)
        case .primitive(let primitive, _): return primitive.scratchBytes
        case .partwise(let kernel, _): return kernel.scratchBytes
        case .gemm, .pointwisePlain, .depthwise: return (0, 0)
        }
    }

    /// Whether the kernel's output is a channels-last map.
    var leavesChannelsLast: Bool {
        switch self {
        case .winograd, .partwise, .depthwise: return true
        case .primitive(let primitive, _): return primitive.channelsLastDestination
        case .gemm, .pointwisePlain: return false
        }
    }
}

/// What a plan's kernels share: the blocked-layout buffers of its oneDNN primitives (one runs
/// at a time) and the NCHW⇄NHWC reorders for the channels-last maps they leave.
final class KernelTape: @unchecked Sendable {
    let scratch = Scratch()
    /// nil: oneDNN could not make an engine, and every map stays NCHW.
    let converter = LayoutConverter()
}

extension ConvolutionKernel {
    /// The fastest kernel for a convolution at this input shape and layout: Winograd, a oneDNN
    /// primitive, the partwise 1×1 over an upsampled concatenation, or a GEMM on NCHW planes.
    static func choose(weight: Tensor, bias: Tensor?, geometry: ConvolutionGeometry, groups: Int, activation: Activation,
                       inputShape: [Int], inputChannelsLast: Bool, composition: Composition?, tape: KernelTape,
                       plainDestination: Bool = false) -> ConvolutionKernel {
        let pointwise = geometry.isPointwise && groups == 1
        if tape.converter != nil, pointwise, let parts = composition?.parts,
           let kernel = PartwisePointwiseConvolution(partShapes: parts.map(\.value.shape), factors: parts.map(\.factor), weight: weight,
                                                     bias: bias, activation: activation, scratch: tape.scratch) {
            return .partwise(kernel, inputShape: inputShape)
        }
        if tape.converter != nil && !plainDestination && WinogradConvolution.applies(weight: weight, geometry: geometry, groups: groups, inputShape: inputShape) {
            return .winograd(WinogradConvolution(weight: weight, bias: bias, activation: activation, scratch: tape.scratch), inputShape: inputShape)
        }
        // depthwise: oneDNN's NHWC kernel (brdgmm) where it has one, else ours on NHWC maps
        // rather than its blocked kernel between two reorders (7×7 at dilation 3, 32 channels
        // at 160²: 5.8 ms there)
        if tape.converter != nil && !plainDestination && DepthwiseConvolutionChannelsLast.applies(weight: weight, groups: groups) {
            let native = DNNLConvolution(inputShape: inputShape, weight: weight, bias: bias, geometry: geometry, groups: groups, activation: activation,
                                         scratch: tape.scratch, channelsLastSource: inputChannelsLast, channelsLastDestination: true)
            if let native, native.implementation.hasPrefix("brdgmm") { return .primitive(native, inputShape: inputShape) }
            return .depthwise(DepthwiseConvolutionChannelsLast(weight: weight, bias: bias, geometry: geometry, activation: activation),
                              inputShape: inputShape)
        }
        // 1×1 convs on NCHW maps stay a plain GEMM on the planes: oneDNN's layout reorders around
        // them cost more than they save (512→256 at 81²: 13.5 ms through the primitive); on
        // channels-last maps oneDNN's kernel needs no reorder and is the faster (48→32 at 160²:
        // 0.29 ms against 0.42 ms for the GEMM)
        if pointwise && !inputChannelsLast { return .gemm }
        if pointwise && plainDestination { return .pointwisePlain(weight: weight, bias: bias, activation: activation) }
        // channels-last out wherever oneDNN has a real kernel for it (even the image's 3
        // channels: 3→16 stride 2 at 640² 0.49 ms NHWC→NHWC + 0.17 ms to reorder the image,
        // against 0.89 ms NCHW→NCHW); NCHW otherwise
        // (`plainDestination`: every reader of the output reads NCHW, so the kernel writes it)
        let layouts = primitiveLayouts(inputChannelsLast: inputChannelsLast, channelsLastOutput: !plainDestination, tape: tape)
        for (channelsLastSource, channelsLastDestination) in layouts {
            guard let primitive = DNNLConvolution(inputShape: inputShape, weight: weight, bias: bias, geometry: geometry,
                                                  groups: groups, activation: activation, scratch: tape.scratch,
                                                  channelsLastSource: channelsLastSource, channelsLastDestination: channelsLastDestination)
            else { continue }
            // oneDNN's reference kernels are for correctness only (3→16 writing NHWC: 700 ms)
            if (channelsLastSource || channelsLastDestination) && primitive.implementation.hasPrefix("ref") { continue }
            return .primitive(primitive, inputShape: inputShape)
        }
        return .gemm
    }

    /// The (source, destination) layouts to build a oneDNN convolution in, best first: the input's
    /// layout and channels-last out where the readers take it, then NCHW in, then NCHW both ways.
    static func primitiveLayouts(inputChannelsLast: Bool, channelsLastOutput: Bool, tape: KernelTape) -> [(source: Bool, destination: Bool)] {
        guard tape.converter != nil else { return [(false, false)] }
        return channelsLastOutput ? [(inputChannelsLast, true), (false, true), (false, false)] : [(inputChannelsLast, false), (false, false)]
    }

    /// Runs the kernel on `x`, taking the input in whichever layout it reads; nil when the
    /// kernel was chosen for another input shape or is the GEMM (the caller's reference
    /// convolution runs then).
    func run(_ x: PlannedValue, converter: LayoutConverter?) -> PlannedValue? {
        switch self {
        case .winograd(let kernel, let shape) where shape == x.shape:
            // a plan makes Winograd kernels (channels-last both sides) only when it has a converter
            let converter = converter!
            return PlannedValue(channelsLast: kernel(x.channelsLastData ?? converter.channelsLast(x.tensor!)), converter: converter)
        case .partwise(let kernel, let shape) where shape == x.shape:
            // a plan makes partwise kernels only for compositions, which only a plan's upsampling makes
            guard let parts = x.composition?.parts, let converter else { return nil }
            return PlannedValue(channelsLast: kernel(parts.map { $0.value.channelsLastData(converting: converter)! }), converter: converter)
        case .primitive(let kernel, let shape) where shape == x.shape:
            // a plan makes channels-last primitives only when it has a converter
            let y = kernel(kernel.channelsLastSource ? x.channelsLastData ?? converter!.channelsLast(x.tensor!) : x.tensor!)
            guard kernel.channelsLastDestination, let converter else { return PlannedValue(y) }
            return PlannedValue(channelsLast: y, converter: converter)
        case .depthwise(let kernel, let shape) where shape == x.shape:
            // a plan makes these kernels only when it has a converter
            let converter = converter!
            return PlannedValue(channelsLast: kernel(x.channelsLastData ?? converter.channelsLast(x.tensor!)), converter: converter)
        case .pointwisePlain(let weight, let bias, let activation):
            let data = x.channelsLastData ?? x.tensor!
            let flat = Tensor.flattenedPointwise([data], channelsLast: [x.isChannelsLast], weights: [weight], biases: [bias])
            let y = flat.reshaped([x.shape[0], weight.shape[0], x.shape[2], x.shape[3]])
            return PlannedValue(activation == .identity ? y : y.activated(activation))
        default:
            return nil
        }
    }
}
