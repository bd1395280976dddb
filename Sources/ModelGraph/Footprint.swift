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

    /// The most bytes of feature maps (float32) the inference plan holds at once at the built
    /// input size and batch: while a row runs, the maps inside its fused blocks for as long as
    /// their code keeps them (a shape walk whose features live as the tensors would, and what
    /// modules working on tensors declare), plus every earlier output still to be read by a
    /// later row (the plan releases each after its last reader; an output no row reads stays),
    /// plus the input image, which the caller holds throughout. The kernels' shared scratch is
    /// the loaded plan's, not counted here; NCHW⇄NHWC copies a module asks for come on top.
    /// Nil when a layer's shapes are unknown.
    public var peakActivationBytes: Double? {
        var lastUse = [Int: Int]()
        for (position, layer) in layers.enumerated() {
            for source in layer.from { lastUse[source] = position }
        }
        func bytes(_ shape: [Int]) -> Double { 4 * shape.reduce(1.0) { $0 * Double($1) } }
        guard let walked = rewalk({ $0.fused() }) else { return nil }
        var live: [Int: Double] = [-1: bytes(inputShape)]
        var peak = live[-1]!
        for (position, layer) in layers.enumerated() {
            guard let held = layer.indexShapes else { return nil }
            // the row's working set counts its inputs (once per `from` entry, as the walk gives them)
            let read = layer.from.reduce(0.0) { $0 + (live[$1] ?? 0) }
            peak = max(peak, live.values.reduce(0, +) - read + walked[position].peakLiveBytes)
            for (offset, shape) in held.enumerated() { live[layer.index + offset] = bytes(shape) }
            // the input image is the caller's, alive for the whole pass
            for source in layer.from where lastUse[source] == position && source != -1 { live[source] = nil }
        }
        return peak
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
