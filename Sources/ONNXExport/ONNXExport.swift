import Foundation
import ModelGraph
import SwiftProtobuf
import Tensor

/// A traced program written as an ONNX model: standard operators of the default domain only,
/// weights as initializers named by their state_dict keys, the input named `images` and the
/// outputs `output0`, `output1`, … as Ultralytics' own export names them.
public struct ONNXExport {
    public let program: Program
    public var opset: Int
    /// Leaves the batch axis of the input and outputs symbolic (`batch`).
    public var dynamicBatch: Bool

    /// Composites are written as their bodies (standard operators only).
    public init(program: Program, opset: Int = 17, dynamicBatch: Bool = false) {
        self.program = program.inlined()
        self.opset = opset
        self.dynamicBatch = dynamicBatch
    }

    /// The lowest and highest opsets the export writes (Split's sizes and Softmax's single axis
    /// are opset-13 forms; ONNX Runtime reads up to 21 in the reference environment).
    public static let supportedOpsets = 13...21

    /// A serialized ModelProto and its node count (for reports beside Ultralytics' own export).
    public struct File {
        public let bytes: Data
        public let nodeCount: Int
    }

    /// The model, built and serialized once.
    public func file(producerVersion: String) throws -> File {
        var model = Onnx_ModelProto()
        model.irVersion = opset <= 18 ? 8 : opset <= 20 ? 9 : 10
        model.producerName = "modelgraph"
        model.producerVersion = producerVersion
        var domain = Onnx_OperatorSetIdProto()
        domain.domain = ""
        domain.version = Int64(opset)
        model.opsetImport = [domain]
        model.graph = try graph()
        return File(bytes: try model.serializedData(), nodeCount: model.graph.node.count)
    }

    func graph() throws -> Onnx_GraphProto {
        var builder = GraphBuilder(opset: opset, shapes: program.shapes)
        var graph = Onnx_GraphProto()
        graph.name = "modelgraph"
        for instruction in program.instructions {
            try builder.add(instruction)
        }
        graph.node = builder.nodes
        graph.initializer = builder.initializers
        guard let input = program.instructions.first(where: { if case .input = $0.op { return true } else { return false } }) else {
            throw ONNXExportError("the program has no input")
        }
        graph.input = [valueInfo("images", input.outputs[0].shape)]
        if let text = program.instructions.first(where: { if case .textEmbeddings = $0.op { return true } else { return false } }) {
            graph.input.append(valueInfo("txt_feats", text.outputs[0].shape))
        }
        // outputs get Ultralytics' names through Identity nodes (a value may be read inside too)
        for (position, output) in program.outputs.enumerated() {
            let name = "output\(position)"
            graph.node.append(node("Identity", [builder.name(output.id)], [name], name: "output\(position)_identity"))
            graph.output.append(valueInfo(name, output.shape))
        }
        return graph
    }

    func valueInfo(_ name: String, _ shape: [Int]) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = 1  // FLOAT
        var tensorShape = Onnx_TensorShapeProto()
        tensorShape.dim = shape.enumerated().map { axis, size in
            var dimension = Onnx_TensorShapeProto.Dimension()
            if axis == 0 && dynamicBatch { dimension.dimParam = "batch" } else { dimension.dimValue = Int64(size) }
            return dimension
        }
        tensorType.shape = tensorShape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        info.type = type
        return info
    }
}

public struct ONNXExportError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

func node(_ type: String, _ inputs: [String], _ outputs: [String], name: String, _ attributes: [Onnx_AttributeProto] = []) -> Onnx_NodeProto {
    var node = Onnx_NodeProto()
    node.opType = type
    node.input = inputs
    node.output = outputs
    node.name = name
    node.attribute = attributes
    return node
}

func attribute(_ name: String, ints: [Int]) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .ints
    attribute.ints = ints.map(Int64.init)
    return attribute
}

func attribute(_ name: String, int: Int) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .int
    attribute.i = Int64(int)
    return attribute
}

func attribute(_ name: String, float: Float) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .float
    attribute.f = float
    return attribute
}

