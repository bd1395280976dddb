// The activation-memory pass over a program as traced (before planning): liveness in program
// order. The planned program has its own, exact pass (`PlannedProgram.peakActivationBytes`),
// which follows the kernels it chose; this one needs no weights and no planning, so `summary`
// can give the figure at once.

extension Program {
    /// The most bytes of values (float32) held at once when the program runs in order: every
    /// value from the instruction that makes it to its last reader. A view (`reshape`) shares
    /// its input's elements; an activation that alone reads a convolution's, BatchNorm's, linear
    /// layer's or sum's result is applied in place, as every kernel that makes such a result
    /// applies it; a composite holds only its results (it runs as one kernel); the image counts
    /// throughout and the program's outputs to the end. Weights are not counted.
    public var peakActivationBytes: Double {
        var readers: [Int: Int] = [:]
        var lastReader: [Int: Int] = [:]
        var producer: [Int: ProgramOp] = [:]
        for (position, instruction) in instructions.enumerated() {
            for id in instruction.inputs {
                readers[id, default: 0] += 1
                lastReader[id] = position
            }
            for value in instruction.outputs { producer[value.id] = instruction.op }
        }
        let kept = Set(outputs.map(\.id))
        func bytes(_ shape: [Int]) -> Double { 4 * shape.reduce(1.0) { $0 * Double($1) } }
        func appliedInPlace(_ instruction: ProgramInstruction) -> Bool {
            guard case .activation = instruction.op, let source = instruction.inputs.first, readers[source] == 1 else { return false }
            switch producer[source] {
            case .convolution?, .transposedConvolution?, .batchNorm?, .linear?, .add?: return true
            default: return false
            }
        }
        // each value's storage (a view's or an in-place result's is its source's), each storage's bytes and holders
        var storage: [Int: Int] = [:]
        var size: [Int: Double] = [:]
        var holders: [Int: Int] = [:]
        var (live, peak) = (0.0, 0.0)
        var pinned = Set<Int>()
        func release(_ id: Int) {
            guard let key = storage.removeValue(forKey: id), !pinned.contains(key) else { return }
            holders[key]! -= 1
            if holders[key] == 0 {
                live -= size.removeValue(forKey: key) ?? 0
                holders[key] = nil
            }
        }
        for (position, instruction) in instructions.enumerated() {
            if case .constant = instruction.op { continue }
            let shares: Int?
            if case .reshape = instruction.op { shares = instruction.inputs.first.flatMap { storage[$0] } } else { shares = appliedInPlace(instruction) ? storage[instruction.inputs[0]] : nil }
            for value in instruction.outputs {
                if let key = shares {
                    storage[value.id] = key
                    holders[key, default: 0] += 1
                    continue
                }
                storage[value.id] = value.id
                holders[value.id] = 1
                size[value.id] = bytes(value.shape)
                live += size[value.id]!
                switch instruction.op {
                case .input, .textEmbeddings: pinned.insert(value.id)  // the caller's, held throughout
                default: break
                }
            }
            peak = max(peak, live)
            for id in Set(instruction.inputs) where lastReader[id] == position && !kept.contains(id) { release(id) }
            // a value no instruction reads goes at once, unless the program returns it
            for value in instruction.outputs where readers[value.id] == nil && !kept.contains(value.id) { release(value.id) }
        }
        return peak
    }
}
