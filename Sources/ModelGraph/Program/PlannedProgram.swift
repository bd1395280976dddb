import Tensor

/// The execution pass: a program planned once at its input shape, then run many times.
///
/// Planning is three passes over the instructions:
/// 1. **Fusion**, in this order, each step leaving alone what an earlier one absorbed:
///    a convolution whose only reader is a BatchNorm over constants takes the norm folded into
///    its weights, and one whose only reader (then) is an activation takes the activation into
///    its kernel's epilogue (RepConv's parallel branches merge into one 3×3); a convolution
///    whose weights the forward computes takes its BatchNorm and activation the same way, per
///    run; then patterns one kernel computes whole (`Macro`: deformable attention first, then
///    DFL, token GEMMs, transposed matmul operands, views of channels-last elements); last,
///    runs of element-wise operations (`ElementwiseChain`). The absorbed instructions do not run.
/// 2. **Layouts and kernels.** A walk over shape-only values in the layouts the kernels will
///    leave chooses every convolution's kernel for its input's shape and layout (Winograd, a
///    oneDNN primitive, the channels-last depthwise kernel, the partwise 1×1 over an upsampled
///    concatenation, a GEMM), keyed by the instruction — not by call order. Element-wise
///    operations, BatchNorm, reductions over channels, concatenation, splits, pooling and
///    nearest upsampling keep a channels-last map channels-last (`readsChannelsLast`); every
///    other operation reads NCHW.
/// 3. **Liveness.** Each value is released after its last reader.
///
/// Running walks the instructions once more with data through the same code.
public final class PlannedProgram: @unchecked Sendable {
    public let program: Program
    /// Per instruction position: the fused chain a convolution stands for.
    private let fusions: [Int: Fusion]
    /// Instructions a fusion absorbed (they do not run).
    private let absorbed: Set<Int>
    /// Patterns a kernel computes whole, keyed by the position of the pattern's last instruction
    /// (the others are absorbed).
    private let macros: [Int: Macro]

    /// A pattern of instructions one kernel computes from the pattern's inputs.
    struct Macro {
        let inputs: [Int]
        let output: ProgramValue
        let label: String
        /// Whether the kernel reads channels-last inputs as they are (else it reads NCHW copies).
        var readsChannelsLast = false
        /// Whether `body` gives the output's NHWC elements, a channels-last map (else NCHW).
        var leavesChannelsLast = false
        /// Whether `body` gives the output in the layout its first input is held in.
        var layoutFollowsFirstInput = false
        /// Runs on the inputs' data (a planning walk only takes the output's shape).
        let body: ([PlannedValue]) -> Tensor
    }
    /// Per instruction position, the values whose last reader it is.
    private let releases: [[Int]]
    private var kernels: [Int: ConvolutionKernel] = [:]
    /// Convolutions whose weights the forward computes (a dynamic convolution's, e.g. an
    /// attention over a bank of kernels), by position: a BatchNorm and an activation after one
    /// fold into it as into a constant convolution, the weights scaled on every run.
    private let dynamicConvolutions: [Int: DynamicFusion]
    private var dynamicKernels: [Int: DNNLConvolution] = [:]
    private let tape = KernelTape()

    /// A dynamic convolution's fused chain: the BatchNorm folded in (per output channel, the
    /// weights' scale and the bias' shift after it), the activation, the chain's output, and
    /// whether a reader of that output takes channels-last maps (the primitive may write one).
    /// Its oneDNN primitive is chosen at planning for the weights' shape.
    struct DynamicFusion {
        var scale: [Float]?
        var shift: [Float]?
        var activation: Activation = .identity
        var output: Int
        var channelsLastReaders = false
    }

    struct Fusion {
        var weight: Tensor
        var bias: Tensor?
        var activation: Activation = .identity
        /// The value the fused chain produces (the last absorbed instruction's output).
        var output: Int
        /// Every reader of the output reads NCHW (a reshape, a head's decoding), so the kernel
        /// writes NCHW rather than leave a channels-last map to convert.
        var plainDestination = false
    }

    /// The values the step at an instruction reads: a pattern's inputs, a fused convolution's
    /// input alone (its weights are the fusion's), else the instruction's operands.
    static func reads(_ instruction: ProgramInstruction, macro: Macro?, isFused: Bool) -> [Int] {
        macro?.inputs ?? (isFused ? [instruction.inputs[0]] : instruction.inputs)
    }

    /// The values the step at `position` writes: a pattern's or a fused chain's output, else the instruction's.
    private func writes(_ position: Int) -> [Int] {
        macros[position].map { [$0.output.id] } ?? fusions[position].map { [$0.output] } ?? dynamicConvolutions[position].map { [$0.output] }
            ?? program.instructions[position].outputs.map(\.id)
    }

    /// Composites whose kernels read their first input channels-last as it is (CARAFE).
    static let channelsLastComposites: Set = ["carafe_reassemble", "carafe_combine"]

    /// Whether `op` runs on a channels-last map as it is (the rest read NCHW).
    static func readsChannelsLast(_ op: ProgramOp, rank: Int) -> Bool {
        switch op {
        case .composite(let composite): return channelsLastComposites.contains(composite.name)
        case .convolution, .activation, .maxPool, .averagePool, .upsampleNearest, .pad(_, _, _, _, false): return true
        case .add, .subtract, .multiply, .divide, .batchNorm: return rank == 4
        case .reduceSum(let axis), .reduceMax(let axis): return axis == 1 && rank == 4
        case .concatenate(let axis), .split(let axis, _): return axis == 1 && rank == 4
        default: return false
        }
    }

    /// Whether `reader` takes a value of `shape` as it is when that is a channels-last map: an
    /// operation with a channels-last form, or a view to the shape the value has.
    static func readsChannelsLast(_ reader: ProgramInstruction, value shape: [Int]) -> Bool {
        if case .reshape(let view) = reader.op, view == shape { return true }
        return readsChannelsLast(reader.op, rank: shape.count)
    }

    /// Composites the execution pass computes with kernels of its own; the rest run inlined.
    static let compositeKernels: [String: @Sendable (Composite, [Tensor]) -> [Tensor]] = [
        "deformable_attention": { composite, x in
            let levels = zip(composite.attributes["heights"]!, composite.attributes["widths"]!).map { (height: $0, width: $1) }
            return [Tensor.projectedDeformableAttention(features: x[0], levelShapes: levels, locations: x[1], weights: x[2],
                                                        valueWeight: x[3], valueBias: x[4], heads: composite.attributes["heads"]![0])]
        },
        "attention": { composite, x in
            [Tensor.attention(query: x[0], key: x[1], value: x[2], heads: composite.attributes["heads"]![0])]
        },
        "carafe_reassemble": { composite, x in
            [x[0].carafeReassembled(mask: x[1], kernelSize: composite.attributes["kernel_size"]![0], up: composite.attributes["up"]![0])]
        },
        "kernel_normalize": { _, x in
            [x[0].kernelsNormalized(window: x[1])]
        },
        "carafe_combine": { composite, x in
            [x[0].carafeCombined(mask: x[1], kernelSize: composite.attributes["kernel_size"]![0], adding: x.count > 2 ? x[2] : nil,
                                 CarafeCombination(rawValue: composite.attributes["form"]![0])!, channelsLast: false)]
        },
        "adaptive_max_pool": { composite, x in
            [x[0].adaptiveMaxPooled(height: composite.attributes["output_size"]![0], width: composite.attributes["output_size"]![1])]
        },
        "group_norm": { composite, x in
            [x[0].groupNorm(groups: composite.attributes["groups"]![0], weight: x[1], bias: x[2])]
        },
        "local_similarity": { _, x in
            [Tensor.localSimilarity(x[0])]
        },
        "carafe_upsample": { composite, x in
            [x[0].carafeModuleReassembled(weights: x[1], kernelSize: composite.attributes["kernel_size"]![0], scale: composite.attributes["scale"]![0])]
        },
    ]

