import Foundation
import ModelGraph
import PythonFrontEnd
import PythonInterpreter
import Tensor

/// An op the traced forward met that has no program form yet: which, why, and where the fork's
/// code called it.
public struct UntracedTorchOp: Sendable, CustomStringConvertible {
    public var op: String
    public var reason: String
    public var site: String?
    public var layerIndex: Int?
    public var module: String?
    /// The YAML row's place (`file:line:column`), set by the builder that knows the file.
    public var row: String?
    public var description: String {
        (row.map { $0 + ": " } ?? "") + (layerIndex.map { "layer \($0)" + (module.map { " (\($0))" } ?? "") + ": " } ?? "")
            + "torch.\(op): \(reason)" + (site.map { " — \($0)" } ?? "")
    }
}

/// Fork mode's torch recording the interpreted forward as a ModelGraph program: while a trace
/// is active, every op that reads a traced tensor records itself as program operations (the
/// closed op set of `ProgramOp`), so interpreted modules reach the same passes — planner,
/// fusions, kernels, ONNX export — as built-in ones. An op with no program form is noted with
/// the fork's source line; the shape walk goes on, so the build still reports every row.
public final class ForkTrace {
    let recorder = ProgramRecorder()
    /// Distinct ops (by name and reason) met without a program form, first site each.
    public private(set) var untraced: [UntracedTorchOp] = []
    /// Distinct ops (by name and reason) the program runs otherwise than PyTorch would — as
    /// their expectation where PyTorch draws at random (`F.dropout` left in training mode) —
    /// first site each: said beside the results, never silently.
    public private(set) var departures: [UntracedTorchOp] = []
    /// Each recorded value's shape, by id.
    var shapes: [Int: [Int]] = [:]
    /// The model row running (set by the forward's hooks).
    var layer: (index: Int, module: String)?
    /// Ops inside ops (F.softmax calling torch.softmax) are the outer op's business.
    var depth = 0
    /// Results of ops that could not be recorded (held, so their identities stay unique): an op
    /// reading one is left out silently — the first op is the one to report.
    var poisoned: [ObjectIdentifier: TorchTensor] = [:]
    /// While set (the model's `eval()` run inside the trace, where modules cache tensors computed
    /// from their weights): an op without a program form is noted only if the forward reads its result.
    var deferring = false
    /// The notes of ops met while `deferring`, by the result they poisoned.
    var deferred: [ObjectIdentifier: UntracedTorchOp] = [:]
    /// Results of ops that PyTorch may return as views of their input, with the tensor they view
    /// (both held, as above). An in-place op through one changes the other in PyTorch; the
    /// program does not model shared storage, so the other becomes stale: reading it is noted.
    var views: [ObjectIdentifier: (view: TorchTensor, base: TorchTensor)] = [:]
    /// Index tensors [B, k, C] that repeat one column [B, k, 1] along their last axis (by `repeat` or
    /// `expand`), with that column: `x.gather(1, index)` of such an index picks whole rows.
    var repeatedColumns: [ObjectIdentifier: (index: TorchTensor, column: TorchTensor)] = [:]
    /// Views made by basic indexing of a tensor that is not itself a view, with the index: a
    /// `copy_` into one is an assignment into that tensor (`otf[..., :k, :k].copy_(psf)`).
    var indexedViews: [ObjectIdentifier: (view: TorchTensor, base: TorchTensor, index: PyValue)] = [:]
    /// Indices from `max_pool2d(…, return_indices=True)` over windows that tile the map, with the
    /// window and the map's width: what `max_unpool2d` reads them by.
    var poolIndices: [ObjectIdentifier: (indices: TorchTensor, window: Int, width: Int)] = [:]
    /// Tensors an in-place op changed through another view of their storage, with that op's place.
    var stale: [ObjectIdentifier: (tensor: TorchTensor, site: String)] = [:]

