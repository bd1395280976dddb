import CDNNL
import Synchronization

/// A oneDNN convolution primitive for one input shape, created once and reused: NCHW source
/// and destination, weights reordered once into the layout oneDNN picks, bias and activation
/// applied by the primitive (post-ops), so a conv + BatchNorm(folded) + SiLU is one call.
public final class DNNLConvolution: @unchecked Sendable {
    private let engine: dnnl_engine_t
    private let stream: dnnl_stream_t
    private var primitive: dnnl_primitive_t?
    private var sourceMemory: dnnl_memory_t?
    private var weightMemory: dnnl_memory_t?
    private var biasMemory: dnnl_memory_t?
    private var destinationMemory: dnnl_memory_t?
    // the reordered weights and the bias, owned here for the primitive's lifetime
    private var weightBuffer: UnsafeMutableRawPointer?
    private var biasValues: [Float]
    public let inputShape: [Int]
    public let outputShape: [Int]
    /// The weights' shape, [out, in / groups, kh, kw].
    public let weightShape: [Int]
    private var sourceReorder: Reorder?
    private var destinationReorder: Reorder?
    /// The weights' reorder from OIHW (GOIHW) into the chosen layout, kept for weights given per call.
    private var weightReorder: Reorder?
    private var blockedSourceBytes = 0
    private var blockedDestinationBytes = 0
    // oneDNN's primitives may run concurrently, but the memory objects' handles are per call
    private let scratch: Scratch
    /// oneDNN's name for the implementation it chose (e.g. `brgconv:avx512_core`).
    public private(set) var implementation = ""
    /// The shared scratch this primitive asks for: its blocked source and destination.
    public var scratchBytes: (Int, Int) { (blockedSourceBytes, blockedDestinationBytes) }
    /// Whether the input is taken, and the output given, channels-last ([N, H, W, C], oneDNN's
    /// own layout for its AVX-512 kernels) instead of NCHW — no reorder on that side.
    public let channelsLastSource: Bool
    public let channelsLastDestination: Bool

    /// Returns nil when oneDNN cannot build the primitive (the caller then uses the GEMM path).
    public init?(inputShape: [Int], weight: Tensor, bias: Tensor?, geometry g: ConvolutionGeometry, groups: Int,
                 activation: Activation, scratch: Scratch, channelsLastSource: Bool = false, channelsLastDestination: Bool = false) {
        self.scratch = scratch
        self.channelsLastSource = channelsLastSource
        self.channelsLastDestination = channelsLastDestination
        let (batch, inputChannels, height, width) = (inputShape[0], inputShape[1], inputShape[2], inputShape[3])
        let outputChannels = weight.shape[0]
        self.inputShape = inputShape
        weightShape = weight.shape
        outputShape = [batch, outputChannels, g.outputHeight(height), g.outputWidth(width)]
        biasValues = bias?.storage ?? [Float](repeating: 0, count: outputChannels)
        var engine: dnnl_engine_t?
        var stream: dnnl_stream_t?
        guard dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success, let engine,
              dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue) == dnnl_success, let stream else { return nil }
        self.engine = engine
        self.stream = stream