    /// Plans `program` at the input shape it was traced at.
    public init(_ program: Program) {
        let program = program.inlined(keeping: Set(Self.compositeKernels.keys))
        self.program = program
        let pinned = Set(program.outputs.map(\.id)).union(program.layerOutputs.values)
        // an instruction whose results nothing reads (attention weights a caller drops) does not run
        var live = pinned
        var dead = Set<Int>()
        for position in program.instructions.indices.reversed() {
            let instruction = program.instructions[position]
            if instruction.outputs.contains(where: { live.contains($0.id) }) { live.formUnion(instruction.inputs) } else { dead.insert(position) }
        }
        var constants: [Int: Tensor] = [:]
        var readers: [Int: [Int]] = [:]
        for (position, instruction) in program.instructions.enumerated() where !dead.contains(position) {
            if case .constant(let tensor, _) = instruction.op { constants[instruction.outputs[0].id] = tensor }
            for id in instruction.inputs { readers[id, default: []].append(position) }
        }
        // the single instruction reading `value`, when nothing else needs it
        func soleReader(_ value: Int) -> Int? {
            guard !pinned.contains(value), let positions = readers[value], positions.count == 1 else { return nil }
            return positions[0]
        }
        var fusions: [Int: Fusion] = [:]
        var absorbed = dead
        let instructions = program.instructions
        for (position, instruction) in instructions.enumerated() where !dead.contains(position) {
            guard case .convolution = instruction.op, let weight = constants[instruction.inputs[1]] else { continue }
            var fusion = Fusion(weight: weight, bias: instruction.inputs.count > 2 ? constants[instruction.inputs[2]] : nil,
                                output: instruction.outputs[0].id)
            if instruction.inputs.count > 2 && fusion.bias == nil { continue }
            if let next = soleReader(fusion.output), case .batchNorm(let epsilon) = instructions[next].op,
               instructions[next].inputs[0] == fusion.output,
               let norm = Array(instructions[next].inputs.dropFirst()).compactMapAll({ constants[$0] }) {
                (fusion.weight, fusion.bias) = Self.fold(weight: fusion.weight, bias: fusion.bias, norm: norm, epsilon: epsilon)
                fusion.output = instructions[next].outputs[0].id
                absorbed.insert(next)
            }
            Self.finish(&fusion, shape: instruction.outputs[0].shape, instructions, soleReader: soleReader, pinned: pinned, readers: readers, absorbed: &absorbed)
            fusions[position] = fusion
        }
        Self.mergeParallelBranches(instructions, fusions: &fusions, absorbed: &absorbed, soleReader: soleReader, pinned: pinned, readers: readers,
                                   constants: constants)
        // convolutions whose weights the forward computes, with the BatchNorm and activation after them (before the
        // patterns below, which must not claim what these absorb)
        var dynamicConvolutions: [Int: DynamicFusion] = [:]
        for (position, instruction) in instructions.enumerated() where !dead.contains(position) && !absorbed.contains(position) && fusions[position] == nil {
            guard case .convolution = instruction.op, instruction.outputs[0].shape.count == 4, constants[instruction.inputs[1]] == nil else { continue }
            var fusion = DynamicFusion(output: instruction.outputs[0].id)
            // a view back to the same shape (`y.view(b, c, h, w)` after a conv over the batch folded into channels)
            if let next = soleReader(fusion.output), case .reshape(let view) = instructions[next].op, view == instruction.outputs[0].shape {
                fusion.output = instructions[next].outputs[0].id
                absorbed.insert(next)
            }
            if let next = soleReader(fusion.output), case .batchNorm(let epsilon) = instructions[next].op, instructions[next].inputs[0] == fusion.output,
               let norm = Array(instructions[next].inputs.dropFirst()).compactMapAll({ constants[$0] }) {
                (fusion.scale, fusion.shift) = Tensor.batchNormCoefficients(weight: norm[0], bias: norm[1], mean: norm[2], variance: norm[3],
                                                                            epsilon: epsilon)
                fusion.output = instructions[next].outputs[0].id
                absorbed.insert(next)
            }
            if let next = soleReader(fusion.output), case .activation(let activation) = instructions[next].op {
                fusion.activation = activation
                fusion.output = instructions[next].outputs[0].id
                absorbed.insert(next)
            }
            fusion.channelsLastReaders = (readers[fusion.output] ?? []).contains {
                !absorbed.contains($0) && Self.readsChannelsLast(instructions[$0], value: instruction.outputs[0].shape)
            }
            dynamicConvolutions[position] = fusion
        }
        self.dynamicConvolutions = dynamicConvolutions
        var producer: [Int: Int] = [:]
        for (position, instruction) in instructions.enumerated() { for value in instruction.outputs { producer[value.id] = position } }
        var macros: [Int: Macro] = [:]
        // the instruction making `value` when `reader` is its only reader, and the op (not one a
        // macro already stands on: a transpose that became a GEMM's tokens is no operand swap)
        func soleProducer(of value: Int, for reader: Int) -> (position: Int, op: ProgramOp)? {
            guard let source = producer[value], soleReader(value) == reader, !absorbed.contains(source), macros[source] == nil else { return nil }
            return (source, instructions[source].op)
        }
        // A multi-scale deformable attention as the forks' Python computes it
        // (`multi_scale_deformable_attn_pytorch`): the values projected over every token
        // (`linear` → [B, Lv, heads, d] → split by level → [B·heads, d, H, W] each), grid-sampled
        // per level at `2·locations − 1`, stacked, weighted by the attention and summed, back to
        // [B, Q, heads·d]. Sampling and the weighted sum are linear, so the native decoder's kernel
        // samples the raw tokens and projects the per-head sums (2.3× fewer multiply-adds at 640,
        // no value transposes). The match is exact or absent: every value on the way has one reader.
        struct DeformableMatch {
            var inputs: [Int], absorbed: [Int]
            var levels: [(height: Int, width: Int)], heads: Int, weight: Tensor, bias: Tensor
            var locationShape: [Int], weightShape: [Int]
        }
        // the shape of a value an instruction makes (nil for none)
        // the convolution whose fused chain (BatchNorm, activation) makes `value`, when `reader` alone reads it
        var convolutionByOutput: [Int: Int] = [:]
        for (position, fusion) in fusions { convolutionByOutput[fusion.output] = position }
        func fusedConvolution(producing value: Int, for reader: Int) -> Int? {
            guard soleReader(value) == reader, let conv = convolutionByOutput[value], fusions[conv]?.output == value, macros[conv] == nil else { return nil }
            return conv
        }
        func shape(of value: Int) -> [Int]? {
            producer[value].flatMap { instructions[$0].outputs.first { $0.id == value }?.shape }
        }
        func scalar(_ value: Int) -> Float? {
            guard let tensor = constants[value], tensor.count == 1 else { return nil }
            return tensor.storage[0]
        }
        func deformableAttention(at position: Int) -> DeformableMatch? {
            var chain: [Int] = []
            func sole(_ value: Int, _ reader: Int) -> (position: Int, op: ProgramOp, instruction: ProgramInstruction)? {
                guard let (source, op) = soleProducer(of: value, for: reader) else { return nil }
                chain.append(source)
                return (source, op, instructions[source])
            }
            let output = instructions[position].outputs[0].shape  // [B, Q, heads·d]
            guard output.count == 3,
                  let merged = sole(instructions[position].inputs[0], position), case .reshape = merged.op,
                  let summed = sole(merged.instruction.inputs[0], merged.position), case .reduceSum(axis: 3) = summed.op,
                  let weighted = sole(summed.instruction.inputs[0], summed.position), case .multiply = weighted.op,
                  weighted.instruction.inputs.count == 2
            else { return nil }
            let (batch, queries, width) = (output[0], output[1], output[2])
            // one operand: the levels' samples [B·heads, d, Q, L·P]; the other: the weights [B·heads, 1, Q, L·P]
            for order in [(0, 1), (1, 0)] {
                let saved = chain
                defer { chain = saved }
                guard let samples = sole(weighted.instruction.inputs[order.0], weighted.position), case .reshape(let sampleShape) = samples.op,
                      sampleShape.count == 4, let stacked = sole(samples.instruction.inputs[0], samples.position),
                      case .concatenate(axis: 3) = stacked.op,
                      let flatWeights = sole(weighted.instruction.inputs[order.1], weighted.position), case .reshape(let flatShape) = flatWeights.op,
                      flatShape.count == 4, flatShape[1] == 1,
                      let turnedWeights = sole(flatWeights.instruction.inputs[0], flatWeights.position),
                      case .transpose([0, 2, 1, 3, 4]) = turnedWeights.op
                else { continue }
                let heads = sampleShape[0] / max(batch, 1), headWidth = sampleShape[1], totalPoints = sampleShape[3]
                let levelCount = stacked.instruction.inputs.count
                guard heads > 0, heads * batch == sampleShape[0], heads * headWidth == width, sampleShape[2] == queries,
                      totalPoints % levelCount == 0, flatShape == [sampleShape[0], 1, queries, totalPoints] else { continue }
                let points = totalPoints / levelCount
                let attention = turnedWeights.instruction.inputs[0]  // [B, Q, heads, L, P]
                var levels: [(height: Int, width: Int)] = []
                var gridSource: Int?
                var split: (position: Int, values: [Int])?
                var failed = false
                for (level, part) in stacked.instruction.inputs.enumerated() {
                    guard let lifted = sole(part, stacked.position), case .reshape(let liftedShape) = lifted.op,
                          liftedShape == [sampleShape[0], headWidth, queries, 1, points],
                          let sampled = sole(lifted.instruction.inputs[0], lifted.position), case .gridSample(border: false) = sampled.op,
                          // the level's values [B·heads, d, H, W] from its split part [B, H·W, heads, d]
                          let planes = sole(sampled.instruction.inputs[0], sampled.position), case .reshape(let planeShape) = planes.op,
                          planeShape.count == 4, planeShape[0] == sampleShape[0], planeShape[1] == headWidth,
                          let turned = sole(planes.instruction.inputs[0], planes.position), case .transpose([0, 2, 1]) = turned.op,
                          let tokens = sole(turned.instruction.inputs[0], turned.position), case .reshape(let tokenShape) = tokens.op,
                          tokenShape == [batch, planeShape[2] * planeShape[3], width],
                          let source = producer[tokens.instruction.inputs[0]], case .split(axis: 1, _) = instructions[source].op,
                          instructions[source].outputs.count == levelCount, instructions[source].outputs[level].id == tokens.instruction.inputs[0],
                          soleReader(tokens.instruction.inputs[0]) == tokens.position,
                          // the level's grid [B·heads, Q, P, 2] from slice `level` of the grids [B, Q, heads, L, P, 2]
                          let grid = sole(sampled.instruction.inputs[1], sampled.position), case .reshape = grid.op,
                          let gridTurned = sole(grid.instruction.inputs[0], grid.position), case .transpose([0, 2, 1, 3, 4]) = gridTurned.op,
                          let gridLevel = sole(gridTurned.instruction.inputs[0], gridTurned.position), case .reshape(let gridShape) = gridLevel.op,
                          gridShape == [batch, queries, heads, points, 2],
                          let sliced = sole(gridLevel.instruction.inputs[0], gridLevel.position),
                          case .slice(axis: 3, let start, let end, 1) = sliced.op, start == level, end == level + 1,
                          gridSource == nil || gridSource == sliced.instruction.inputs[0]
                    else { failed = true; break }
                    gridSource = sliced.instruction.inputs[0]
                    split = (source, instructions[source].outputs.map(\.id))
                    levels.append((planeShape[2], planeShape[3]))
                }
                // the grids are 2·locations − 1 (the kernel computes that itself from the locations),
                // read by the level slices alone; the split is of the projected values [B, Lv, heads, d]
                guard !failed, let gridSource, let split, let gridProducer = producer[gridSource],
                      case .subtract = instructions[gridProducer].op, scalar(instructions[gridProducer].inputs[1]) == 1,
                      let doubled = producer[instructions[gridProducer].inputs[0]], case .multiply = instructions[doubled].op,
                      readers[instructions[doubled].outputs[0].id]?.count == 1, !pinned.contains(instructions[doubled].outputs[0].id),
                      readers[gridSource]?.count == levelCount, !pinned.contains(gridSource),
                      let headsView = producer[instructions[split.position].inputs[0]], case .reshape(let viewShape) = instructions[headsView].op,
                      soleReader(instructions[split.position].inputs[0]) == split.position,
                      viewShape == [batch, viewShape[1], heads, headWidth],
                      let projection = producer[instructions[headsView].inputs[0]], case .linear = instructions[projection].op,
                      soleReader(instructions[projection].outputs[0].id) == headsView,
                      instructions[projection].inputs.count == 3,
                      let weight = constants[instructions[projection].inputs[1]], let bias = constants[instructions[projection].inputs[2]],
                      weight.shape == [width, weight.shape[1]], bias.shape == [width],
                      levels.reduce(0, { $0 + $1.height * $1.width }) == viewShape[1]
                else { continue }
                let doubledInputs = instructions[doubled].inputs
                guard doubledInputs.count == 2, let two = doubledInputs.firstIndex(where: { scalar($0) == 2 }) else { continue }
                let locations = doubledInputs[1 - two]
                let locationShape = [batch, queries, heads, totalPoints, 2]
                let weightShape = [batch, queries, heads, totalPoints]
                guard shape(of: locations) == [batch, queries, heads, levelCount, points, 2],
                      shape(of: attention) == [batch, queries, heads, levelCount, points]
                else { continue }
                let absorbedNow = chain + [split.position, headsView, projection, gridProducer, doubled]
                return DeformableMatch(inputs: [instructions[projection].inputs[0], locations, attention], absorbed: absorbedNow,
                                       levels: levels, heads: heads, weight: weight, bias: bias,
                                       locationShape: locationShape, weightShape: weightShape)
            }
            return nil
        }
        // deformable attentions first: their chains hold transposes the patterns below would take
        for (position, instruction) in instructions.enumerated() where !dead.contains(position) {
            guard case .transpose([0, 2, 1]) = instruction.op, instruction.outputs[0].shape.count == 3,
                  let attention = deformableAttention(at: position) else { continue }
            // the values projected after sampling: the native decoder's kernel
            absorbed.formUnion(attention.absorbed)
            let (levels, heads, weight, bias) = (attention.levels, attention.heads, attention.weight, attention.bias)
            let (locationShape, weightShape) = (attention.locationShape, attention.weightShape)
            macros[position] = Macro(inputs: attention.inputs, output: instruction.outputs[0],
                                     label: "deformable attention (values projected after sampling)") { x in
                Tensor.projectedDeformableAttention(features: x[0].tensor!, levelShapes: levels,
                                                    locations: x[1].tensor!.reshaped(locationShape),
                                                    weights: x[2].tensor!.reshaped(weightShape),
                                                    valueWeight: weight, valueBias: bias, heads: heads)
            }
        }
        for (position, instruction) in instructions.enumerated() where !dead.contains(position) && !absorbed.contains(position) && macros[position] == nil {
            switch instruction.op {
            case .matmul:
                // reads a swap of an operand's two last axes in place (`q.transpose(-2, -1) @ k`)
                var inputs = instruction.inputs
                var flags = [false, false]
                for operand in 0..<2 {
                    guard let (source, op) = soleProducer(of: inputs[operand], for: position), case .transpose(let permutation) = op,
                          permutation.count >= 2, permutation == Array(0..<(permutation.count - 2)) + [permutation.count - 1, permutation.count - 2]
                    else { continue }
                    inputs[operand] = instructions[source].inputs[0]
                    flags[operand] = true
                    absorbed.insert(source)
                }
                guard flags.contains(true) else { continue }
                macros[position] = Macro(inputs: inputs, output: instruction.outputs[0], label: "matmul (transposed operands)") { x in
                    Tensor.batchedMatmul(x[0].tensor!, x[1].tensor!, transposeA: flags[0], transposeB: flags[1])
                }
            case .convolution:
                // DFL: conv(x.view(b, 4, bins, a).transpose(2, 1).softmax(1)) with fixed 1×1 weights,
                // each side's softmax and expectation in one pass over x [B, 4·bins, A]
                guard let fusion = fusions[position], fusion.activation == .identity, fusion.bias == nil,
                      fusion.weight.shape[0] == 1, fusion.weight.shape[2] == 1, fusion.weight.shape[3] == 1,
                      case .convolution(1, 0, 1, 1) = instruction.op,
                      let (softmax, softmaxOp) = soleProducer(of: instruction.inputs[0], for: position), case .softmax(1) = softmaxOp,
                      let (transpose, transposeOp) = soleProducer(of: instructions[softmax].inputs[0], for: softmax),
                      case .transpose([0, 2, 1, 3]) = transposeOp,
                      let (reshape, reshapeOp) = soleProducer(of: instructions[transpose].inputs[0], for: transpose), case .reshape(let view) = reshapeOp,
                      view.count == 4, view[2] == fusion.weight.shape[1],
                      instructions[reshape].outputs[0].shape == view, let source = instructions[reshape].inputs.first
                else { continue }
                let (bins, weights) = (view[2], fusion.weight.storage)
                let shape = instructions[position].outputs[0].shape
                absorbed.formUnion([softmax, transpose, reshape])
                fusions[position] = nil
                macros[position] = Macro(inputs: [source], output: ProgramValue(id: fusion.output, shape: shape), label: "distribution expectation (DFL)") { x in
                    x[0].tensor!.reshaped([view[0], view[1] * bins, view[3]]).distributionExpectation(bins: bins, weights: weights).reshaped(shape)
                }
            case .transpose([0, 2, 1]) where instruction.outputs[0].shape.count == 3:
                // a 1×1 convolution's map flattened to tokens (`conv(x).flatten(2).permute(0, 2, 1)`):
                // one GEMM writing the tokens, reading a channels-last input as the [positions, C]
                // matrix it already is
                guard let (reshape, reshapeOp) = soleProducer(of: instruction.inputs[0], for: position), case .reshape(let view) = reshapeOp else { continue }
                guard let conv = fusedConvolution(producing: instructions[reshape].inputs[0], for: reshape),
                      Self.flattensPositions(view, instructions[conv].outputs[0].shape),
                      let fusion = fusions[conv], fusion.activation == .identity,
                      case .convolution(1, 0, 1, 1) = instructions[conv].op, fusion.weight.shape[2] == 1, fusion.weight.shape[3] == 1
                else {
                    // any map flattened to tokens (`x.flatten(2).transpose(1, 2)`): a channels-last
                    // map's elements are the tokens already
                    let map = instructions[reshape].inputs[0]
                    guard let mapShape = shape(of: map), Self.flattensPositions(view, mapShape) else { continue }
                    absorbed.insert(reshape)
                    let tokens = instruction.outputs[0].shape
                    macros[position] = Macro(inputs: [map], output: instruction.outputs[0], label: "map to tokens", readsChannelsLast: true) { x in
                        x[0].channelsLastData?.reshaped(tokens) ?? x[0].tensor!.reshaped(view).permuted([0, 2, 1])
                    }
                    continue
                }
                absorbed.formUnion([reshape, conv])
                fusions[conv] = nil
                let (weight, bias) = (fusion.weight, fusion.bias)
                macros[position] = Macro(inputs: [instructions[conv].inputs[0]], output: instruction.outputs[0], label: "1×1 convolution to tokens (gemm)",
                                         readsChannelsLast: true) { x in
                    Tensor.tokens(projecting: [x[0].channelsLastData ?? x[0].tensor!], channelsLast: [x[0].isChannelsLast], weights: [weight], biases: [bias])
                }
            case .transpose([0, 2, 3, 1]) where instruction.outputs[0].shape.count == 4:
                // a map's channels moved last (`x.permute(0, 2, 3, 1)` before a LayerNorm over
                // channels): a channels-last map's elements as they are
                macros[position] = Macro(inputs: instruction.inputs, output: instruction.outputs[0], label: "map to channels-last elements",
                                         readsChannelsLast: true) { x in
                    x[0].channelsLastData ?? x[0].tensor!.permuted([0, 2, 3, 1])
                }
            case .transpose([0, 3, 1, 2]) where instruction.outputs[0].shape.count == 4:
                // [B, H, W, C] back to a map (`x.permute(0, 3, 1, 2)`): those elements are the
                // channels-last map, no copy
                macros[position] = Macro(inputs: instruction.inputs, output: instruction.outputs[0], label: "channels-last elements to a map",
                                         leavesChannelsLast: true) { x in x[0].tensor! }
            case .concatenate(2) where instruction.outputs[0].shape.count == 3:
                // a head's last 1×1 convs, flattened and concatenated: one GEMM per level writing
                // its part of the output (the input read in its own layout)
                var parts: [(input: Int, fusion: Fusion, positions: [Int])] = []
                for value in instruction.inputs {
                    guard let (reshape, reshapeOp) = soleProducer(of: value, for: position), case .reshape(let view) = reshapeOp,
                          let conv = fusedConvolution(producing: instructions[reshape].inputs[0], for: reshape),
                          Self.flattensPositions(view, instructions[conv].outputs[0].shape),
                          let fusion = fusions[conv], fusion.activation == .identity,
                          case .convolution(1, 0, 1, 1) = instructions[conv].op, fusion.weight.shape[2] == 1, fusion.weight.shape[3] == 1
                    else { break }
                    parts.append((instructions[conv].inputs[0], fusion, [reshape, conv]))
                }
                guard parts.count == instruction.inputs.count, Set(parts.map(\.fusion.weight.shape[0])).count == 1 else { continue }
                for part in parts {
                    absorbed.formUnion(part.positions)
                    fusions[part.positions[1]] = nil
                }
                let (weights, biases) = (parts.map(\.fusion.weight), parts.map(\.fusion.bias))
                macros[position] = Macro(inputs: parts.map(\.input), output: instruction.outputs[0], label: "flattened 1×1 convolutions (gemm per level)",
                                         readsChannelsLast: true) { x in
                    Tensor.flattenedPointwise(x.map { $0.channelsLastData ?? $0.tensor! }, channelsLast: x.map(\.isChannelsLast), weights: weights, biases: biases)
                }
            default:
                continue
            }
        }
        // runs of element-wise operations, each alone reading the one before: one pass over the elements
        for (position, instruction) in instructions.enumerated()
        where !dead.contains(position) && !absorbed.contains(position) && macros[position] == nil {
            let chainShape = instruction.outputs.first?.shape ?? []
            guard let running = instruction.inputs.first(where: { constants[$0] == nil }), shape(of: running) == chainShape else { continue }
            var sideInputs: [Int] = []
            guard let first = ElementwiseChain.step(instruction, running: running, shape: chainShape, constants: constants, sideInputs: &sideInputs,
                                                    shapes: shape(of:)) else { continue }
            var steps = [first], positions = [position]
            var current = instruction.outputs[0].id
            while !pinned.contains(current), let readersOfCurrent = readers[current], Set(readersOfCurrent).count == 1,
                  let next = readersOfCurrent.first, !absorbed.contains(next), macros[next] == nil,
                  let step = ElementwiseChain.step(instructions[next], running: current, shape: chainShape, constants: constants,
                                                   sideInputs: &sideInputs, shapes: shape(of:)) {
                steps.append(step)
                positions.append(next)
                current = instructions[next].outputs[0].id
            }
            guard steps.count >= 2, let last = positions.last else { continue }
            absorbed.formUnion(positions.dropLast())
            let chain = ElementwiseChain(inputs: [running] + sideInputs, steps: steps, shape: chainShape)
            macros[last] = Macro(inputs: chain.inputs, output: instructions[last].outputs[0], label: "element-wise chain",
                                 readsChannelsLast: true, layoutFollowsFirstInput: true) { x in
                if x[0].isChannelsLast, let converter = x[0].converter, let data = x[0].channelsLastData {
                    return chain(data, x.dropFirst().map { $0.channelsLastData(converting: converter)! }, channelsLast: true)
                }
                return chain(x[0].tensor!, x.dropFirst().map { $0.tensor! }, channelsLast: false)
            }
        }
        self.macros = macros
        self.fusions = fusions
        // a value's last reader releases it; a fused convolution reads only its input (its
        // weights are the fusion's), and a constant nothing reads is not made at all
        var lastUse: [Int: Int] = [:]
        for (position, instruction) in instructions.enumerated() where !absorbed.contains(position) {
            for id in Self.reads(instruction, macro: macros[position], isFused: fusions[position] != nil) { lastUse[id] = position }
        }
        for (position, instruction) in instructions.enumerated() {
            if case .constant = instruction.op, lastUse[instruction.outputs[0].id] == nil, !pinned.contains(instruction.outputs[0].id) {
                absorbed.insert(position)
            }
        }
        self.absorbed = absorbed
        var releases = [[Int]](repeating: [], count: instructions.count)
        // (a row's output kept for a caller is copied out when written, so only the program's outputs stay)
        let returned = Set(program.outputs.map(\.id))
        for (id, position) in lastUse where !returned.contains(id) { releases[position].append(id) }
        self.releases = releases
        Allocator.keepFreedMemory()
        _ = walk(input: nil, keeping: [], progress: nil)
        tape.scratch.allocateReserved()
        Gemm.prepareKernels()
    }