func attribute(_ name: String, string: String) -> Onnx_AttributeProto {
    var attribute = Onnx_AttributeProto()
    attribute.name = name
    attribute.type = .string
    attribute.s = Data(string.utf8)
    return attribute
}

/// Nodes and initializers made from the program's instructions, in order.
struct GraphBuilder {
    let opset: Int
    var nodes: [Onnx_NodeProto] = []
    var initializers: [Onnx_TensorProto] = []
    /// Each program value's ONNX name.
    private var names: [Int: String] = [:]
    /// Values that are int64 in the file: top-k's indices and what reshapes, slices or divides
    /// them (every other integer the program holds is float32, as a fork's index arithmetic is).
    private var int64Values: Set<Int> = []
    private var usedInitializerNames: Set<String> = []

    /// Every program value's shape, by id.
    private let shapes: [Int: [Int]]

    init(opset: Int, shapes: [Int: [Int]]) {
        self.opset = opset
        self.shapes = shapes
    }

    func name(_ id: Int) -> String { names[id] ?? "v\(id)" }

    mutating func initializer(_ tensor: Tensor, preferred: String?) -> String {
        var name = preferred ?? "constant"
        if usedInitializerNames.contains(name) { name += "_\(initializers.count)" }
        usedInitializerNames.insert(name)
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dims = tensor.shape.map(Int64.init)
        proto.dataType = 1  // FLOAT
        proto.rawData = tensor.storage.withUnsafeBufferPointer { Data(buffer: $0) }  // little-endian, as ONNX's raw_data
        initializers.append(proto)
        return name
    }

    mutating func integers(_ values: [Int], name: String) -> String {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dims = [Int64(values.count)]
        proto.dataType = 7  // INT64
        proto.int64Data = values.map(Int64.init)
        initializers.append(proto)
        return name
    }

    /// A rank-0 float initializer (Clip's bounds must be scalars).
    mutating func scalar(_ value: Float, name: String) -> String {
        var proto = Onnx_TensorProto()
        proto.name = name
        proto.dataType = 1
        proto.floatData = [value]
        initializers.append(proto)
        return name
    }

    mutating func floats(_ values: [Float], name: String) -> String {
        initializer(Tensor(shape: [values.count], storage: values), preferred: name)
    }

