import Foundation
import Tensor

extension Program {
    /// Whether the program reads class text embeddings (an open-vocabulary model's `txt_feats`).
    public var readsText: Bool { instructions.contains { if case .textEmbeddings = $0.op { return true } else { return false } } }

    /// Runs the program on `input` with the tensor library's reference kernels, one
    /// instruction at a time: the execution pass the planned kernels are checked against.
    /// Returns the program's outputs.
    /// `text`: the class text embeddings, for a program that reads them.
    public func run(_ input: Tensor, text: Tensor? = nil) -> [Tensor] {
        run(input, text: text, keeping: []).outputs
    }

    /// `run`, also returning the values of the YAML indices in `keeping`; `progress` is called
    /// with each YAML index once that row's instructions have run.
    public func run(_ input: Tensor, text: Tensor? = nil, keeping: Set<Int>, progress: ((Int) -> Void)? = nil)
        -> (outputs: [Tensor], kept: [Int: Tensor]) {
        let instructions = inlined().instructions
        var values: [Int: Tensor] = [:]
        // release each value after its last reader
        var lastUse: [Int: Int] = [:]
        for (position, instruction) in instructions.enumerated() { for id in instruction.inputs { lastUse[id] = position } }
        var keptValues: [Int: [Int]] = [:]  // an identity row's output is the value of the row it reads
        for (index, value) in layerOutputs where keeping.contains(index) { keptValues[value, default: []].append(index) }
        let pinned = Set(outputs.map(\.id)).union(keptValues.keys)
        var kept: [Int: Tensor] = [:]
        var reported = Int.min
        for (position, instruction) in instructions.enumerated() {
            if let layer = instruction.origin.layerIndex {
                if layer > reported, reported != .min { progress?(reported) }
                reported = max(reported, layer)
            }
            let inputs = instruction.inputs.map { values[$0]! }
            let results = Program.evaluate(instruction.op, inputs, input: input, text: text, outputShapes: instruction.outputs.map(\.shape))
            for (value, result) in zip(instruction.outputs, results) {
                precondition(result.shape == value.shape, "\(instruction.op.name) made \(result.shape), the program says \(value.shape)")
                values[value.id] = result
                for index in keptValues[value.id] ?? [] { kept[index] = result }
            }
            for id in instruction.inputs where lastUse[id] == position && !pinned.contains(id) { values[id] = nil }
        }
        if reported != .min { progress?(reported) }
        // a kept index that no instruction writes reads the input image (an identity first row)
        for (value, indices) in keptValues { for index in indices where kept[index] == nil { kept[index] = values[value] } }
        return (outputs.map { values[$0.id]! }, kept)
    }

    /// The program with every operation that reads only constants computed once, here (a slice
    /// of a weight, a reshaped kernel, a grid from shapes), and constants no one reads dropped —
    /// what a traced fork forward needs before planning, as its code recomputes such values on
    /// every call. Values larger than `largest` elements are left to run.
    public func foldingConstants(largest: Int = 1 << 24) -> Program {
        var known: [Int: Tensor] = [:]
        var folded: [ProgramInstruction] = []
        for instruction in instructions {
            if case .constant(let tensor, _) = instruction.op { known[instruction.outputs[0].id] = tensor; folded.append(instruction); continue }
            let foldable: Bool
            switch instruction.op {
            case .input, .textEmbeddings, .composite: foldable = false
            default: foldable = !instruction.inputs.isEmpty && instruction.inputs.allSatisfy { known[$0] != nil }
                && instruction.outputs.allSatisfy { $0.shape.reduce(1, *) <= largest }
            }
            guard foldable else { folded.append(instruction); continue }
            let results = Program.evaluate(instruction.op, instruction.inputs.map { known[$0]! }, input: Tensor(shape: [0]),
                                           outputShapes: instruction.outputs.map(\.shape))
            for (value, result) in zip(instruction.outputs, results) {
                known[value.id] = result
                folded.append(ProgramInstruction(op: .constant(result, name: nil), inputs: [], outputs: [value], origin: instruction.origin))
            }
        }
        // constants that no instruction and no output reads
        var read = Set(outputs.map(\.id))
        for instruction in folded { read.formUnion(instruction.inputs) }
        let kept = folded.filter { instruction in
            if case .constant = instruction.op { return read.contains(instruction.outputs[0].id) }
            return true
        }
        return Program(instructions: kept, outputs: outputs, layerOutputs: layerOutputs, moduleCalls: moduleCalls)
    }

