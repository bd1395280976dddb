import Foundation
import Tensor

/// A run of element-wise operations each of which alone reads the one before (a fork's
/// `s * relu(x) ** 2 + b`, `x * scale + shift`, a hand-written LayerNorm's tail): computed in
/// one pass over the elements, a block at a time while it is in cache, instead of one pass over
/// memory per operation. Each operation is the one the reference kernels run, in the same order
/// on the same float32 values, so the results are those of the unfused program.
struct ElementwiseChain {
    /// Where a step's other operand comes from.
    enum Operand {
        case scalar(Float)
        /// A value of the chain's shape (`sideInputs` index), in the chain's layout.
        case value(Int)
        /// A constant varying along one axis of the chain's (NCHW-order) shape only: a [C]
        /// scale of a [B, H, W, C] tensor, a [C, 1, 1] one of a map.
        case vector([Float], axis: Int)
        /// The running value itself (`x * x`).
        case running
    }

    enum Step {
        case activation(Activation)
        /// `op(running, operand)`, or `op(operand, running)` when `operandFirst`.
        case binary(ProgramOp, Operand, operandFirst: Bool)
        case clip(Float?, Float?)
        case exp, log, squareRoot
    }

    /// The chain's first input (the value the first step reads) and the side inputs, in order.
    let inputs: [Int]
    let steps: [Step]
    let shape: [Int]

    /// The step an instruction would be with `running` its chained input, nil if it is no
    /// element-wise operation of the chain's shape.
    static func step(_ instruction: ProgramInstruction, running: Int, shape: [Int], constants: [Int: Tensor],
                     sideInputs: inout [Int], shapes: (Int) -> [Int]?) -> Step? {
        guard instruction.outputs.count == 1, instruction.outputs[0].shape == shape else { return nil }
        switch instruction.op {
        case .activation(let activation): return .activation(activation)
        case .clip(let minimum, let maximum): return .clip(minimum, maximum)
        case .exp: return .exp
        case .log: return .log
        case .squareRoot: return .squareRoot
        case .add, .subtract, .multiply, .divide:
            guard instruction.inputs.count == 2 else { return nil }
            if instruction.inputs[0] == running && instruction.inputs[1] == running { return .binary(instruction.op, .running, operandFirst: false) }
            guard let side = instruction.inputs.firstIndex(where: { $0 != running }), instruction.inputs.contains(running) else { return nil }
            let other = instruction.inputs[side]
            let operand: Operand
            if let constant = constants[other], constant.count == 1 {
                operand = .scalar(constant.storage[0])
            } else if let constant = constants[other], let axis = Self.vectorAxis(constant.shape, shape) {
                operand = .vector(constant.storage, axis: axis)
            } else if shapes(other) == shape {
                if !sideInputs.contains(other) { sideInputs.append(other) }
                operand = .value(sideInputs.firstIndex(of: other)!)
            } else {
                return nil
            }
            return .binary(instruction.op, operand, operandFirst: side == 0)
        default: return nil
        }
    }

    /// The axis along which a constant of shape `constant` varies in a tensor of `shape`, when
    /// it varies along one axis only and spans it.
    static func vectorAxis(_ constant: [Int], _ shape: [Int]) -> Int? {
        guard constant.count <= shape.count else { return nil }
        let padded = [Int](repeating: 1, count: shape.count - constant.count) + constant
        let varying = padded.indices.filter { padded[$0] != 1 }
        guard varying.count == 1, padded[varying[0]] == shape[varying[0]] else { return nil }
        return varying[0]
    }