    /// After an in-place op on `target`: every other tensor sharing its storage is stale.
    func changedInPlace(_ target: TorchTensor, site: String?) {
        let base = views[ObjectIdentifier(target)]?.base ?? target
        var sharing = [base] + views.values.filter { $0.base === base }.map(\.view)
        sharing.removeAll { $0 === target }
        // another part of the same split holds other elements: it stays as it was
        let part = parts[ObjectIdentifier(target)]
        sharing.removeAll { t in
            guard let part, let other = parts[ObjectIdentifier(t)] else { return false }
            return other.split == part.split && other.index != part.index
        }
        for t in sharing { stale[ObjectIdentifier(t)] = (t, site ?? "?") }
    }
    /// The outputs of a split (chunk, unbind) and views of them: which split and which part —
    /// disjoint elements of one storage.
    var parts: [ObjectIdentifier: (split: Int, index: Int)] = [:]
    var splits = 0
    let input: TorchTensor

    init(input: TorchTensor) {
        self.input = input
        input.symbol = recorder.record(.input, [], outputs: [input.shape])[0].id
        shapes[input.symbol!] = input.shape
    }

    func note(_ op: String, _ reason: String, site: String?, poisoning results: [TorchTensor] = []) {
        let untracedOp = UntracedTorchOp(op: op, reason: reason, site: site, layerIndex: layer?.index, module: layer?.module)
        guard !deferring else {
            for t in results { deferred[ObjectIdentifier(t)] = untracedOp }
            return
        }
        note(untracedOp)
    }

    /// Notes an op the program runs otherwise than PyTorch (see `departures`).
    func depart(_ op: String, _ reason: String, site: String?) {
        guard !departures.contains(where: { $0.op == op && $0.reason == reason }) else { return }
        departures.append(UntracedTorchOp(op: op, reason: reason, site: site, layerIndex: layer?.index, module: layer?.module))
    }

    func note(_ untracedOp: UntracedTorchOp) {
        guard !untraced.contains(where: { $0.op == untracedOp.op && $0.reason == untracedOp.reason }) else { return }
        untraced.append(untracedOp)
    }

    /// Whether an op reading `t` records itself: a traced value, the result of an op already noted,
    /// or a named floating weight.
    func reads(_ t: TorchTensor) -> Bool {
        t.symbol != nil || poisoned[ObjectIdentifier(t)] != nil || (t.stateName != nil && t.dtype.isFloatingPoint)
    }

    /// Before `x[index] = value` records: a target whose values fork mode knows (a buffer of zeros
    /// made in the forward) becomes a constant first, as the op itself forgets them when the
    /// value's are unknown.
    func pinTarget(of arguments: TorchArguments, _ step: (TorchTensor) throws -> Int) {
        guard depth == 0, case .object(let target as TorchTensor)? = arguments.value(0, "self"), target.symbol == nil, target.values != nil,
              case .object(let source as TorchTensor)? = arguments.value(2, "value"), reads(source) else { return }
        _ = try? step(target)
    }
}

/// Why an op cannot be recorded (the trace notes it and goes on); `nil`: it reads the result of
/// an op already noted.
struct Untraceable: Error { let reason: String?; init(_ reason: String?) { self.reason = reason } }

extension TorchRuntime {
    /// Starts tracing a forward whose input is `input` (a fresh [B, C, H, W] tensor).
    public func beginTrace(input: TorchTensor) -> ForkTrace {
        let trace = ForkTrace(input: input)
        self.trace = trace
        return trace
    }

    /// Names `tensor` by its state_dict key: a floating parameter or buffer becomes the program
    /// constant of that name (its values bound from a weights file before a run).
    public func nameState(_ tensor: TorchTensor, _ key: String) {
        if tensor.stateName == nil { tensor.stateName = key }
    }

    /// While `on`, ops without a program form are noted only when the forward reads their results.
    public func deferTraceFailures(_ on: Bool) { trace?.deferring = on }

    /// Sets the model row the trace attributes ops to.
    public func traceLayer(_ index: Int, module: String) { trace?.layer = (index, module) }

    /// Ends the trace: the program returning the traced tensors among `outputs` (with their
    /// names), or the ops that have no program form.
    public func endTrace(outputs: [(name: String, tensor: TorchTensor)]) -> Result<(Program, [String], [UntracedTorchOp]), ForkTraceFailure> {
        defer { trace = nil }
        guard let trace else { return .failure(ForkTraceFailure(untraced: [], message: "no trace was running")) }
        guard trace.untraced.isEmpty else { return .failure(ForkTraceFailure(untraced: trace.untraced, message: nil)) }
        let traced = outputs.filter { $0.tensor.symbol != nil && $0.tensor.dtype.isFloatingPoint }
        guard !traced.isEmpty else {
            return .failure(ForkTraceFailure(untraced: [], message: "the forward returned no tensor computed from its input"))
        }
        let values = traced.map { ProgramValue(id: $0.tensor.symbol!, shape: $0.tensor.shape) }
        return .success((trace.recorder.program(outputs: values), traced.map(\.name), trace.departures))
    }