    static func evaluate(_ op: ProgramOp, _ x: [Tensor], input: Tensor, text: Tensor? = nil, outputShapes: [[Int]]) -> [Tensor] {
        switch op {
        case .input: return [input]
        case .textEmbeddings:
            guard let text else { preconditionFailure("the program reads text embeddings, and none were given") }
            return [text]
        case .squareRoot: return [x[0].map { $0.squareRoot() }]
        case .constant(let tensor, _): return [tensor]
        case .convolution(let stride, let padding, let dilation, let groups):
            let geometry = ConvolutionGeometry(kernelHeight: x[1].shape[2], kernelWidth: x[1].shape[3], stride: stride, padding: padding, dilation: dilation)
            return [x[0].conv2d(weight: x[1], bias: x.count > 2 ? x[2] : nil, geometry: geometry, groups: groups)]
        case .transposedConvolution(let stride, let padding, let outputPadding, let dilation, let groups):
            return [x[0].transposedConv2d(weight: x[1], bias: x.count > 2 ? x[2] : nil, kernelSize: x[1].shape[2], stride: stride, padding: padding,
                                          outputPadding: outputPadding, dilation: dilation, groups: groups)]
        case .batchNorm(let epsilon):
            return [x[0].batchNorm(weight: x[1], bias: x[2], mean: x[3], variance: x[4], epsilon: epsilon)]
        case .activation(let activation): return [x[0].activated(activation)]
        case .layerNorm: return [x[0].layerNorm(weight: x[1], bias: x[2])]
        case .cosine: return [x[0].map { Foundation.cos($0) }]
        case .sine: return [x[0].map { Foundation.sin($0) }]
        case .add: return [x[0] + x[1]]
        case .subtract: return [x[0] - x[1]]
        case .multiply: return [x[0] * x[1]]
        case .divide: return [x[0] / x[1]]
        case .concatenate(let axis): return [Tensor.concatenate(x, axis: axis)]
        case .split(let axis, let sizes): return x[0].split(axis: axis, sizes: sizes)
        case .slice(let axis, let start, let end, let step):
            guard step != 1 else { return [x[0].slice(axis: axis, start..<end)] }
            // every step-th position: the tensor viewed as [outer, size, inner], positions picked
            let shape = x[0].shape, inner = shape[(axis + 1)...].reduce(1, *), outer = shape[..<axis].reduce(1, *)
            let positions = Array(stride(from: start, to: end, by: step))
            var newShape = shape
            newShape[axis] = positions.count
            let source = x[0].storage
            return [Tensor(shape: newShape) { out in
                var k = 0
                for o in 0..<outer { for p in positions { for i in 0..<inner { out[k] = source[(o * shape[axis] + p) * inner + i]; k += 1 } } }
            }]
        case .expand(let shape): return [Tensor.broadcast(x[0], Tensor(shape: shape), { a, _ in a })]
        case .pad(let left, let right, let top, let bottom, let reflect):
            guard reflect else { return [x[0].zeroPadded(left: left, right: right, top: top, bottom: bottom)] }
            precondition(left == right && right == top && top == bottom, "reflect padding runs with one size on every side")
            return [x[0].reflectPadded(left)]
        case .maxPool(let kernelSize, let stride, let padding): return [x[0].maxPooled(kernelSize: kernelSize, stride: stride, padding: padding)]
        case .averagePool(let kernelSize, let stride): return [x[0].averagePooled(kernelSize: kernelSize, stride: stride)]
        case .globalAveragePool: return [planeMeans(x[0]).reshaped(Array(x[0].shape.dropLast(2)) + [1, 1])]
        case .linear: return [x[0].linear(weight: x[1], bias: x.count > 2 ? x[2] : nil)]
        case .upsampleNearest(let factor):
            let step = 1 / Float(factor)
            return [x[0].interpolateNearest(height: x[0].shape[2] * factor, width: x[0].shape[3] * factor, scaleHeight: step, scaleWidth: step)]
        case .upsampleBilinear(let factor, let alignCorners):
            let step = 1 / Float(factor)
            return [x[0].interpolateBilinear(height: x[0].shape[2] * factor, width: x[0].shape[3] * factor, alignCorners: alignCorners,
                                             scaleHeight: alignCorners ? nil : step, scaleWidth: alignCorners ? nil : step)]
        case .resize(let mode, let alignCorners, let stepHeight, let stepWidth):
            let (height, width) = (outputShapes[0][2], outputShapes[0][3])
            switch mode {
            case .nearest, .nearestExact:
                return [x[0].interpolateNearest(height: height, width: width, scaleHeight: stepHeight, scaleWidth: stepWidth, exact: mode == .nearestExact)]
            case .bilinear:
                return [x[0].interpolateBilinear(height: height, width: width, alignCorners: alignCorners,
                                                 scaleHeight: alignCorners ? nil : stepHeight, scaleWidth: alignCorners ? nil : stepWidth)]
            }
        case .exp: return [x[0].map { Foundation.exp($0) }]
        case .reduceMax(let axis): return [x[0].reducedMax(axis: axis)]
        case .reduceSum(let axis): return [x[0].reducedSum(axis: axis)]
        case .topK(let k, let axis):
            precondition(axis == x[0].rank - 1, "top_k runs along the last axis")
            let best = x[0].topK(k)
            let shape = Array(x[0].shape.dropLast()) + [k]
            return [Tensor(shape: shape, storage: best.values.flatMap { $0 }), Tensor(shape: shape, storage: best.indices.flatMap { $0.map(Float.init) })]
        case .gatherRows:
            let (batch, rows, k) = (x[0].shape[0], x[0].shape[1], x[1].shape[1])
            let width = x[0].count / max(batch * rows, 1)
            return [Tensor(shape: [batch, k] + x[0].shape.dropFirst(2)) { out in
                for n in 0..<batch {
                    for q in 0..<k {
                        let row = Int(x[1].storage[n * k + q])
                        for c in 0..<width { out[(n * k + q) * width + c] = x[0].storage[(n * rows + row) * width + c] }
                    }
                }
            }]
        case .gather(let axis):
            let shape = x[0].shape, size = shape[axis]
            let (outer, inner) = (shape[..<axis].reduce(1, *), shape[(axis + 1)...].reduce(1, *))
            let positions = x[1].storage.map { value -> Int in
                let i = Int(value)
                return i < 0 ? i + size : i
            }
            precondition(positions.allSatisfy { (0..<size).contains($0) }, "gather: an index outside 0..<\(size)")
            return [Tensor(shape: Array(shape[..<axis]) + x[1].shape + shape[(axis + 1)...]) { out in
                var k = 0
                for o in 0..<outer { for p in positions { for i in 0..<inner { out[k] = x[0].storage[(o * size + p) * inner + i]; k += 1 } } }
            }]
        case .gatherElements(let axis):
            // positions of the index viewed as [outer, count, inner]; x as [outer, size, inner]
            let (shape, indexShape) = (x[0].shape, x[1].shape)
            let size = shape[axis]
            let strides = Tensor.strides(of: shape)
            return [Tensor(shape: indexShape) { out in
                var position = [Int](repeating: 0, count: indexShape.count)
                for k in 0..<x[1].count {
                    var i = Int(x[1].storage[k])
                    if i < 0 { i += size }
                    precondition((0..<size).contains(i), "gather_elements: an index outside 0..<\(size)")
                    var offset = 0
                    for d in 0..<indexShape.count { offset += (d == axis ? i : position[d]) * strides[d] }
                    out[k] = x[0].storage[offset]
                    // the next position, row-major
                    var d = indexShape.count - 1
                    while d >= 0 {
                        position[d] += 1
                        if position[d] < indexShape[d] { break }
                        position[d] = 0
                        d -= 1
                    }
                }
            }]
        case .compare(let comparison): return [Tensor.broadcast(x[0], x[1]) { comparison.holds($0, $1) ? 1 : 0 }]
        case .atan2: return [Tensor.broadcast(x[0], x[1]) { Foundation.atan2($0, $1) }]
        case .select:
            let shape = outputShapes[0]
            let (condition, chosen, other) = (Tensor.broadcast(x[0], Tensor(shape: shape), { a, _ in a }),
                                              Tensor.broadcast(x[1], Tensor(shape: shape), { a, _ in a }),
                                              Tensor.broadcast(x[2], Tensor(shape: shape), { a, _ in a }))
            return [Tensor(shape: shape) { out in for i in 0..<out.count { out[i] = condition.storage[i] != 0 ? chosen.storage[i] : other.storage[i] } }]
        case .floor: return [x[0].map { $0.rounded(.down) }]
        case .truncate: return [x[0].map { $0.rounded(.towardZero) }]
        case .gridSample(let border): return [x[0].gridSample(x[1], padding: border ? .border : .zeros)]
        case .clip(let minimum, let maximum):
            return [x[0].map { value in min(max(value, minimum ?? -.infinity), maximum ?? .infinity) }]
        case .log: return [x[0].map { Foundation.log($0) }]
        case .integerDivide(let divisor): return [x[0].map { Float(Int($0) / divisor) }]
        case .remainder(let divisor): return [x[0].map { Float(Int($0) % divisor) }]
        case .toFloat: return [x[0]]
        case .reshape(let shape): return [x[0].reshaped(shape)]
        case .transpose(let permutation): return [x[0].permuted(permutation)]
        case .softmax(let axis): return [x[0].softmax(axis: axis)]
        case .matmul: return [batchedMatmul(x[0], x[1], outputShape: outputShapes[0])]
        case .composite(let composite):
            // passes without a kernel for a composite inline it first (`Program.inlined()`)
            preconditionFailure("composite \(composite.name) reached the reference evaluator; programs run inlined")
        }
    }