    /// The memory pass: the most bytes of values (float32) the run holds at once, from the
    /// planning walk in program order — every value from the instruction that makes it to its
    /// last reader (a reshape shares its input's elements; the image counts throughout; a map
    /// left as an upsampled composition costs nothing until made), plus the NCHW copy a
    /// channels-last map keeps once an operation without a channels-last form reads it, plus,
    /// while an instruction runs, a channels-last copy a kernel makes of an NCHW input. Weights
    /// and the kernels' shared scratch are the plan's, not counted here.
    public private(set) var peakActivationBytes: Double = 0

    /// The memory pass row by row: for each YAML index whose instructions run, the most bytes
    /// held while they ran and the bytes still held after them (to set beside a measured heap's
    /// rows: `scripts/heap-peak` with HEAP_PEAK_ROWS=1).
    public private(set) var memoryByRow: [(layer: Int, peak: Double, live: Double)] = []

    /// Bytes of the kernels' shared scratch (blocked layouts, Winograd tiles).
    public var scratchBytes: Int { tape.scratch.allocatedBytes }

    /// Number of instructions that run (after fusion) and the convolutions among them by kernel.
    public var kernelCounts: [String: Int] {
        var counts: [String: Int] = [:]
        for kernel in kernels.values {
            switch kernel {
            case .winograd: counts["winograd", default: 0] += 1
            case .primitive: counts["onednn", default: 0] += 1
            case .partwise: counts["partwise", default: 0] += 1
            case .depthwise: counts["depthwise", default: 0] += 1
            case .gemm, .pointwisePlain: counts["gemm", default: 0] += 1
            }
        }
        return counts
    }