    /// Every tensor in `value`: itself, or the items of a tuple, list or dict, depth first.
    func tensors(in value: PyValue, depth: Int = 0) -> [TorchTensor] {
        guard depth < 4, case .object(let object) = value else { return [] }
        if let t = object as? TorchTensor { return [t] }
        if let pair = object as? TorchNamedPair { return [pair.values, pair.indices] }
        if let list = object as? PyList { return list.items.flatMap { tensors(in: $0, depth: depth + 1) } }
        if let tuple = object as? PyTuple { return tuple.items.flatMap { tensors(in: $0, depth: depth + 1) } }
        return []
    }

    /// After op `name` ran (its shapes computed): records it when it reads a traced tensor.
    func record(_ name: String, _ a: TorchArguments, _ result: PyValue, _ trace: ForkTrace) {
        guard trace.depth == 0 else { return }
        let inputs = a.arguments.positional.flatMap { tensors(in: $0) } + a.arguments.keywords.flatMap { tensors(in: $0.1) }
        // `x[i] = v` returns nothing and changes x: x is its result
        let outputs = name == "__setitem__" ? Array(inputs.prefix(1)) : tensors(in: result)
        guard !outputs.isEmpty else { return }  // size(), dim(), item() of a traced tensor read shapes
        // an op over traced tensors records itself; so does one over tensors of known values whose
        // result fork mode's torch keeps no values for (large, or an op that follows shapes only)
        // (a weight read through an op — `in_proj_weight[:embed]` — stays the named weight's, never its initial values)
        let reads = inputs.contains(where: trace.reads)
        let computes = !inputs.isEmpty && inputs.allSatisfy { $0.values != nil } && outputs.contains { $0.values == nil }
        // fill_ and zero_ make a constant whatever the tensor held
        guard reads || computes || name == "fill_" || name == "zero_" else { return }
        var base = name.hasPrefix("nn.functional.") ? String(name.dropFirst("nn.functional.".count)) : name
        if base.hasSuffix("_"), !base.hasPrefix("_") { base.removeLast() }
        let site = a.interp.innermostSite { !$0.hasPrefix("<") }
        var origin = ProgramOrigin(layerIndex: trace.layer?.index, module: trace.layer?.module, source: site)
        if let index = trace.layer?.index { origin.path = "model.\(index)" }
        if let weight = inputs.lazy.compactMap(\.stateName).first, let dot = weight.lastIndex(of: ".") {
            origin.path = String(weight[..<dot])
        }
        trace.recorder.origin = origin
        let step = TraceStep(torch: self, trace: trace, name: base, a: a, result: result, outputs: outputs)
        trace.depth += 1
        defer { trace.depth -= 1 }
        do {
            try step.record()
            // `view.copy_(src)` into a view made by indexing: the viewed tensor takes the assignment
            var assignedBase: TorchTensor?
            if base == "copy", let target = inputs.first, let indexed = trace.indexedViews[ObjectIdentifier(target)],
               case .object(let source as TorchTensor)? = a.value(1, "src") {
                indexed.base.symbol = try step.assigned(indexed.base, indexed.index, .object(source))
                assignedBase = indexed.base
            }
            defer { if let assignedBase { trace.stale[ObjectIdentifier(assignedBase)] = nil } }
            // an op that returns its input changed (`relu_`, `F.silu(x, inplace=True)`): tensors
            // sharing its storage are stale from here on
            if let target = inputs.first, outputs.first === target, !TraceStep.returnsInputUnchanged.contains(base) {
                trace.changedInPlace(target, site: site)
            }
            // indexing by tensors (advanced indexing) copies; basic indexing views
            let copies = base == "__getitem__" && inputs.count > 1
            if TraceStep.makesViews.contains(base), !copies, let source = inputs.first {
                let root = trace.views[ObjectIdentifier(source)]?.base ?? source
                for t in outputs where t !== source { trace.views[ObjectIdentifier(t)] = (t, root) }
                if ["split", "split_with_sizes", "chunk", "unbind", "tensor_split"].contains(base), outputs.count > 1 {
                    trace.splits += 1
                    for (k, t) in outputs.enumerated() { trace.parts[ObjectIdentifier(t)] = (trace.splits, k) }
                } else if let part = trace.parts[ObjectIdentifier(source)] {
                    // a view of a part (`z.view(…)`, `z[:, 1:]`) lies within that part
                    for t in outputs where t !== source { trace.parts[ObjectIdentifier(t)] = part }
                }
                if base == "__getitem__", root === source, outputs.count == 1, outputs[0] !== source, let index = a.value(1, "index") {
                    trace.indexedViews[ObjectIdentifier(outputs[0])] = (outputs[0], source, index)
                }
            }
        } catch {
            for t in outputs {
                t.symbol = nil
                t.imaginarySymbol = nil
                trace.poisoned[ObjectIdentifier(t)] = t
            }
            if let failure = error as? Untraceable {
                if let reason = failure.reason { trace.note(base, reason, site: site, poisoning: outputs) }
            } else {
                trace.note(base, "\(error)", site: site, poisoning: outputs)
            }
        }
    }
}

