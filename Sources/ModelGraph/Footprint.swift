// What a model costs in memory: its weights and the activations its inference plan keeps live.

extension ModelGraph {
    /// Elements of every state-dict tensor (parameters and buffers), after Ultralytics' `fuse()`
    /// when `fused`.
    public func stateElementCount(fused: Bool = false) -> Int {
        layers.reduce(0) { total, layer in
            (fused ? layer.fusedTree : layer.tree).stateDictionary(prefix: "").reduce(total) { saturatingSum($0, $1.elementCount) }
        }
    }

    /// Bytes of the weights file at `bytesPerElement` (4: float32, 2: float16).
    public func weightBytes(bytesPerElement: Int, fused: Bool = false) -> Double {
        Double(stateElementCount(fused: fused)) * Double(bytesPerElement)
    }

    /// The most bytes of feature maps (float32) a forward pass holds at once at the built input
    /// size and batch: the memory pass over the fused program (`Program.peakActivationBytes`),
    /// traced without weights. The planned program's own pass (`PlannedProgram.peakActivationBytes`,
    /// which needs loaded weights) follows its kernels' layouts and fusions and is exact; this
    /// one is an estimate for before loading. Nil when the graph has errors.
    public var peakActivationBytes: Double? {
        weightlessProgram(fused: true)?.peakActivationBytes
    }
}

extension ModelGraph {
    /// The `memory` line of `summary`: weights (float32, float16), activations at their peak,
    /// and the two together.
    public func memoryLine(fused: Bool = false) -> String {
        let megabytes = { (bytes: Double) in String(format1: bytes / 1e6) + " MB" }
        let weights = weightBytes(bytesPerElement: 4, fused: fused)
        let shape = inputShape
        guard let activations = peakActivationBytes else {
            return "memory: weights \(megabytes(weights)) float32, \(megabytes(weights / 2)) float16; activations unknown"
        }
        return "memory: weights \(megabytes(weights)) float32 (\(megabytes(weights / 2)) float16), activations at their peak "
            + "\(megabytes(activations)) (batch \(shape[0]), \(shape[2])×\(shape[3]), float32), together \(megabytes(weights + activations))"
    }

    /// The `memory` object of `summary --json`, in MB.
    public func memoryJSON(fused: Bool = false) -> JSONValue {
        let weights = weightBytes(bytesPerElement: 4, fused: fused)
        return .object([
            ("weights_fp32_mb", .double(weights / 1e6)),
            ("weights_fp16_mb", .double(weights / 2e6)),
            ("peak_activations_mb", peakActivationBytes.map { .double($0 / 1e6) } ?? .null),
            ("total_mb", peakActivationBytes.map { .double((weights + $0) / 1e6) } ?? .null),
        ])
    }
}
