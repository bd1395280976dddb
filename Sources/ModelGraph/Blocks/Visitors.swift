import Tensor

// The walks over block declarations: the PyTorch module tree (keys, shapes, counts), loading,
// initialisation and fusion.

/// Builds the `ModuleNode` view of a block: names, classes, parameters, buffers, children.
struct TreeBuilder: BlockVisitor {
    var node: ModuleNode

    static func tree<B: Block>(of block: inout B, name: String = "") -> ModuleNode {
        var builder = TreeBuilder(node: ModuleNode(name, block.typeName, sharedInstance: block.sharedInstance))
        block.visit(&builder)
        return builder.node
    }

    mutating func parameter(_ name: String, _ parameter: inout Parameter) {
        let declaration = TensorDeclaration(name, parameter.shape)
        if parameter.isBuffer { node.buffers.append(declaration) } else { node.parameters.append(declaration) }
        if !parameter.isTrainable { node.frozenParameters.append(name) }
    }

    mutating func child<B: Block>(_ name: String, _ block: inout B) {
        node.children.append(TreeBuilder.tree(of: &block, name: name))
    }

    mutating func leaf(_ name: String, _ typeName: String, shared: String?) {
        node.children.append(.leaf(name, typeName, sharedInstance: shared))
    }
}

/// Walks every parameter with its dotted key under a prefix.
struct ParameterWalk<Action: ParameterAction>: BlockVisitor {
    var prefix: String
    var action: Action

    mutating func parameter(_ name: String, _ parameter: inout Parameter) {
        action.apply(key: prefix + name, &parameter)
    }

    mutating func child<B: Block>(_ name: String, _ block: inout B) {
        let saved = prefix
        prefix += name + "."
        block.visit(&self)
        prefix = saved
    }

    mutating func leaf(_ name: String, _ typeName: String, shared: String?) {}
}

protocol ParameterAction {
    mutating func apply(key: String, _ parameter: inout Parameter)
}

/// Sets each parameter's value from a checked state dict.
struct LoadAction: ParameterAction {
    let tensors: [String: Tensor]
    mutating func apply(key: String, _ parameter: inout Parameter) {
        parameter.value = tensors[key]
        parameter.key = key
    }
}

/// Collects each parameter's initial value (PyTorch's default schemes, seeded).
struct InitializeAction: ParameterAction {
    var generator: SplitMix64
    var tensors: [String: Tensor] = [:]

    mutating func apply(key: String, _ parameter: inout Parameter) {
        let shape = parameter.shape
        func uniform(_ bound: Float) -> Tensor {
            Tensor(shape: shape, storage: (0..<Tensor.count(of: shape)).map { _ in Float.random(in: -bound...bound, using: &generator) })
        }
        switch parameter.initialization {
        case .uniformFanIn(let fanIn): tensors[key] = uniform(1 / Float(max(fanIn, 1)).squareRoot())
        case .xavier(let fanIn, let fanOut): tensors[key] = uniform((6 / Float(max(fanIn + fanOut, 1))).squareRoot())
        case .ones: tensors[key] = Tensor(shape: shape, repeating: 1)
        case .zeros: tensors[key] = Tensor(shape: shape, repeating: 0)
        case .normal: tensors[key] = Tensor(shape: shape, storage: (0..<Tensor.count(of: shape)).map { _ in generator.nextNormal() })
        case .computed(let make): tensors[key] = make()
        }
    }
}

/// Fuses bottom-up: children first, then the block itself.
struct Fuser: BlockVisitor {
    /// Only what Ultralytics' `fuse()` fuses (for counts), or everything foldable (for inference).
    let ultralyticsOnly: Bool

    mutating func parameter(_ name: String, _ parameter: inout Parameter) {}
    mutating func child<B: Block>(_ name: String, _ block: inout B) {
        block.visit(&self)
        if !ultralyticsOnly || block.fusesLikeUltralytics { block.fuse() }
    }
    mutating func leaf(_ name: String, _ typeName: String, shared: String?) {}
}

extension Block {
    /// The PyTorch module tree of this block.
    public var tree: ModuleNode {
        var copy = self
        return TreeBuilder.tree(of: &copy)
    }

    /// This block fused for inference (children first): every foldable BatchNorm folded, RepConv
    /// branches merged; with `ultralyticsOnly`, exactly what Ultralytics' `fuse()` does.
    public func fused(ultralyticsOnly: Bool = false) -> Self {
        var copy = self
        var fuser = Fuser(ultralyticsOnly: ultralyticsOnly)
        fuser.child("", &copy)
        return copy
    }

    /// Sets every parameter from `tensors`, by key under `prefix` ("model.8.").
    mutating func load(_ tensors: [String: Tensor], prefix: String) {
        var walk = ParameterWalk(prefix: prefix, action: LoadAction(tensors: tensors))
        visit(&walk)
    }
}

/// Collects every BatchNorm's eps by its key prefix (`model.0.bn`).
struct NormEpsilonWalk: BlockVisitor {
    var prefix: String
    var epsilons: [String: Float] = [:]

    mutating func parameter(_ name: String, _ parameter: inout Parameter) {}

    mutating func child<B: Block>(_ name: String, _ block: inout B) {
        if let norm = block as? BatchNorm2d { epsilons[prefix + name] = norm.epsilon }
        let saved = prefix
        prefix += name + "."
        block.visit(&self)
        prefix = saved
    }

    mutating func leaf(_ name: String, _ typeName: String, shared: String?) {}
}

/// Replaces Ultralytics' `Conv.default_act` in every Conv of a block (the model file's
/// `activation:` key), children first.
struct DefaultActivationWalk: BlockVisitor {
    let activation: Activation

    mutating func parameter(_ name: String, _ parameter: inout Parameter) {}
    mutating func child<B: Block>(_ name: String, _ block: inout B) {
        block.visit(&self)
        if var conv = block as? Conv {
            conv.replaceDefaultActivation(with: activation)
            // B is Conv here
            block = conv as! B
        }
    }
    mutating func leaf(_ name: String, _ typeName: String, shared: String?) {}
}

extension Block {
    /// This block with `Conv.default_act` replaced by `activation` (Ultralytics' `activation:` key).
    func replacingDefaultActivation(with activation: Activation) -> Self {
        var copy = self
        var walk = DefaultActivationWalk(activation: activation)
        walk.child("", &copy)
        return copy
    }
}