/// Why a fork model's forward is not a program: the ops without a program form, or a message.
public struct ForkTraceFailure: Error, Sendable, CustomStringConvertible {
    public var untraced: [UntracedTorchOp]
    public var message: String?
    public var description: String {
        if let message { return message }
        return "the forward uses ops fork mode cannot run yet: " + untraced.map(\.description).joined(separator: "; ")
    }
}

/// One op's recording: its arguments, its results (already shaped by the shape walk), and
/// the program operations that compute them.
struct TraceStep {
    let torch: TorchRuntime
    let trace: ForkTrace
    let name: String
    let a: TorchArguments
    let result: PyValue
    let outputs: [TorchTensor]
    var recorder: ProgramRecorder { trace.recorder }
    var output: TorchTensor { outputs[0] }

    /// Ops PyTorch answers with a view of their input (sharing its storage).
    static let makesViews: Set<String> = [
        "view", "reshape", "view_as", "reshape_as", "flatten", "unflatten", "unsqueeze", "squeeze", "permute", "transpose", "swapaxes",
        "swapdims", "t", "expand", "expand_as", "broadcast_to", "narrow", "__getitem__", "split", "split_with_sizes", "chunk", "unbind",
        "tensor_split", "movedim", "moveaxis",
    ]
    /// Ops that may return their input object itself without changing it.
    static let returnsInputUnchanged: Set<String> = [
        "contiguous", "detach", "cpu", "cuda", "requires_grad", "float", "type_as", "to", "type", "resolve_conj", "pin_memory", "clone",
        "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "identity", "view", "reshape", "flatten",
        "squeeze", "unsqueeze", "t", "transpose", "expand", "expand_as", "view_as", "reshape_as", "__getitem__",
    ]

    /// Ops whose integer results the program's float32 values hold exactly (below 2^24).
    static let exactOnIntegers: Set<String> = [
        "view", "reshape", "view_as", "reshape_as", "flatten", "unflatten", "unsqueeze", "squeeze", "permute", "transpose", "t",
        "expand", "expand_as", "broadcast_to", "repeat", "cat", "concat", "concatenate", "stack", "split", "chunk", "unbind",
        "__getitem__", "narrow", "contiguous", "clone", "detach", "add", "sub", "mul", "neg", "zeros_like", "ones_like", "topk", "meshgrid",
        "clamp", "clip", "gather", "floor", "ceil", "trunc", "fix",
    ]

    // MARK: values

    /// The program value holding `t`: its traced value, its named weight, or its known values as a constant.
    func value(_ t: TorchTensor) throws -> Int {
        if let change = trace.stale[ObjectIdentifier(t)] {
            throw Untraceable("reads a tensor that an in-place op changed through another view of its storage (at \(change.site)), which the program does not model")
        }
        if let symbol = t.symbol { return symbol }
        if trace.poisoned[ObjectIdentifier(t)] != nil {
            // an op met while deferring is reported once the forward reads its result
            if let pending = trace.deferred.removeValue(forKey: ObjectIdentifier(t)) { trace.note(pending) }
            throw Untraceable(nil)
        }
        guard !t.dtype.isComplex else { throw Untraceable("complex tensors have no program form") }
        let id: Int
        if let name = t.stateName, t.dtype.isFloatingPoint {
            id = recorder.record(.constant(Tensor(shape: t.shape), name: name), [], outputs: [t.shape], path: name)[0].id
            trace.shapes[id] = t.shape
        } else if let values = t.values {
            id = constant(Tensor(shape: t.shape, storage: values.map { Float($0) }))
        } else {
            throw Untraceable("reads a tensor whose values fork mode does not know (made outside the traced forward, e.g. by torch.randn or torch.empty)")
        }
        t.symbol = id
        return id
    }