    /// Runs the steps over `first` with the side inputs, all held in one layout (a channels-last
    /// map's NHWC elements when `channelsLast`), as flat runs of elements.
    func callAsFunction(_ first: Tensor, _ side: [Tensor], channelsLast: Bool) -> Tensor {
        let count = first.count
        // per vector step, the stride of its axis in the elements' layout
        let layoutShape = channelsLast ? [shape[0], shape[2], shape[3], shape[1]] : shape
        let strides = steps.map { step -> Int in
            guard case .binary(_, .vector(_, let axis), _) = step else { return 0 }
            let layoutAxis = channelsLast ? [0, 3, 1, 2][axis] : axis
            return layoutShape[(layoutAxis + 1)...].reduce(1, *)
        }
        return Tensor(shape: first.shape) { out in
            Self.withPointers(side[...]) { sidePointers in
                first.storage.withUnsafeBufferPointer { source in
                    Threads.parallelRanges(count, minimumPerChunk: 32768) { range in
                        var start = range.lowerBound
                        while start < range.upperBound {
                            let length = min(4096, range.upperBound - start)
                            let block = out.baseAddress! + start
                            block.update(from: source.baseAddress! + start, count: length)
                            for (step, stride) in zip(steps, strides) {
                                apply(step, block, start: start, length: length, stride: stride, side: sidePointers)
                            }
                            start += length
                        }
                    }
                }
            }
        }
    }

    /// The side tensors' element pointers, each array pinned for the call.
    private static func withPointers<R>(_ tensors: ArraySlice<Tensor>, _ pointers: [UnsafePointer<Float>] = [],
                                        _ body: ([UnsafePointer<Float>]) -> R) -> R {
        guard let first = tensors.first else { return body(pointers) }
        return first.storage.withUnsafeBufferPointer { withPointers(tensors.dropFirst(), pointers + [$0.baseAddress!], body) }
    }

    @inline(__always)
    private func apply(_ step: Step, _ x: UnsafeMutablePointer<Float>, start: Int, length: Int, stride: Int, side: [UnsafePointer<Float>]) {
        switch step {
        case .activation(let activation): activation.apply(x, count: length)
        case .clip(let minimum, let maximum):
            let (low, high) = (minimum ?? -.infinity, maximum ?? .infinity)
            for i in 0..<length { x[i] = Swift.min(Swift.max(x[i], low), high) }
        case .exp: for i in 0..<length { x[i] = Foundation.exp(x[i]) }
        case .log: for i in 0..<length { x[i] = Foundation.log(x[i]) }
        case .squareRoot: for i in 0..<length { x[i] = x[i].squareRoot() }
        case .binary(let op, let operand, let operandFirst):
            switch operand {
            case .scalar(let value):
                combine(op, x, length: length, operandFirst: operandFirst) { _ in value }
            case .value(let index):
                let other = side[index] + start
                combine(op, x, length: length, operandFirst: operandFirst) { other[$0] }
            case .vector(let values, _):
                // runs of positions that share a vector element (stride > 1) or walk the vector (stride 1)
                values.withUnsafeBufferPointer { vector in
                    let base = vector.baseAddress!, size = values.count
                    var i = 0
                    if stride == 1 {
                        var position = start % size
                        while i < length {
                            let run = Swift.min(size - position, length - i), from = base + position
                            combine(op, x + i, length: run, operandFirst: operandFirst) { from[$0] }
                            i += run
                            position = 0
                        }
                    } else {
                        var position = (start / stride) % size, left = stride - start % stride
                        while i < length {
                            let run = Swift.min(left, length - i), value = base[position]
                            combine(op, x + i, length: run, operandFirst: operandFirst) { _ in value }
                            i += run
                            left -= run
                            if left == 0 {
                                left = stride
                                position = position + 1 == size ? 0 : position + 1
                            }
                        }
                    }
                }
            case .running:
                combine(op, x, length: length, operandFirst: false) { x[$0] }
            }
        }
    }

    @inline(__always)
    private func combine(_ op: ProgramOp, _ x: UnsafeMutablePointer<Float>, length: Int, operandFirst: Bool, _ operand: (Int) -> Float) {
        switch (op, operandFirst) {
        case (.add, _): for i in 0..<length { x[i] = operandFirst ? operand(i) + x[i] : x[i] + operand(i) }
        case (.multiply, _): for i in 0..<length { x[i] = operandFirst ? operand(i) * x[i] : x[i] * operand(i) }
        case (.subtract, false): for i in 0..<length { x[i] = x[i] - operand(i) }
        case (.subtract, true): for i in 0..<length { x[i] = operand(i) - x[i] }
        case (.divide, false): for i in 0..<length { x[i] = x[i] / operand(i) }
        case (.divide, true): for i in 0..<length { x[i] = operand(i) / x[i] }
        default: preconditionFailure("\(op.name) is no element-wise binary operation")
        }
    }
}