        // dimension lists go to the C API as arrays (a pointer to a tuple's first element would be a temporary)
        func dims(_ values: [Int]) -> [dnnl_dim_t] { values.map { dnnl_dim_t($0) } }
        var sourceDesc = dnnl_memory_desc_t(), destinationDesc = dnnl_memory_desc_t(), biasDesc = dnnl_memory_desc_t()
        var sourceAny = dnnl_memory_desc_t(), destinationAny = dnnl_memory_desc_t()
        var weightAny = dnnl_memory_desc_t(), weightUser = dnnl_memory_desc_t()
        let grouped = groups > 1
        let weightDims = grouped
            ? [groups, outputChannels / groups, inputChannels / groups, g.kernelHeight, g.kernelWidth]
            : [outputChannels, inputChannels, g.kernelHeight, g.kernelWidth]
        let sourceDims = dims(inputShape), destinationDims = dims(outputShape), wDims = dims(weightDims), bDims = dims([outputChannels])
        guard dnnl_memory_desc_init_by_tag(&sourceDesc, 4, sourceDims, dnnl_f32, dnnl_nchw) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&destinationDesc, 4, destinationDims, dnnl_f32, dnnl_nchw) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&sourceAny, 4, sourceDims, dnnl_f32,
                                           channelsLastSource ? dnnl_nhwc : dnnl_format_tag_any) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&destinationAny, 4, destinationDims, dnnl_f32, channelsLastDestination ? dnnl_nhwc : dnnl_format_tag_any) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&biasDesc, 1, bDims, dnnl_f32, dnnl_x) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&weightAny, Int32(weightDims.count), wDims, dnnl_f32, dnnl_format_tag_any) == dnnl_success,
              dnnl_memory_desc_init_by_tag(&weightUser, Int32(weightDims.count), wDims, dnnl_f32, grouped ? dnnl_goihw : dnnl_oihw) == dnnl_success
        else { return nil }
        let strides = dims([g.stride, g.stride]), dilations = dims([g.dilation - 1, g.dilation - 1])
        let padding = dims([g.padding, g.padding])
        // oneDNN wants the right/bottom padding that makes the output size come out exactly
        let padRight = dims([(outputShape[2] - 1) * g.stride + (g.kernelHeight - 1) * g.dilation + 1 - height - g.padding,
                             (outputShape[3] - 1) * g.stride + (g.kernelWidth - 1) * g.dilation + 1 - width - g.padding])
        let paddingRight = padRight
        var description = dnnl_convolution_desc_t()
        guard dnnl_dilated_convolution_forward_desc_init(&description, dnnl_forward_inference, dnnl_convolution_direct,
                                                         &sourceAny, &weightAny, &biasDesc, &destinationAny,
                                                         strides, dilations, padding, paddingRight) == dnnl_success
        else { return nil }
        var attributes: dnnl_primitive_attr_t?
        var postOps: dnnl_post_ops_t?
        dnnl_primitive_attr_create(&attributes)
        dnnl_post_ops_create(&postOps)
        defer { dnnl_primitive_attr_destroy(attributes); dnnl_post_ops_destroy(postOps) }
        switch activation {
        case .identity: break
        case .relu: dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_relu, 0, 0)
        case .relu6: dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_clip, 0, 6)
        case .silu: dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_swish, 1, 0)
        case .gelu: dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_gelu_erf, 0, 0)
        case .sigmoid: dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_logistic, 0, 0)
        case .tanh: dnnl_post_ops_append_eltwise(postOps, 1, dnnl_eltwise_tanh, 0, 0)
        }
        dnnl_primitive_attr_set_post_ops(attributes, postOps)
        var descriptor: dnnl_primitive_desc_t?
        guard withUnsafePointer(to: &description, { dnnl_primitive_desc_create(&descriptor, UnsafeRawPointer($0), attributes, engine, nil) }) == dnnl_success,
              let descriptor else { return nil }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        guard let chosen = dnnl_primitive_desc_query_md(descriptor, dnnl_query_weights_md, 0),
              let chosenSource = dnnl_primitive_desc_query_md(descriptor, dnnl_query_src_md, 0),
              let chosenDestination = dnnl_primitive_desc_query_md(descriptor, dnnl_query_dst_md, 0),
              dnnl_primitive_create(&primitive, descriptor) == dnnl_success else { return nil }
        // the layouts oneDNN prefers (NHWC for brgconv, nChw16c for others) are reached from
        // NCHW by reorders around the call; a channels-last side, or an NCHW choice, needs none
        if !channelsLastSource && dnnl_memory_desc_equal(&sourceDesc, chosenSource) == 0 {
            guard let toChosen = Reorder(from: &sourceDesc, to: chosenSource, engine: engine) else { return nil }
            sourceReorder = toChosen
            blockedSourceBytes = dnnl_memory_desc_get_size(chosenSource)
        }
        if !channelsLastDestination && dnnl_memory_desc_equal(&destinationDesc, chosenDestination) == 0 {
            guard let fromChosen = Reorder(from: chosenDestination, to: &destinationDesc, engine: engine) else { return nil }
            destinationReorder = fromChosen
            blockedDestinationBytes = dnnl_memory_desc_get_size(chosenDestination)
        }
        var name: UnsafePointer<CChar>?
        if dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name {
            implementation = String(cString: name)
        }

        guard let weightReorder = Reorder(from: &weightUser, to: chosen, engine: engine) else { return nil }
        self.weightReorder = weightReorder
        // reorder the weights once into the chosen layout
        let size = dnnl_memory_desc_get_size(chosen)
        weightBuffer = UnsafeMutableRawPointer.allocate(byteCount: max(size, 64), alignment: 64)
        var userMemory: dnnl_memory_t?
        var weightCopy = weight.storage
        let reordered: Bool = weightCopy.withUnsafeMutableBytes { raw in
            guard dnnl_memory_create(&userMemory, &weightUser, engine, raw.baseAddress) == dnnl_success,
                  dnnl_memory_create(&weightMemory, chosen, engine, weightBuffer) == dnnl_success else { return false }
            defer { dnnl_memory_destroy(userMemory) }
            var reorderDescriptor: dnnl_primitive_desc_t?
            var reorder: dnnl_primitive_t?
            guard dnnl_reorder_primitive_desc_create(&reorderDescriptor, &weightUser, engine, chosen, engine, nil) == dnnl_success,
                  dnnl_primitive_create(&reorder, reorderDescriptor) == dnnl_success else { return false }
            defer { dnnl_primitive_destroy(reorder); dnnl_primitive_desc_destroy(reorderDescriptor) }
            var arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: userMemory), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: weightMemory)]
            guard dnnl_primitive_execute(reorder, stream, 2, &arguments) == dnnl_success else { return false }
            return dnnl_stream_wait(stream) == dnnl_success
        }
        guard reordered else { return nil }
        let biasCreated = biasValues.withUnsafeMutableBytes { raw in
            dnnl_memory_create(&biasMemory, &biasDesc, engine, raw.baseAddress) == dnnl_success
        }
        guard biasCreated,
              dnnl_memory_create(&sourceMemory, chosenSource, engine, nil) == dnnl_success,
              dnnl_memory_create(&destinationMemory, chosenDestination, engine, nil) == dnnl_success else { return nil }
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        for memory in [sourceMemory, weightMemory, biasMemory, destinationMemory] { dnnl_memory_destroy(memory) }
        weightBuffer?.deallocate()
        dnnl_stream_destroy(stream)
        dnnl_engine_destroy(engine)
    }

    /// Runs the convolution with weights (and bias) computed by the forward pass — a dynamic
    /// convolution's — of the shape it was built for: the weights are reordered into the
    /// primitive's layout first (a copy, cheap beside the convolution).
    public func callAsFunction(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(weight.shape == weightShape, "conv built for weights \(weightShape) got \(weight.shape)")
        weight.storage.withUnsafeBytes { raw in
            // the reorder only reads its source
            weightReorder!.run(from: UnsafeMutableRawPointer(mutating: raw.baseAddress!), to: weightBuffer!, stream: stream)
        }
        if let bias {
            precondition(bias.count == biasValues.count, "bias of \(bias.count) values for \(biasValues.count) outputs")
            biasValues = bias.storage
        } else {
            for index in biasValues.indices { biasValues[index] = 0 }
        }
        return self(x)
    }

    /// Runs the convolution on an input of the shape it was built for, NCHW or (`channelsLastSource`)
    /// NHWC; the output is NCHW or (`channelsLastDestination`) NHWC.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.shape == (channelsLastSource ? ChannelsLast.shape(ofPlain: inputShape) : inputShape), "conv built for \(inputShape) got \(x.shape)")
        // every element is written by the primitive or its reorder: no zero fill first
        return Tensor(shape: channelsLastDestination ? ChannelsLast.shape(ofPlain: outputShape) : outputShape) { destination in
            scratch.use(blockedSourceBytes, blockedDestinationBytes) { blockedSource, blockedDestination in
                x.storage.withUnsafeBufferPointer { source in
                    biasValues.withUnsafeMutableBytes { bias in
                        let plainSource = UnsafeMutableRawPointer(mutating: source.baseAddress!)
                        let plainDestination = UnsafeMutableRawPointer(destination.baseAddress!)
                        if let sourceReorder {
                            sourceReorder.run(from: plainSource, to: blockedSource, stream: stream)
                            dnnl_memory_set_data_handle(sourceMemory, blockedSource)
                        } else {
                            dnnl_memory_set_data_handle(sourceMemory, plainSource)
                        }
                        dnnl_memory_set_data_handle(destinationMemory, destinationReorder == nil ? plainDestination : blockedDestination)
                        dnnl_memory_set_data_handle(biasMemory, bias.baseAddress)
                        var arguments = [
                            dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: sourceMemory),
                            dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weightMemory),
                            dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: biasMemory),
                            dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: destinationMemory),
                        ]
                        let status = dnnl_primitive_execute(primitive, stream, 4, &arguments)
                        precondition(status == dnnl_success && dnnl_stream_wait(stream) == dnnl_success,
                                     "oneDNN convolution failed (\(status.rawValue))")
                        destinationReorder?.run(from: blockedDestination, to: plainDestination, stream: stream)
                    }
                }
            }
        }
    }
}