    /// The mean of each plane (the two last axes), in row order, those axes dropped: the sum
    /// taken position by position, then divided, as PyTorch's adaptive average pool does.
    static func planeMeans(_ x: Tensor) -> Tensor {
        let (rows, positions) = (x.shape.dropLast(2).reduce(1, *), x.shape.suffix(2).reduce(1, *))
        return Tensor(shape: Array(x.shape.dropLast(2))) { out in
            for row in 0..<rows {
                var sum: Float = 0
                for i in 0..<positions { sum += x.storage[row * positions + i] }
                out[row] = sum / Float(positions)
            }
        }
    }

    /// `torch.matmul` of [..., M, K] and [..., K, N], leading axes broadcast.
    static func batchedMatmul(_ a: Tensor, _ b: Tensor, outputShape: [Int]) -> Tensor {
        let (m, k, n) = (a.shape[a.rank - 2], a.shape[a.rank - 1], b.shape[b.rank - 1])
        let batchShape = Array(outputShape.dropLast(2))
        let batches = batchShape.reduce(1, *)
        let (aOffsets, bOffsets) = (Tensor.matrixOffsets(a.shape, batchShape: batchShape), Tensor.matrixOffsets(b.shape, batchShape: batchShape))
        return Tensor(shape: outputShape) { out in
            a.storage.withUnsafeBufferPointer { pa in
                b.storage.withUnsafeBufferPointer { pb in
                    for batch in 0..<batches {
                        for i in 0..<m {
                            for j in 0..<n {
                                var sum: Float = 0
                                for p in 0..<k { sum += pa[aOffsets[batch] + i * k + p] * pb[bOffsets[batch] + p * n + j] }
                                out[batch * m * n + i * n + j] = sum
                            }
                        }
                    }
                }
            }
        }
    }
}