    /// Runs the program on `input` (the shape it was traced at). Returns the outputs and, for
    /// the YAML indices in `keeping`, their values. `progress` is called with each YAML index
    /// once that row's instructions have run.
    /// `instructionDone` is called with each instruction's position once it has run (fused
    /// chains under their convolution's).
    /// `text`: the class text embeddings, for a program that reads them (`readsText`).
    public func run(_ input: Tensor, text: Tensor? = nil, keeping: Set<Int> = [], progress: ((Int) -> Void)? = nil,
                    instructionDone: ((Int) -> Void)? = nil) -> (outputs: [Tensor], kept: [Int: Tensor]) {
        precondition(!readsText || text != nil, "the program reads text embeddings")
        return walk(input: input, text: text, keeping: keeping, progress: progress, instructionDone: instructionDone)
    }

    /// Whether the program reads class text embeddings (an open-vocabulary model's `txt_feats`).
    public var readsText: Bool { program.readsText }

    /// What runs for the instruction at `position`: the op, and for a convolution its kernel and
    /// what it absorbed (`convolution 3×3 winograd + silu`); nil for an absorbed instruction.
    public func stepDescription(_ position: Int) -> String? {
        guard !absorbed.contains(position) else { return nil }
        let instruction = program.instructions[position]
        if let macro = macros[position] { return macro.label }
        if let primitive = dynamicKernels[position] {
            let size = "\(primitive.weightShape[2])×\(primitive.weightShape[3])"
            return "convolution \(size) onednn \(primitive.implementation) (weights from the forward)"
        }
        guard let fusion = fusions[position] else { return instruction.op.name }
        let kernel: String
        switch kernels[position] {
        case .winograd: kernel = "winograd"
        case .primitive(let primitive, _): kernel = "onednn " + primitive.implementation
        case .partwise: kernel = "partwise"
        case .depthwise: kernel = "depthwise (channels-last)"
        case .pointwisePlain: kernel = "gemm (NCHW out)"
        case .gemm, nil: kernel = "gemm"
        }
        let size = "\(fusion.weight.shape[2])×\(fusion.weight.shape[3])"
        return "convolution \(size) \(kernel)" + (fusion.activation == .identity ? "" : " + \(fusion.activation)")
    }