/// A oneDNN reorder between two layouts of one tensor, with memory objects whose buffers are
/// set per call.
final class Reorder {
    private var primitive: dnnl_primitive_t?
    private var source: dnnl_memory_t?
    private var destination: dnnl_memory_t?

    init?(from: UnsafePointer<dnnl_memory_desc_t>, to: UnsafePointer<dnnl_memory_desc_t>, engine: dnnl_engine_t) {
        var descriptor: dnnl_primitive_desc_t?
        guard dnnl_reorder_primitive_desc_create(&descriptor, from, engine, to, engine, nil) == dnnl_success else { return nil }
        defer { dnnl_primitive_desc_destroy(descriptor) }
        guard dnnl_primitive_create(&primitive, descriptor) == dnnl_success,
              dnnl_memory_create(&source, from, engine, nil) == dnnl_success,
              dnnl_memory_create(&destination, to, engine, nil) == dnnl_success else { return nil }
    }

    deinit {
        dnnl_primitive_destroy(primitive)
        dnnl_memory_destroy(source)
        dnnl_memory_destroy(destination)
    }

    func run(from: UnsafeMutableRawPointer, to: UnsafeMutableRawPointer, stream: dnnl_stream_t) {
        dnnl_memory_set_data_handle(source, from)
        dnnl_memory_set_data_handle(destination, to)
        var arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: source), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: destination)]
        let status = dnnl_primitive_execute(primitive, stream, 2, &arguments)
        precondition(status == dnnl_success && dnnl_stream_wait(stream) == dnnl_success, "oneDNN reorder failed (\(status.rawValue))")
    }
}

