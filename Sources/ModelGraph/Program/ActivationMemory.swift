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
        var ledger = StorageLedger()
        var peak = 0.0
        for (position, instruction) in instructions.enumerated() {
            if case .constant = instruction.op { continue }
            // a view's or an in-place result's storage is its source's
            let sharesInput: Bool
            if case .reshape = instruction.op { sharesInput = true } else { sharesInput = appliedInPlace(instruction) }
            for value in instruction.outputs {
                if sharesInput, ledger.share(value.id, withStorageOf: instruction.inputs[0]) { continue }
                switch instruction.op {
                case .input, .textEmbeddings: ledger.allocate(value.id, bytes: bytes(value.shape), pinned: true)  // the caller's, held throughout
                default: ledger.allocate(value.id, bytes: bytes(value.shape))
                }
            }
            peak = max(peak, ledger.live)
            for id in Set(instruction.inputs) where lastReader[id] == position && !kept.contains(id) { ledger.release(id) }
            // a value no instruction reads goes at once, unless the program returns it
            for value in instruction.outputs where readers[value.id] == nil && !kept.contains(value.id) { ledger.release(value.id) }
        }
        return peak
    }
}

/// Values' storage while a program runs, for the memory passes: a value has storage of its own or
/// shares another's (a view, a result written in place); a storage's bytes count from its first
/// value until its last holder is released, and a pinned storage (the caller's image) stays.
struct StorageLedger {
    private var storage: [Int: Int] = [:]
    private var bytes: [Int: Double] = [:]
    private var holders: [Int: Int] = [:]
    private var pinned: Set<Int> = []
    /// The bytes held now.
    private(set) var live = 0.0

    /// The storage the value `id` is held in, if it is held.
    func key(of id: Int) -> Int? { storage[id] }

    /// `id` in storage of its own, of `size` bytes.
    mutating func allocate(_ id: Int, bytes size: Double, pinned pin: Bool = false) {
        storage[id] = id
        holders[id] = 1
        bytes[id] = size
        live += size
        if pin { pinned.insert(id) }
    }

    /// `id` in the storage of the held value `source`; false when `source` is held in none.
    mutating func share(_ id: Int, withStorageOf source: Int) -> Bool {
        guard let key = storage[source] else { return false }
        storage[id] = key
        holders[key, default: 0] += 1
        return true
    }

    /// `extra` more bytes in storage `key` (a copy in another layout kept beside the value).
    mutating func grow(_ key: Int, by extra: Double) {
        bytes[key, default: 0] += extra
        live += extra
    }

    /// `id` lets go of its storage, which goes with its last holder (unless pinned).
    mutating func release(_ id: Int) {
        guard let key = storage[id], !pinned.contains(key) else { return }
        storage[id] = nil
        holders[key]! -= 1
        if holders[key] == 0 {
            live -= bytes.removeValue(forKey: key) ?? 0
            holders[key] = nil
        }
    }
}
