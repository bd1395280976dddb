import Foundation
import PythonFrontEnd
import PythonInterpreter

extension TorchRuntime {
    func installModules(_ importer: Importer) {
        importer.partialPackages.formUnion(["torch", "timm", "numpy", "einops", "torchvision", "pywt"])
        importer.nativeModules["torch"] = { [unowned self] interp, m in
            for (name, f) in self.functions where !name.contains(".") {
                m.namespace[name] = .object(PyBuiltinFunction("torch.\(name)", f))
            }
            let aliases: [(String, DType)] = [("float32", .float32), ("float", .float32), ("float64", .float64), ("double", .float64),
                                               ("float16", .float16), ("half", .float16), ("bfloat16", .bfloat16), ("int64", .int64),
                                               ("long", .int64), ("int32", .int32), ("int", .int32), ("int16", .int16), ("short", .int16),
                                               ("int8", .int8), ("uint8", .uint8), ("bool", .bool)]
            for (name, d) in aliases { m.namespace[name] = .object(self.dtypeObject(d)) }
            m.namespace["Tensor"] = .object(self.tensorClass)
            m.namespace["Parameter"] = .object(self.parameterClass)
            m.namespace["dtype"] = .object(self.dtypeClass)
            m.namespace["Size"] = .object(interp.types.tuple)
            m.namespace["__version__"] = .str("2.1.0")
            m.namespace["inf"] = .float(.infinity)
            m.namespace["nan"] = .float(.nan)
            m.namespace["pi"] = .float(Double.pi)
            m.namespace["e"] = .float(M_E)
            m.namespace["device"] = .object(PyBuiltinFunction("torch.device") { _, _ in .object(self.cpu) })
            interp.types.setConstructor(self.deviceClass) { _, _ in .object(self.cpu) }
            interp.types.setConstructor(self.tensorClass) { interp, a in
                if a.positional.count == 1, case .object(let o) = a.positional[0], o is PyList || o is PyTuple {
                    return .object(try self.tensor(from: a.positional[0], interp, dtype: .float32))
                }
                if a.positional.count == 1, case .object(let t as TorchTensor) = a.positional[0] { return .object(t) }
                let shape = try a.positional.map { try self.dimension($0, interp) }
                return .object(self.make(shape, .float32, values: [Double](repeating: 0, count: Swift.min(shape.product, self.concreteLimit + 1))))
            }
            interp.types.setConstructor(self.parameterClass) { interp, a in
                let data = a.positional.first ?? a.keyword("data") ?? .none
                let source: TorchTensor = data.isNone ? self.make([0], .float32, values: []) : try self.tensor(from: data, interp)
                let parameter = TorchTensor(shape: source.shape, dtype: source.dtype, values: source.values, torch: self)
                parameter.isParameter = true
                let requiresGrad = try (a.positional.count > 1 ? a.positional[1] : a.keyword("requires_grad")).map(interp.truthy) ?? true
                parameter.requiresGrad = requiresGrad
                return .object(parameter)
            }
            // hooks for torch.nn.Module.__call__ and explicit counts (the Ultralytics GFLOPs rules)
            m.namespace["_modelgraph_enter"] = .object(PyBuiltinFunction("_modelgraph_enter") { interp, a in
                try self.moduleEntered(a, interp); return .none
            })
            m.namespace["_modelgraph_leave"] = .object(PyBuiltinFunction("_modelgraph_leave") { interp, a in
                try self.moduleLeft(a, interp); return .none
            })
            m.namespace["_modelgraph_count"] = .object(PyBuiltinFunction("_modelgraph_count") { interp, a in
                self.multiplyAdds += try interp.floatArgument(a.positional.first ?? .int(0), "count"); return .none
            })
            // whether a forward is being traced into a program (modules that only follow shapes then compute)
            m.namespace["_modelgraph_tracing"] = .object(PyBuiltinFunction("_modelgraph_tracing") { _, _ in .bool(self.trace != nil) })
        }
        importer.nativeModules["torch.fft"] = { [unowned self] interp, m in
            for (name, f) in self.functions where name.hasPrefix("fft.") {
                let short = String(name.dropFirst("fft.".count))
                m.namespace[short] = .object(PyBuiltinFunction("torch.fft.\(short)", f))
            }
        }
        importer.providedSources["torch"] = #"""
class no_grad:
    def __init__(self, *args, **kwargs):
        pass
    def __enter__(self):
        return None
    def __exit__(self, *args):
        return False
    def __call__(self, function):
        return function
enable_grad = no_grad
inference_mode = no_grad
set_grad_enabled = no_grad
class autocast(no_grad):
    pass
from torch import nn, cuda, backends, jit, onnx, autograd, utils, distributed, random, amp, fft
from torch.nn import functional
import torch.fx
def compile(model=None, *args, **kwargs):
    return model if model is not None else (lambda m: m)
def _deform_conv2d(input, weight, offset, mask, bias, stride, padding, dilation, weight_groups, offset_groups):
    # torchvision's (modulated) deformable convolution: each kernel tap samples the input bilinearly
    # at its place plus that tap's offset (dy, dx), zero outside the map, times its mask; the taps'
    # samples, as im2col columns [C, K], meet the weights in one 1x1 convolution. grid_sample with
    # zeros padding and align_corners=False is torchvision's bilinear rule at pixel coordinates.
    b, c, h, w = input.shape
    o, per_group, kh, kw = weight.shape
    ho, wo = offset.shape[2], offset.shape[3]
    k = kh * kw
    ys = (arange(ho, dtype=input.dtype) * stride[0] - padding[0]).view(1, 1, ho, 1)
    xs = (arange(wo, dtype=input.dtype) * stride[1] - padding[1]).view(1, 1, 1, wo)
    steps = offset.view(b, offset_groups, k, 2, ho, wo)
    x = input.reshape(b * offset_groups, c // offset_groups, h, w)
    masks = None if mask is None else mask.reshape(b, offset_groups, k, ho, wo)
    columns = []
    for i in range(kh):
        for j in range(kw):
            tap = i * kw + j
            py = ys + i * dilation[0] + steps[:, :, tap, 0]
            px = xs + j * dilation[1] + steps[:, :, tap, 1]
            grid = stack(((2 * px + 1) / w - 1, (2 * py + 1) / h - 1), dim=-1).reshape(b * offset_groups, ho, wo, 2)
            sampled = functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
            if masks is not None:
                sampled = sampled * masks[:, :, tap].reshape(b * offset_groups, 1, ho, wo)
            columns.append(sampled.reshape(b, c, ho, wo))
    columns = stack(columns, dim=2).reshape(b, c * k, ho, wo)
    return functional.conv2d(columns, weight.reshape(o, per_group * k, 1, 1), bias, 1, 0, 1, weight_groups)
class _TorchvisionOps:
    def deform_conv2d(self, input, weight, offset, mask, bias, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, n_weight_grps, n_offset_grps, use_mask):
        return _deform_conv2d(input, weight, offset, mask if use_mask else None, bias, (stride_h, stride_w), (pad_h, pad_w),
                              (dil_h, dil_w), n_weight_grps, n_offset_grps)
class _Ops:
    torchvision = _TorchvisionOps()
    def load_library(self, path):
        raise OSError("torch.ops.load_library: fork mode loads no compiled extensions")
ops = _Ops()
class Generator:
    def __init__(self, *args, **kwargs):
        pass
    def manual_seed(self, seed):
        return self
"""#
        importer.nativeModules["torch.nn.functional"] = { [unowned self] interp, m in
            for (name, f) in self.functions where name.hasPrefix("nn.functional.") {
                let short = String(name.dropFirst("nn.functional.".count))
                m.namespace[short] = .object(PyBuiltinFunction("torch.nn.functional.\(short)", f))
            }
            for name in ["sigmoid", "tanh", "relu", "softmax", "log_softmax"] where m.namespace[name] == nil {
                if let f = self.functions[name] { m.namespace[name] = .object(PyBuiltinFunction(name, f)) }
            }
        }
        importer.nativeModules["torch.nn.init"] = { [unowned self] interp, m in
            for name in ["uniform_", "normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_", "xavier_uniform_", "xavier_normal_",
                         "kaiming_uniform_", "kaiming_normal_", "trunc_normal_", "orthogonal_", "sparse_",
                         "uniform", "normal", "constant", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"] {
                m.namespace[name] = .object(PyBuiltinFunction("torch.nn.init.\(name)") { interp, a in
                    guard let first = a.positional.first ?? a.keyword("tensor") else { throw interp.typeError("\(name)() missing tensor") }
                    guard case .object(let t as TorchTensor) = first else { return first }
                    if name.hasPrefix("constant") || name.hasPrefix("ones") || name.hasPrefix("zeros") {
                        let value: Double = name.hasPrefix("ones") ? 1 : name.hasPrefix("zeros") ? 0
                            : try interp.floatArgument(a.positional.count > 1 ? a.positional[1] : (a.keyword("val") ?? .float(0)), "val")
                        t.values = t.count <= self.concreteLimit ? [Double](repeating: value, count: t.count) : nil
                    } else {
                        t.values = nil
                    }
                    return first
                })
            }
        }
        importer.providedSources["torch.nn.init"] = #"""
import math
def calculate_gain(nonlinearity, param=None):
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "sigmoid"):
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        negative_slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")
def _calculate_fan_in_and_fan_out(tensor):
    dimensions = tensor.dim()
    if dimensions < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    num_input_fmaps = tensor.size(1)
    num_output_fmaps = tensor.size(0)
    receptive_field_size = 1
    if tensor.dim() > 2:
        for s in tensor.shape[2:]:
            receptive_field_size *= s
    return num_input_fmaps * receptive_field_size, num_output_fmaps * receptive_field_size
def _calculate_correct_fan(tensor, mode):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out
"""#
        // thop's profile, counted by ModelGraph's rules, so a fork's own get_flops runs unchanged
        importer.nativeModules["thop"] = { [unowned self] interp, m in
            m.namespace["profile"] = .object(PyBuiltinFunction("thop.profile") { interp, a in
                guard let model = a.positional.first else { throw interp.typeError("profile() missing model") }
                let inputs = try interp.materialize(a.positional.count > 1 ? a.positional[1] : (a.keyword("inputs") ?? .tuple([])))
                let counter = ThopCounter(torch: self)
                let previous = self.counter
                self.counter = counter
                defer { self.counter = previous }
                _ = try interp.callMethod(model, "eval", Arguments())
                _ = try interp.call(model, Arguments(inputs))
                var parameters = 0
                try interp.forEach(try interp.callMethod(model, "parameters", Arguments())) { p in
                    if case .object(let t as TorchTensor) = p { parameters += t.count }
                    return true
                }
                return .tuple([.float(counter.total), .float(Double(parameters))])
            })
            m.namespace["clever_format"] = .object(PyBuiltinFunction("thop.clever_format") { interp, a in
                let values = try interp.materialize(a.positional.first ?? .list([]))
                return .tuple(try values.map { .str(String(format: "%.3fG", try interp.floatArgument($0, "value") / 1e9)) })
            })
        }
        importer.providedSources["torch.nn"] = TorchNNSource.module
        for (name, source) in TorchNNSource.aliases { importer.providedSources[name] = source }
        importer.providedSources["torch.nn.parameter"] = "from torch import Parameter\nclass UninitializedParameter(Parameter):\n    pass\nclass Buffer:\n    pass\n"
        for (name, source) in ThirdPartySources.modules { importer.providedSources[name] = source }
        importer.nativeModules["einops"] = { [unowned self] interp, m in
            for name in ["rearrange", "repeat", "reduce"] {
                m.namespace[name] = .object(PyBuiltinFunction("einops.\(name)") { interp, a in
                    try self.einops(name, a, interp)
                })
            }
            m.namespace["einsum"] = .object(PyBuiltinFunction("einops.einsum") { interp, a in
                guard case .str(let pattern)? = a.positional.last else { throw interp.typeError("einops.einsum expects the pattern last") }
                let tensors = try a.positional.dropLast().map { try self.tensor(from: $0, interp) }
                let equation = pattern.split(separator: "-").first.map { String($0) } ?? ""
                _ = equation
                let sides = pattern.components(separatedBy: "->")
                let letters = Set((sides[0] + (sides.count > 1 ? sides[1] : "")).split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init))
                var map: [String: Character] = [:]
                for (i, word) in letters.sorted().enumerated() { map[word] = Character(UnicodeScalar(97 + i)!) }
                func convert(_ side: String) -> String {
                    side.components(separatedBy: ",").map { part in String(part.split(separator: " ").compactMap { map[String($0)] }) }.joined(separator: ",")
                }
                return .object(try self.einsum(convert(sides[0]) + "->" + convert(sides.count > 1 ? sides[1] : ""), tensors, interp))
            })
        }
        importer.providedSources["einops.layers.torch"] = #"""
import einops
import torch.nn as nn
class Rearrange(nn.Module):
    def __init__(self, pattern, **axes_lengths):
        super().__init__()
        self.pattern = pattern
        self.axes_lengths = axes_lengths
    def forward(self, x):
        return einops.rearrange(x, self.pattern, **self.axes_lengths)
class Reduce(nn.Module):
    def __init__(self, pattern, reduction, **axes_lengths):
        super().__init__()
        self.pattern = pattern
        self.reduction = reduction
        self.axes_lengths = axes_lengths
    def forward(self, x):
        return einops.reduce(x, self.pattern, self.reduction, **self.axes_lengths)
"""#
        importer.providedSources["einops.layers"] = "from einops.layers import torch\n"
    }

    func moduleEntered(_ a: Arguments, _ interp: Interpreter) throws {
        counter?.entered(a, interp)
    }

    func moduleLeft(_ a: Arguments, _ interp: Interpreter) throws {
        try counter?.left(a, interp)
    }

    // MARK: einops

    struct EinopsGroup { var axes: [String] }

    func parseEinopsSide(_ text: String, _ interp: Interpreter) throws -> [EinopsGroup] {
        var groups: [EinopsGroup] = []
        var current: [String]? = nil
        var token = ""
        func flush() {
            guard !token.isEmpty else { return }
            if current != nil { current!.append(token) } else { groups.append(EinopsGroup(axes: [token])) }
            token = ""
        }
        for c in text {
            switch c {
            case "(": flush(); current = []
            case ")": flush(); groups.append(EinopsGroup(axes: current ?? [])); current = nil
            case " ": flush()
            default: token.append(c)
            }
        }
        flush()
        return groups
    }

    func einops(_ kind: String, _ a: Arguments, _ interp: Interpreter) throws -> PyValue {
        var input = a.positional.first ?? .none
        if case .object(let o) = input, o is PyList || o is PyTuple {
            input = try call("stack", [input], [], interp)
        }
        let t = try tensor(from: input, interp)
        guard a.positional.count > 1, case .str(let pattern) = a.positional[1] else { throw interp.typeError("einops.\(kind)() expects a pattern string") }
        let sides = pattern.components(separatedBy: "->")
        guard sides.count == 2 else { throw interp.valueError("einops pattern must contain '->': \(pattern)") }
        var left = try parseEinopsSide(sides[0], interp)
        var right = try parseEinopsSide(sides[1], interp)
        var sizes: [String: Int] = [:]
        for (k, v) in a.keywords { sizes[k] = try interp.intArgument(v, k) }
        // an ellipsis stands for the input dimensions no group names
        if let e = left.firstIndex(where: { $0.axes == ["..."] }) {
            let extra = t.shape.count - (left.count - 1)
            let names = (0..<max(extra, 0)).map { "…\($0)" }
            left.replaceSubrange(e...e, with: names.map { EinopsGroup(axes: [$0]) })
            if let r = right.firstIndex(where: { $0.axes == ["..."] }) { right.replaceSubrange(r...r, with: names.map { EinopsGroup(axes: [$0]) }) }
            else if let r = right.firstIndex(where: { $0.axes.contains("...") }) { right[r].axes.replaceSubrange(right[r].axes.firstIndex(of: "...")!...right[r].axes.firstIndex(of: "...")!, with: names) }
        }
        guard left.count == t.shape.count else {
            throw interp.error(interp.types.runtimeError, "einops: pattern '\(pattern)' names \(left.count) dimensions, the tensor has \(t.shape.count) (shape \(t.shape))")
        }
        for (group, size) in zip(left, t.shape) {
            let unknown = group.axes.filter { sizes[$0] == nil && Int($0) == nil }
            let known = group.axes.compactMap { sizes[$0] ?? Int($0) }.product
            if unknown.count == 1 {
                guard known > 0, size % known == 0 else { throw interp.error(interp.types.runtimeError, "einops: shape \(size) is not divisible by \(known) in '\(pattern)'") }
                sizes[unknown[0]] = size / known
            } else if unknown.count > 1 {
                throw interp.error(interp.types.runtimeError, "einops: could not infer sizes for \(unknown) in '\(pattern)'")
            } else if known != size && !(group.axes.isEmpty && size == 1) {
                throw interp.error(interp.types.runtimeError, "einops: shape mismatch, \(size) != \(known) in '\(pattern)'")
            }
        }
        var shape: [Int] = []
        for group in right {
            var product = 1
            for axis in group.axes {
                if let n = Int(axis) { product *= n; continue }
                guard let s = sizes[axis] else { throw interp.error(interp.types.runtimeError, "einops: unknown axis '\(axis)' on the right side of '\(pattern)' (give its size as a keyword)") }
                product *= s
            }
            shape.append(product)
        }
        // a traced forward: the same as torch ops (view, permute, expand, reductions), which record themselves
        if let trace, trace.reads(t) {
            return try einopsAsOps(kind, t, left: left, right: right, sizes: sizes, output: shape, a, interp)
        }
        if kind == "rearrange" {
            // a rearrange that only regroups keeps the values' order when no axis moves
            let leftOrder = left.flatMap(\.axes).filter { Int($0) == nil }
            let rightOrder = right.flatMap(\.axes).filter { Int($0) == nil }
            return .object(make(shape, t.dtype, values: leftOrder == rightOrder ? t.values : nil))
        }
        return .object(make(shape, t.dtype))
    }
}

extension TorchRuntime {
    /// einops' rearrange, repeat and reduce as torch ops: the input viewed as its elementary axes,
    /// reduced (reduce) over the axes the right side drops, permuted to the right side's order,
    /// new axes (repeat) inserted and expanded, then viewed as the right side's groups.
    func einopsAsOps(_ kind: String, _ t: TorchTensor, left: [EinopsGroup], right: [EinopsGroup], sizes: [String: Int], output: [Int],
                     _ a: Arguments, _ interp: Interpreter) throws -> PyValue {
        func size(_ axis: String) -> Int { Int(axis) ?? sizes[axis] ?? 1 }
        func ints(_ values: [Int]) -> PyValue { .tuple(values.map { .int($0) }) }
        let leftAxes = left.flatMap(\.axes).filter { Int($0) == nil }
        let rightAxes = right.flatMap(\.axes).filter { Int($0) == nil }
        var value = try call("reshape", [.object(t), ints(leftAxes.map(size))], [], interp)
        var current = leftAxes
        if kind == "reduce" {
            guard a.positional.count > 2, case .str(let reduction) = a.positional[2] else { throw interp.typeError("einops.reduce() expects a reduction") }
            let dropped = current.indices.filter { !rightAxes.contains(current[$0]) }
            let name = ["mean": "mean", "sum": "sum", "max": "amax", "min": "amin", "prod": "prod"][reduction] ?? reduction
            if !dropped.isEmpty { value = try call(name, [value], [("dim", ints(dropped))], interp) }
            current = current.filter { rightAxes.contains($0) }
        }
        let kept = rightAxes.filter { current.contains($0) }
        let order = kept.map { current.firstIndex(of: $0)! }
        if order != Array(0..<order.count) { value = try call("permute", [value, ints(order)], [], interp) }
        if kind == "repeat", kept.count != rightAxes.count {
            // new axes as size 1, then expanded to their sizes
            let lifted = rightAxes.map { kept.contains($0) ? size($0) : 1 }
            value = try call("reshape", [value, ints(lifted)], [], interp)
            value = try call("expand", [value, ints(rightAxes.map(size))], [], interp)
        }
        return try call("reshape", [value, ints(output)], [], interp)
    }
}

extension BuiltinTypes {
    /// Makes calling `cls(…)` run `body` (for classes implemented in Swift outside this module).
    public func setConstructor(_ cls: PyClass, _ body: @escaping NativeFunction) {
        registerConstructor(cls, body)
    }
}