    mutating func add(_ instruction: ProgramInstruction) throws {
        let outputs = instruction.outputs.map { "v\($0.id)" }
        for (value, name) in zip(instruction.outputs, outputs) { names[value.id] = name }
        let inputs = instruction.inputs.map(name)
        let label = "\(instruction.origin.path ?? "v\(instruction.outputs.first?.id ?? 0)")/\(instruction.op.name)_\(nodes.count)"
        let out = outputs.first ?? ""
        switch instruction.op {
        case .topK: int64Values.insert(instruction.outputs[1].id)
        case .reshape, .transpose, .slice, .expand, .integerDivide, .remainder, .split:
            if let source = instruction.inputs.first, int64Values.contains(source) { int64Values.formUnion(instruction.outputs.map(\.id)) }
        default: break
        }
        switch instruction.op {
        case .input:
            names[instruction.outputs[0].id] = "images"
        case .textEmbeddings:
            names[instruction.outputs[0].id] = "txt_feats"
        case .squareRoot: nodes.append(node("Sqrt", inputs, outputs, name: label))
        case .constant(let tensor, let name):
            names[instruction.outputs[0].id] = initializer(tensor, preferred: name)
        case .convolution(let stride, let padding, let dilation, let groups):
            let kernel = Array(shapeOf(instruction.inputs[1]).suffix(2))
            nodes.append(node("Conv", inputs, outputs, name: label, [
                attribute("kernel_shape", ints: kernel), attribute("strides", ints: [stride, stride]),
                attribute("pads", ints: [padding, padding, padding, padding]), attribute("dilations", ints: [dilation, dilation]),
                attribute("group", int: groups),
            ]))
        case .transposedConvolution(let stride, let padding, let outputPadding, let dilation, let groups):
            let kernel = Array(shapeOf(instruction.inputs[1]).suffix(2))
            nodes.append(node("ConvTranspose", inputs, outputs, name: label, [
                attribute("kernel_shape", ints: kernel), attribute("strides", ints: [stride, stride]),
                attribute("pads", ints: [padding, padding, padding, padding]), attribute("output_padding", ints: [outputPadding, outputPadding]),
                attribute("dilations", ints: [dilation, dilation]), attribute("group", int: groups),
            ]))
        case .batchNorm(let epsilon):
            nodes.append(node("BatchNormalization", inputs, outputs, name: label, [attribute("epsilon", float: epsilon)]))
        case .activation(let activation):
            switch activation {
            case .identity: nodes.append(node("Identity", inputs, outputs, name: label))
            case .relu: nodes.append(node("Relu", inputs, outputs, name: label))
            case .sigmoid: nodes.append(node("Sigmoid", inputs, outputs, name: label))
            case .tanh: nodes.append(node("Tanh", inputs, outputs, name: label))
            case .silu:
                // x · sigmoid(x), as PyTorch exports nn.SiLU
                nodes.append(node("Sigmoid", inputs, [out + "_sigmoid"], name: label + "_sigmoid"))
                nodes.append(node("Mul", [inputs[0], out + "_sigmoid"], outputs, name: label))
            case .relu6:
                let low = scalar(0, name: out + "_min"), high = scalar(6, name: out + "_max")
                nodes.append(node("Clip", [inputs[0], low, high], outputs, name: label))
            case .gelu:
                // 0.5 · x · (1 + erf(x / √2)): nn.GELU()'s erf form in standard opset-17 operators
                let root = floats([Float(2).squareRoot()], name: out + "_sqrt2"), one = floats([1], name: out + "_one"),
                    half = floats([0.5], name: out + "_half")
                nodes.append(node("Div", [inputs[0], root], [out + "_scaled"], name: label + "_div"))
                nodes.append(node("Erf", [out + "_scaled"], [out + "_erf"], name: label + "_erf"))
                nodes.append(node("Add", [out + "_erf", one], [out + "_sum"], name: label + "_add"))
                nodes.append(node("Mul", [inputs[0], out + "_sum"], [out + "_product"], name: label + "_mul"))
                nodes.append(node("Mul", [out + "_product", half], outputs, name: label))
            }
        case .layerNorm:
            guard opset >= 17 else { throw ONNXExportError("\(label): LayerNormalization needs opset 17 or later (--opset \(opset))") }
            nodes.append(node("LayerNormalization", inputs, outputs, name: label, [attribute("axis", int: -1), attribute("epsilon", float: 1e-5)]))
        case .cosine: nodes.append(node("Cos", inputs, outputs, name: label))
        case .sine: nodes.append(node("Sin", inputs, outputs, name: label))
        case .add: nodes.append(node("Add", inputs, outputs, name: label))
        case .atan2:
            // ONNX has no Atan2: atan(y / x), ±π where x < 0 (the sign of y's), 0 where both are 0
            let (y, x) = (inputs[0], inputs[1])
            let zero = scalar(0, name: out + "_zero"), pi = scalar(.pi, name: out + "_pi"), minusPi = scalar(-.pi, name: out + "_minus_pi")
            nodes.append(node("Div", [y, x], [out + "_ratio"], name: label + "_ratio"))
            nodes.append(node("Atan", [out + "_ratio"], [out + "_atan"], name: label + "_atan"))
            nodes.append(node("Less", [x, zero], [out + "_x_negative"], name: label + "_x_negative"))
            nodes.append(node("Less", [y, zero], [out + "_y_negative"], name: label + "_y_negative"))
            nodes.append(node("Where", [out + "_y_negative", minusPi, pi], [out + "_half_turn"], name: label + "_half_turn"))
            nodes.append(node("Where", [out + "_x_negative", out + "_half_turn", zero], [out + "_turn"], name: label + "_turn"))
            nodes.append(node("Add", [out + "_atan", out + "_turn"], [out + "_angle"], name: label + "_angle"))
            nodes.append(node("Equal", [x, zero], [out + "_x_zero"], name: label + "_x_zero"))
            nodes.append(node("Equal", [y, zero], [out + "_y_zero"], name: label + "_y_zero"))
            nodes.append(node("And", [out + "_x_zero", out + "_y_zero"], [out + "_origin"], name: label + "_origin"))
            nodes.append(node("Where", [out + "_origin", zero, out + "_angle"], outputs, name: label))
        case .subtract: nodes.append(node("Sub", inputs, outputs, name: label))
        case .multiply: nodes.append(node("Mul", inputs, outputs, name: label))
        case .divide: nodes.append(node("Div", inputs, outputs, name: label))
        case .concatenate(let axis): nodes.append(node("Concat", inputs, outputs, name: label, [attribute("axis", int: axis)]))
        case .split(let axis, let sizes):
            let split = integers(sizes, name: out + "_sizes")
            nodes.append(node("Split", [inputs[0], split], outputs, name: label, [attribute("axis", int: axis)]))
        case .slice(let axis, let start, let end, let step):
            // a backwards slice that runs through position 0 ends before it: ONNX's end is then −∞
            let starts = integers([start], name: out + "_starts"), ends = integers([step < 0 && end < 0 ? Int(Int64.min) : end], name: out + "_ends"),
                axes = integers([axis], name: out + "_axes")
            let steps = step == 1 ? [] : [integers([step], name: out + "_steps")]
            nodes.append(node("Slice", [inputs[0], starts, ends, axes] + steps, outputs, name: label))
        case .expand(let shape):
            nodes.append(node("Expand", [inputs[0], integers(shape, name: out + "_shape")], outputs, name: label))
        case .pad(let left, let right, let top, let bottom, let reflect):
            let rank = shapeOf(instruction.inputs[0]).count
            let begins = Array(repeating: 0, count: rank - 2) + [top, left], ends = Array(repeating: 0, count: rank - 2) + [bottom, right]
            let pads = integers(begins + ends, name: out + "_pads")
            nodes.append(node("Pad", [inputs[0], pads], outputs, name: label, [attribute("mode", string: reflect ? "reflect" : "constant")]))
        case .maxPool(let kernelSize, let stride, let padding):
            nodes.append(node("MaxPool", inputs, outputs, name: label, [
                attribute("kernel_shape", ints: [kernelSize, kernelSize]), attribute("strides", ints: [stride, stride]),
                attribute("pads", ints: [padding, padding, padding, padding]),
            ]))
        case .averagePool(let kernelSize, let stride):
            nodes.append(node("AveragePool", inputs, outputs, name: label, [
                attribute("kernel_shape", ints: [kernelSize, kernelSize]), attribute("strides", ints: [stride, stride]),
            ]))
        case .globalAveragePool:
            nodes.append(node("GlobalAveragePool", inputs, outputs, name: label))
        case .linear:
            if shapeOf(instruction.inputs[0]).count == 2 {
                nodes.append(node("Gemm", inputs, outputs, name: label, [attribute("transB", int: 1)]))
            } else {
                nodes.append(node("Transpose", [inputs[1]], [out + "_weightT"], name: label + "_transpose", [attribute("perm", ints: [1, 0])]))
                nodes.append(node("MatMul", [inputs[0], out + "_weightT"], inputs.count > 2 ? [out + "_product"] : outputs, name: label + "_matmul"))
                if inputs.count > 2 { nodes.append(node("Add", [out + "_product", inputs[2]], outputs, name: label)) }
            }
        case .upsampleNearest(let factor):
            // PyTorch's nearest with a whole scale factor: source ⌊dst / factor⌋
            let scales = floats([1, 1, Float(factor), Float(factor)], name: out + "_scales")
            nodes.append(node("Resize", [inputs[0], "", scales], outputs, name: label, [
                attribute("mode", string: "nearest"), attribute("coordinate_transformation_mode", string: "asymmetric"),
                attribute("nearest_mode", string: "floor"),
            ]))
        case .upsampleBilinear(_, let alignCorners):
            // PyTorch's align_corners=False with a whole factor is ONNX's pytorch_half_pixel
            let shape = instruction.outputs[0].shape
            nodes.append(node("Resize", [inputs[0], "", "", integers(shape, name: out + "_sizes")], outputs, name: label, [
                attribute("mode", string: "linear"),
                attribute("coordinate_transformation_mode", string: alignCorners ? "align_corners" : "pytorch_half_pixel"),
            ]))
        case .resize(let mode, let alignCorners, let stepHeight, let stepWidth):
            // to the output's size, or by PyTorch's scale factor where one was given (the source
            // coordinate is dst / scale either way)
            let shape = instruction.outputs[0].shape
            let sizing = stepHeight.map { step in ["", floats([1, 1, 1 / step, 1 / (stepWidth ?? step)], name: out + "_scales")] }
                ?? ["", "", integers(shape, name: out + "_sizes")]
            var attributes: [Onnx_AttributeProto]
            switch mode {
            case .nearest:
                attributes = [attribute("mode", string: "nearest"), attribute("coordinate_transformation_mode", string: "asymmetric"),
                              attribute("nearest_mode", string: "floor")]
            case .nearestExact:
                // ⌊(dst + ½)·step⌋ = round-half-up((dst + ½)·step − ½): half_pixel rounding up
                attributes = [attribute("mode", string: "nearest"), attribute("coordinate_transformation_mode", string: "half_pixel"),
                              attribute("nearest_mode", string: "round_prefer_ceil")]
            case .bilinear:
                attributes = [attribute("mode", string: "linear"),
                              attribute("coordinate_transformation_mode", string: alignCorners ? "align_corners" : "pytorch_half_pixel")]
            }
            nodes.append(node("Resize", [inputs[0]] + sizing, outputs, name: label, attributes))
        case .exp: nodes.append(node("Exp", inputs, outputs, name: label))
        case .reduceMax(let axis):
            if opset >= 18 {
                nodes.append(node("ReduceMax", [inputs[0], integers([axis], name: out + "_axes")], outputs, name: label, [attribute("keepdims", int: 0)]))
            } else {
                nodes.append(node("ReduceMax", inputs, outputs, name: label, [attribute("axes", ints: [axis]), attribute("keepdims", int: 0)]))
            }
        case .reduceSum(let axis):
            nodes.append(node("ReduceSum", [inputs[0], integers([axis], name: out + "_axes")], outputs, name: label, [attribute("keepdims", int: 0)]))
        case .topK(let k, let axis):
            nodes.append(node("TopK", [inputs[0], integers([k], name: out + "_k")], outputs, name: label, [
                attribute("axis", int: axis), attribute("largest", int: 1), attribute("sorted", int: 1),
            ]))
        case .gatherRows:
            // x[b, indices[b, q], …] as GatherElements over indices expanded along the row's other axes
            let shape = shapeOf(instruction.inputs[0]), indexShape = shapeOf(instruction.inputs[1])
            let extra = Array(2..<shape.count)
            // indices from top-k are int64; a fork's index list or arithmetic is float32
            var rows = inputs[1]
            if !int64Values.contains(instruction.inputs[1]) {
                nodes.append(node("Cast", [rows], [out + "_rows"], name: label + "_cast", [attribute("to", int: 7)]))
                rows = out + "_rows"
            }
            nodes.append(node("Unsqueeze", [rows, integers(extra, name: out + "_unsqueeze_axes")], [out + "_index"], name: label + "_unsqueeze"))
            nodes.append(node("Expand", [out + "_index", integers(indexShape + shape.dropFirst(2), name: out + "_expand_shape")], [out + "_indices"],
                              name: label + "_expand"))
            nodes.append(node("GatherElements", [inputs[0], out + "_indices"], outputs, name: label, [attribute("axis", int: 1)]))
        case .gridSample(let border):
            guard opset >= 16 else { throw ONNXExportError("\(label): GridSample needs opset 16 or later (--opset \(opset))") }
            nodes.append(node("GridSample", inputs, outputs, name: label, [
                attribute("mode", string: opset >= 20 ? "linear" : "bilinear"), attribute("padding_mode", string: border ? "border" : "zeros"),
                attribute("align_corners", int: 0),
            ]))
        case .clip(let minimum, let maximum):
            let low = minimum.map { scalar($0, name: out + "_min") } ?? "", high = maximum.map { scalar($0, name: out + "_max") } ?? ""
            nodes.append(node("Clip", [inputs[0], low, high], outputs, name: label))
        case .log: nodes.append(node("Log", inputs, outputs, name: label))
        case .integerDivide(let divisor):
            nodes.append(node("Div", [inputs[0], integers([divisor], name: out + "_divisor")], outputs, name: label))
        case .remainder(let divisor):
            nodes.append(node("Mod", [inputs[0], integers([divisor], name: out + "_divisor")], outputs, name: label))
        case .gather(let axis):
            // the program holds integer indices as float32 or int64 values: Gather reads int64
            nodes.append(node("Cast", [inputs[1]], [out + "_indices"], name: label + "_cast", [attribute("to", int: 7)]))
            nodes.append(node("Gather", [inputs[0], out + "_indices"], outputs, name: label, [attribute("axis", int: axis)]))
        case .gatherElements(let axis):
            nodes.append(node("Cast", [inputs[1]], [out + "_indices"], name: label + "_cast", [attribute("to", int: 7)]))
            nodes.append(node("GatherElements", [inputs[0], out + "_indices"], outputs, name: label, [attribute("axis", int: axis)]))
        case .floor: nodes.append(node("Floor", inputs, outputs, name: label))
        case .compare(let comparison):
            // ONNX compares into bool; the program holds 1 and 0 as float32
            let onnxName: String
            switch comparison {
            case .less: onnxName = "Less"
            case .lessOrEqual: onnxName = "LessOrEqual"
            case .greater: onnxName = "Greater"
            case .greaterOrEqual: onnxName = "GreaterOrEqual"
            case .equal, .notEqual: onnxName = "Equal"
            }
            var result = out + "_bool"
            nodes.append(node(onnxName, inputs, [result], name: label + "_compare"))
            if comparison == .notEqual {
                nodes.append(node("Not", [result], [out + "_not"], name: label + "_not"))
                result = out + "_not"
            }
            nodes.append(node("Cast", [result], outputs, name: label, [attribute("to", int: 1)]))
        case .select:
            nodes.append(node("Cast", [inputs[0]], [out + "_condition"], name: label + "_cast", [attribute("to", int: 9)]))
            nodes.append(node("Where", [out + "_condition", inputs[1], inputs[2]], outputs, name: label))
        case .truncate:
            // float → int64 rounds toward zero; the program keeps the integers as float32
            nodes.append(node("Cast", inputs, [out + "_integers"], name: label + "_cast", [attribute("to", int: 7)]))
            nodes.append(node("Cast", [out + "_integers"], outputs, name: label, [attribute("to", int: 1)]))
        case .toFloat:
            nodes.append(node("Cast", inputs, outputs, name: label, [attribute("to", int: 1)]))
        case .reshape(let shape):
            let target = integers(shape, name: out + "_shape")
            nodes.append(node("Reshape", [inputs[0], target], outputs, name: label))
        case .transpose(let permutation):
            nodes.append(node("Transpose", inputs, outputs, name: label, [attribute("perm", ints: permutation)]))
        case .softmax(let axis):
            nodes.append(node("Softmax", inputs, outputs, name: label, [attribute("axis", int: axis)]))
        case .matmul:
            nodes.append(node("MatMul", inputs, outputs, name: label))
        case .composite(let composite):
            // ONNXExport.init inlines every composite
            preconditionFailure("composite \(composite.name) reached the ONNX writer uninlined")
        }
    }

    private func shapeOf(_ id: Int) -> [Int] { shapes[id] ?? [] }
}