/// Two 64-byte-aligned buffers the convolutions of a plan share for their blocked inputs and
/// outputs and Winograd's tiles (one convolution runs at a time), instead of a pair per
/// convolution. A plan reserves each kernel's sizes while it prepares them and allocates the
/// buffers once, at their largest, before the first forward pass: growing them there would
/// leave freed holes of every smaller size in the heap, which the pass's feature maps rarely fit.
public final class Scratch: @unchecked Sendable {
    private let lock = Mutex(())
    private var buffers: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []
    private var reserved = (0, 0)

    public init() {}

    deinit { for buffer in buffers { buffer.pointer.deallocate() } }

    /// The bytes both buffers hold now.
    public var allocatedBytes: Int { lock.withLock { _ in buffers.reduce(0) { $0 + $1.bytes } } }

    /// Notes that a kernel will ask for buffers of these sizes.
    public func reserve(_ bytes: (Int, Int)) {
        lock.withLock { _ in reserved = (max(reserved.0, bytes.0), max(reserved.1, bytes.1)) }
    }

    /// Allocates the buffers at the largest sizes reserved so far, and touches their pages so
    /// they are resident from here on (the loaded plan's memory, not the first pass's).
    public func allocateReserved() {
        lock.withLock { _ in
            grow(to: [reserved.0, reserved.1])
            for buffer in buffers { buffer.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: buffer.bytes) }
        }
    }

    func use(_ first: Int, _ second: Int, _ body: (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Void) {
        lock.withLock { _ in
            grow(to: [first, second])  // a no-op when the plan reserved these sizes
            body(buffers[0].pointer, buffers[1].pointer)
        }
    }

    private func grow(to sizes: [Int]) {
        for (slot, bytes) in sizes.enumerated() where slot >= buffers.count || buffers[slot].bytes < bytes {
            if slot < buffers.count { buffers[slot].pointer.deallocate() }
            let buffer = (UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64), max(bytes, 64))
            if slot < buffers.count { buffers[slot] = buffer } else { buffers.append(buffer) }
        }
    }
}