    @discardableResult
    private func walk(input: Tensor?, text: Tensor? = nil, keeping: Set<Int>, progress: ((Int) -> Void)?,
                      instructionDone: ((Int) -> Void)? = nil) -> (outputs: [Tensor], kept: [Int: Tensor]) {
        let planning = input == nil
        let instructions = program.instructions
        var values = [PlannedValue?](repeating: nil, count: (instructions.last?.outputs.map(\.id).max() ?? -1) + 1)
        var kept: [Int: Tensor] = [:]
        var keptValues: [Int: [Int]] = [:]  // an identity row's output is the value of the row it reads
        for (index, value) in program.layerOutputs where keeping.contains(index) { keptValues[value, default: []].append(index) }
        var reported = Int.min
        var memory = planning ? MemoryCount() : nil
        for (position, instruction) in instructions.enumerated() where !absorbed.contains(position) {
            if let layer = instruction.origin.layerIndex, layer > reported, reported != .min {
                progress?(reported)
                memory?.endRow(reported)
            }
            if let layer = instruction.origin.layerIndex { reported = max(reported, layer) }
            let reads = Self.reads(instruction, macro: macros[position], isFused: fusions[position] != nil)
            let inputs = reads.map { values[$0]! }
            if let macro = macros[position] {
                let channelsLastOutput = macro.leavesChannelsLast || (macro.layoutFollowsFirstInput && inputs[0].isChannelsLast)
                if planning {
                    values[macro.output.id] = PlannedValue(shape: macro.output.shape, channelsLast: channelsLastOutput && tape.converter != nil)
                } else if channelsLastOutput {
                    let data = macro.body(inputs)
                    values[macro.output.id] = tape.converter.map { PlannedValue(channelsLast: data, converter: $0) }
                        ?? PlannedValue(data.permuted([0, 3, 1, 2]))
                } else {
                    values[macro.output.id] = PlannedValue(macro.body(inputs))
                }
            } else if let fusion = fusions[position] {
                values[fusion.output] = convolve(inputs[0], fusion: fusion, instruction: instruction, position: position, planning: planning)
            } else if let fusion = dynamicConvolutions[position] {
                values[fusion.output] = convolveDynamically(inputs, fusion: fusion, instruction: instruction, position: position, planning: planning)
            } else {
                let outputs = execute(instruction, inputs, input: input, text: text)
                for (value, output) in zip(instruction.outputs, outputs) { values[value.id] = output }
            }
            if memory != nil {
                memory!.step(instruction, position: position, inputs: reads, values: values, writes: writes(position),
                             kernel: kernels[position], keepsLayouts: macros[position]?.readsChannelsLast ?? false,
                             released: releases[position])
            }
            if !planning {
                for value in writes(position) { for index in keptValues[value] ?? [] { kept[index] = values[value]?.tensor } }
            }
            for id in releases[position] { values[id] = nil }
            instructionDone?(position)
        }
        if reported != .min {
            progress?(reported)
            memory?.endRow(reported)
        }
        if let memory {
            peakActivationBytes = memory.peak
            memoryByRow = memory.rows
        }
        return (planning ? [] : program.outputs.map { values[$0.id]!.tensor! }, kept)
    }