    /// Argument `index` as a program value: a tensor, or a Python number as a constant.
    func value(_ index: Int, _ keyword: String) throws -> Int {
        guard let v = a.value(index, keyword), !v.isNone else { throw Untraceable("missing argument '\(keyword)'") }
        if case .object(let t as TorchTensor) = v { return try value(t) }
        return constant(Tensor(shape: [], storage: [Float(try a.interp.floatArgument(v, keyword))]))
    }

    func tensor(_ index: Int, _ keyword: String) throws -> TorchTensor {
        guard let v = a.value(index, keyword), case .object(let t as TorchTensor) = v else { throw Untraceable("argument '\(keyword)' is not a tensor") }
        return t
    }

    func constant(_ tensor: Tensor) -> Int {
        let id = recorder.record(.constant(tensor, name: nil), [], outputs: [tensor.shape])[0].id
        trace.shapes[id] = tensor.shape
        return id
    }

    func scalar(_ value: Float) -> Int { constant(Tensor(shape: [], storage: [value])) }

    /// Records `op` and returns its one output value.
    @discardableResult
    func emit(_ op: ProgramOp, _ inputs: [Int], _ shape: [Int]) -> Int {
        let id = recorder.record(op, inputs, outputs: [shape])[0].id
        trace.shapes[id] = shape
        return id
    }

    /// The op's result tensor `position` holds `id`.
    /// `exact`: the op's integer result is exact as float32 whatever its name (a cast of integers).
    func bind(_ id: Int, _ position: Int = 0, exact: Bool = false) throws {
        let t = outputs[position]
        // integer results only from ops that are exact on integers held as float32 (index grids)
        guard t.dtype.isFloatingPoint || t.dtype.isComplex || exact || TraceStep.exactOnIntegers.contains(name) else {
            throw Untraceable("its result is \(t.dtype.rawValue); the program computes float32 values")
        }
        // a safety net: the recorded operations must make the shape torch's own rules gave
        guard trace.shapes[id] == t.shape else {
            throw Untraceable("its program form makes \(trace.shapes[id] ?? []), torch's shape rules \(t.shape) (a ModelGraph bug; please report it)")
        }
        t.symbol = id
    }

    /// `x.view(shape)`, no op when the shape stays.
    func reshape(_ id: Int, from: [Int], to shape: [Int]) -> Int {
        from == shape ? id : emit(.reshape(shape), [id], shape)
    }

    /// A reduction over `axes` of a tensor of `shape` (sum, then scaled for a mean), keeping them as size 1 when asked.
    func reduce(_ id: Int, shape: [Int], axes: [Int], mean: Bool, keep: Bool, maximum: Bool = false) -> Int {
        var current = id, currentShape = shape
        for axis in axes.sorted(by: >) {
            currentShape.remove(at: axis)
            current = emit(maximum ? .reduceMax(axis: axis) : .reduceSum(axis: axis), [current], currentShape)
        }
        if mean {
            let count = axes.map { shape[$0] }.reduce(1, *)
            current = emit(.divide, [current, scalar(Float(count))], currentShape)
        }
        if keep {
            let kept = shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
            current = reshape(current, from: currentShape, to: kept)
        }
        return current
    }

    /// An argument given as one integer or a sequence of them (`dims=2`, `dims=(1, -2)`); nil when absent or None.
    func integers(_ index: Int, _ keyword: String) throws -> [Int]? {
        guard let v = a.value(index, keyword), !v.isNone else { return nil }
        if let i = try a.interp.indexValue(v) { return [i] }
        return try a.interp.materialize(v).map { try a.interp.intArgument($0, keyword) }
    }

    func float(_ index: Int, _ keyword: String, _ defaultValue: Double) throws -> Float {
        Float(try a.double(index, keyword, defaultValue))
    }
}