    /// The memory pass's running count (see `peakActivationBytes`).
    private struct MemoryCount {
        /// Each live value's storage (a reshape's is its input's; the image's, the caller's, held throughout).
        var ledger = StorageLedger()
        /// The storages whose channels-last map keeps an NCHW copy beside it.
        var converted: Set<Int> = []
        var live: Double { ledger.live }
        var peak = 0.0
        var rowPeak = 0.0
        var rows: [(layer: Int, peak: Double, live: Double)] = []

        mutating func endRow(_ layer: Int) {
            rows.append((layer, rowPeak, live))
            rowPeak = live
        }

        mutating func step(_ instruction: ProgramInstruction, position: Int, inputs: [Int], values: [PlannedValue?], writes: [Int],
                           kernel: ConvolutionKernel?, keepsLayouts: Bool, released: [Int]) {
            var transient = 0.0
            func size(_ shape: [Int]) -> Double { 4 * shape.reduce(1.0) { $0 * Double($1) } }
            // what reads NCHW: everything but the channels-last forms, the conv kernels that read
            // NHWC, and the flattened-level GEMMs
            let channelsLastReader: Bool
            switch kernel {
            case .winograd, .partwise, .pointwisePlain, .depthwise: channelsLastReader = true
            case .primitive(let primitive, _): channelsLastReader = primitive.channelsLastSource
            case .gemm: channelsLastReader = false
            case nil:
                channelsLastReader = keepsLayouts
                    || PlannedProgram.readsChannelsLast(instruction, value: inputs.first.flatMap { values[$0]?.shape } ?? [])
            }
            for id in inputs {
                guard let feature = values[id], let key = ledger.key(of: id) else { continue }
                if feature.isChannelsLast && feature.composition == nil && !channelsLastReader && !converted.contains(key) {
                    converted.insert(key)
                    ledger.grow(key, by: size(feature.shape))
                } else if !feature.isChannelsLast && channelsLastReader && kernel != nil {
                    transient += size(feature.shape)
                }
            }
            // an element-wise binary operation or channel concatenation meeting a channels-last
            // map runs on NHWC elements: each plain input's NHWC copy lives while it runs
            var mixesLayouts: Bool {
                switch instruction.op {
                case .add, .subtract, .multiply, .divide: return instruction.outputs[0].shape.count == 4
                case .concatenate(let axis): return axis == 1 && instruction.outputs[0].shape.count == 4
                default: return false
                }
            }
            if kernel == nil, inputs.contains(where: { values[$0]?.isChannelsLast ?? false }), mixesLayouts {
                for id in inputs { if let feature = values[id], !feature.isChannelsLast { transient += size(feature.shape) } }
            }
            for id in writes {
                guard let feature = values[id] else { continue }
                if case .constant = instruction.op { continue }
                if case .reshape = instruction.op, ledger.share(id, withStorageOf: instruction.inputs[0]) { continue }
                var isImage = false
                if case .input = instruction.op { isImage = true }
                ledger.allocate(id, bytes: feature.composition == nil ? size(feature.shape) : 0, pinned: isImage)
            }
            peak = max(peak, live + transient)
            rowPeak = max(rowPeak, live + transient)
            for id in released { ledger.release(id) }
        }
    }

    private func convolve(_ x: PlannedValue, fusion: Fusion, instruction: ProgramInstruction, position: Int, planning: Bool) -> PlannedValue {
        guard case .convolution(let stride, let padding, let dilation, let groups) = instruction.op else { preconditionFailure() }
        let weight = fusion.weight
        let geometry = ConvolutionGeometry(kernelHeight: weight.shape[2], kernelWidth: weight.shape[3], stride: stride, padding: padding, dilation: dilation)
        let shape = instruction.outputs[0].shape
        if planning {
            let kernel = ConvolutionKernel.choose(weight: weight, bias: fusion.bias, geometry: geometry, groups: groups, activation: fusion.activation,
                                                  inputShape: x.shape, inputChannelsLast: x.isChannelsLast, composition: x.composition, tape: tape,
                                                  plainDestination: fusion.plainDestination)
            kernels[position] = kernel
            tape.scratch.reserve(kernel.scratchBytes)
            return PlannedValue(shape: shape, channelsLast: kernel.leavesChannelsLast)
        }
        if let output = kernels[position]?.run(x, converter: tape.converter) { return output }
        return PlannedValue(x.tensor!.conv2d(weight: weight, bias: fusion.bias, geometry: geometry, groups: groups, activation: fusion.activation))
    }

    /// A convolution whose weights (and bias) are values of the forward, with its fused
    /// BatchNorm and activation: a oneDNN primitive built at planning for the weights' shape
    /// (channels-last on a side where the input is or a reader takes it), given the scaled
    /// weights on each run; the reference convolution where oneDNN has no primitive for it.
    private func convolveDynamically(_ x: [PlannedValue], fusion: DynamicFusion, instruction: ProgramInstruction, position: Int,
                                     planning: Bool) -> PlannedValue {
        guard case .convolution(let stride, let padding, let dilation, let groups) = instruction.op else { preconditionFailure() }
        let shape = instruction.outputs[0].shape
        let geometry = ConvolutionGeometry(kernelHeight: x[1].shape[2], kernelWidth: x[1].shape[3], stride: stride, padding: padding, dilation: dilation)
        if planning {
            let layouts = ConvolutionKernel.primitiveLayouts(inputChannelsLast: x[0].isChannelsLast, channelsLastOutput: fusion.channelsLastReaders,
                                                             tape: tape)
            for (channelsLastSource, channelsLastDestination) in layouts {
                guard let primitive = DNNLConvolution(inputShape: x[0].shape, weight: Tensor(shape: x[1].shape), bias: nil, geometry: geometry,
                                                      groups: groups, activation: fusion.activation, scratch: tape.scratch,
                                                      channelsLastSource: channelsLastSource, channelsLastDestination: channelsLastDestination),
                      !primitive.implementation.hasPrefix("ref")
                else { continue }
                dynamicKernels[position] = primitive
                tape.scratch.reserve(primitive.scratchBytes)
                return PlannedValue(shape: shape, channelsLast: channelsLastDestination)
            }
            return PlannedValue(shape: shape)
        }
        var weight = x[1].tensor!
        var bias = x.count > 2 ? x[2].tensor : nil
        if let scale = fusion.scale, let shift = fusion.shift {
            let perOutput = weight.count / scale.count
            weight.storage.withUnsafeMutableBufferPointer { w in
                for output in scale.indices { for i in 0..<perOutput { w[output * perOutput + i] *= scale[output] } }
            }
            bias = Tensor(shape: [scale.count], storage: scale.indices.map { (bias?.storage[$0] ?? 0) * scale[$0] + shift[$0] })
        }
        guard let primitive = dynamicKernels[position], primitive.inputShape == x[0].shape, weight.shape == primitive.weightShape else {
            return PlannedValue(x[0].tensor!.conv2d(weight: weight, bias: bias, geometry: geometry, groups: groups, activation: fusion.activation))
        }
        let source = primitive.channelsLastSource ? x[0].channelsLastData ?? tape.converter!.channelsLast(x[0].tensor!) : x[0].tensor!
        let y = primitive(source, weight: weight, bias: bias)
        guard primitive.channelsLastDestination, let converter = tape.converter else { return PlannedValue(y) }
        return PlannedValue(channelsLast: y, converter: converter)
    }

    /// One instruction in the layout its inputs are held in where the operation has a
    /// channels-last form, else on NCHW tensors with the reference kernels.
    private func execute(_ instruction: ProgramInstruction, _ x: [PlannedValue], input: Tensor?, text: Tensor?) -> [PlannedValue] {
        let shapes = instruction.outputs.map(\.shape)
        switch instruction.op {
        case .textEmbeddings:
            return [text.map(PlannedValue.init) ?? PlannedValue(shape: shapes[0])]
        case .input:
            return [input.map(PlannedValue.init) ?? PlannedValue(shape: shapes[0])]
        case .constant(let tensor, _):
            return [PlannedValue(tensor)]
        case .activation(let activation):
            return [x[0].activated(activation)]
        case .add where x[0].shape == x[1].shape:
            return [x[0].adding(x[1])]
        case .add, .subtract, .multiply, .divide:
            if let result = PlannedValue.broadcasting(instruction.op, x[0], x[1], outputShape: shapes[0]) { return [result] }
            return plainly(instruction, x, input: input, text: text)
        case .reduceSum(1) where x[0].isChannelsLast && x[0].shape.count == 4:
            // over the channels, NHWC's last axis: [N, H, W] either way
            return [x[0].channelsLastData.map { PlannedValue($0.reducedSum(axis: 3)) } ?? PlannedValue(shape: shapes[0])]
        case .reduceMax(1) where x[0].isChannelsLast && x[0].shape.count == 4:
            return [x[0].channelsLastData.map { PlannedValue($0.reducedMax(axis: 3)) } ?? PlannedValue(shape: shapes[0])]
        case .batchNorm(let epsilon) where x[0].isChannelsLast && x.count == 5:
            guard let data = x[0].channelsLastData, let converter = x[0].converter, let parameters = Array(x.dropFirst()).compactMapAll({ $0.tensor }) else {
                return [PlannedValue(shape: shapes[0], channelsLast: true)]
            }
            return [PlannedValue(channelsLast: data.batchNormChannelsLast(weight: parameters[0], bias: parameters[1], mean: parameters[2],
                                                                          variance: parameters[3], epsilon: epsilon), converter: converter)]
        case .concatenate(let axis) where axis == 1 && shapes[0].count == 4:
            return [PlannedValue.concatenatingChannels(x)]
        case .split(let axis, let sizes) where axis == 1 && x[0].shape.count == 4:
            return x[0].splittingChannels(sizes)
        case .maxPool(let kernelSize, let stride, let padding):
            return [x[0].map(shape: shapes[0], plain: { $0.maxPooled(kernelSize: kernelSize, stride: stride, padding: padding) },
                             channelsLast: { $0.maxPooledChannelsLast(kernelSize: kernelSize, stride: stride, padding: padding) })]
        case .averagePool(let kernelSize, let stride):
            return [x[0].map(shape: shapes[0], plain: { $0.averagePooled(kernelSize: kernelSize, stride: stride) },
                             channelsLast: { $0.averagePooledChannelsLast(kernelSize: kernelSize, stride: stride) })]
        case .upsampleNearest(let factor) where x[0].isChannelsLast && [2, 4, 8].contains(factor):
            let (height, width) = (shapes[0][2], shapes[0][3])
            let step = 1 / Float(factor)
            return [x[0].upsampledNearest(by: factor) {
                $0.interpolateNearestChannelsLast(height: height, width: width, scaleHeight: step, scaleWidth: step)
            }]
        case .composite(let composite) where Self.channelsLastComposites.contains(composite.name) && x[0].isChannelsLast:
            // CARAFE on a channels-last map as it is: channel runs are contiguous, and the next
            // convolution reads the result without a reorder (the mask stays NCHW)
            guard let data = x[0].channelsLastData, let converter = x[0].converter, let mask = x[1].tensor else {
                return [PlannedValue(shape: shapes[0], channelsLast: true)]
            }
            let k = composite.attributes["kernel_size"]![0]
            guard composite.name == "carafe_combine" else {
                return [PlannedValue(channelsLast: data.carafeReassembledChannelsLast(mask: mask, kernelSize: k, up: composite.attributes["up"]![0]),
                                     converter: converter)]
            }
            let addend = x.count > 2 ? x[2].channelsLastData(converting: converter) : nil
            return [PlannedValue(channelsLast: data.carafeCombined(mask: mask, kernelSize: k, adding: addend,
                                                                   CarafeCombination(rawValue: composite.attributes["form"]![0])!, channelsLast: true),
                                 converter: converter)]
        case .composite(let composite):
            let tensors = x.compactMap(\.tensor)
            guard tensors.count == x.count, let kernel = Self.compositeKernels[composite.name] else { return shapes.map { PlannedValue(shape: $0) } }
            return kernel(composite, tensors).map(PlannedValue.init)
        case .matmul:
            guard let a = x[0].tensor, let b = x[1].tensor else { return [PlannedValue(shape: shapes[0])] }
            return [PlannedValue(Tensor.batchedMatmul(a, b))]
        case .pad(let left, let right, let top, let bottom, false):
            return [x[0].zeroPadded(left: left, right: right, top: top, bottom: bottom)]
        case .reshape(let view) where view == x[0].shape:
            // a view to the shape it has (`x.reshape(1, -1, h, w)` at batch 1): the value as it is, in its layout
            return [x[0]]
        default:
            return plainly(instruction, x, input: input, text: text)
        }
    }

    /// An instruction on NCHW tensors with the reference kernels.
    private func plainly(_ instruction: ProgramInstruction, _ x: [PlannedValue], input: Tensor?, text: Tensor?) -> [PlannedValue] {
        let shapes = instruction.outputs.map(\.shape)
        let tensors = x.compactMap(\.tensor)
        guard tensors.count == x.count, let input else { return shapes.map { PlannedValue(shape: $0) } }
        return Program.evaluate(instruction.op, tensors, input: input, text: text, outputShapes: shapes).map(PlannedValue.init)
    }

    /// Whether `view` is `x.flatten(2)` of a map of `shape` ([B, C, H, W] → [B, C, H·W]): the
    /// token GEMMs read the map as that matrix (a fork's `x.reshape(b, n, c)` of the same map is
    /// another order).
    static func flattensPositions(_ view: [Int], _ shape: [Int]) -> Bool {
        shape.count == 4 && view == [shape[0], shape[1], shape[2] * shape[3]]
    }

    /// A fused convolution's last steps: the activation that alone reads its output goes into the
    /// kernel's epilogue, and the kernel writes NCHW when every reader of the final output reads NCHW.
    static func finish(_ fusion: inout Fusion, shape: [Int], _ instructions: [ProgramInstruction], soleReader: (Int) -> Int?, pinned: Set<Int>,
                       readers: [Int: [Int]], absorbed: inout Set<Int>) {
        if let next = soleReader(fusion.output), case .activation(let activation) = instructions[next].op {
            fusion.activation = activation
            fusion.output = instructions[next].outputs[0].id
            absorbed.insert(next)
        }
        let outputReaders = readers[fusion.output] ?? []
        fusion.plainDestination = !pinned.contains(fusion.output) && !outputReaders.isEmpty
            && outputReaders.allSatisfy { !readsChannelsLast(instructions[$0], value: shape) }
    }

    /// RepConv as a fork's code runs it unfused, `act(bn(conv3×3(x)) + bn(conv1×1(x)))`: one
    /// 3×3 convolution with the 1×1 kernel added at its centre and the biases summed — what
    /// Ultralytics' `fuse_convs` does, and what ModelGraph's own RepConv block does before tracing.
    /// Both branches must read the same input with the same stride and groups (3×3 padded 1,
    /// 1×1 unpadded, no activation of their own) and feed only the sum.
    static func mergeParallelBranches(_ instructions: [ProgramInstruction], fusions: inout [Int: Fusion], absorbed: inout Set<Int>,
                                      soleReader: (Int) -> Int?, pinned: Set<Int>, readers: [Int: [Int]], constants: [Int: Tensor]) {
        var fusionByOutput: [Int: Int] = [:]
        for (position, fusion) in fusions { fusionByOutput[fusion.output] = position }
        for (position, instruction) in instructions.enumerated() where !absorbed.contains(position) {
            guard case .add = instruction.op, instruction.inputs.count == 2, instruction.inputs[0] != instruction.inputs[1],
                  let first = fusionByOutput[instruction.inputs[0]], let second = fusionByOutput[instruction.inputs[1]],
                  soleReader(instruction.inputs[0]) == position, soleReader(instruction.inputs[1]) == position,
                  instructions[first].inputs[0] == instructions[second].inputs[0],
                  let a = fusions[first], let b = fusions[second], a.activation == .identity, b.activation == .identity,
                  a.weight.shape.count == 4, b.weight.shape.count == 4, a.weight.shape[0] == b.weight.shape[0], a.weight.shape[1] == b.weight.shape[1]
            else { continue }
            let (large, small) = a.weight.shape[2] == 3 ? (first, second) : (second, first)
            guard case .convolution(let stride, 1, 1, let groups) = instructions[large].op, case .convolution(stride, 0, 1, groups) = instructions[small].op,
                  let big = fusions[large], let little = fusions[small], big.weight.shape[2...] == [3, 3], little.weight.shape[2...] == [1, 1]
            else { continue }
            var weight = big.weight.storage
            let (outputs, inputs) = (big.weight.shape[0], big.weight.shape[1])
            for row in 0..<(outputs * inputs) { weight[row * 9 + 4] += little.weight.storage[row] }
            let zeros = [Float](repeating: 0, count: outputs)
            let bias = zip(big.bias?.storage ?? zeros, little.bias?.storage ?? zeros).map { $0 + $1 }
            var merged = Fusion(weight: Tensor(shape: big.weight.shape, storage: weight), bias: Tensor(shape: [outputs], storage: bias),
                                output: instruction.outputs[0].id)
            absorbed.formUnion([position, small])
            // 8.0's RepConv adds `id_out = 0` when it has no identity branch: a constant scalar joins the bias
            if let next = soleReader(merged.output), case .add = instructions[next].op, instructions[next].inputs.count == 2,
               let other = instructions[next].inputs.first(where: { $0 != merged.output }), let scalar = constants[other],
               scalar.storage.count == 1, instructions[next].outputs[0].shape == instruction.outputs[0].shape {
                merged.bias = Tensor(shape: [outputs], storage: bias.map { $0 + scalar.storage[0] })
                merged.output = instructions[next].outputs[0].id
                absorbed.insert(next)
            }
            fusions[small] = nil
            finish(&merged, shape: instruction.outputs[0].shape, instructions, soleReader: soleReader, pinned: pinned, readers: readers, absorbed: &absorbed)
            fusions[large] = merged
        }
    }

    static func fold(weight: Tensor, bias: Tensor?, norm: [Tensor], epsilon: Float) -> (Tensor, Tensor) {
        let (gamma, beta, mean, variance) = (norm[0], norm[1], norm[2], norm[3])
        let outputs = weight.shape[0]
        var w = weight
        var b = bias ?? Tensor(shape: [outputs])
        let perOutput = w.count / outputs
        for o in 0..<outputs {
            let scale = gamma.storage[o] / (variance.storage[o] + epsilon).squareRoot()
            for i in 0..<perOutput { w.storage[o * perOutput + i] *= scale }
            b.storage[o] = (b.storage[o] - mean.storage[o]) * scale + beta.storage[o]
        }
        return (w, b)
    }
}

extension Array {
    /// `compactMap` that gives nil unless every element maps.
    func compactMapAll<T>(_ transform: (Element) -> T?) -> [T]? {
        var result: [T] = []
        for element in self {
            guard let mapped = transform(element) else { return nil }
            result.append(mapped)
        }
        return result
    }
}
