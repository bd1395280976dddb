/// A named tensor a module owns: a parameter (trained) or a buffer (saved, not trained).
public struct TensorDeclaration: Sendable, Hashable {
    public var name: String
    public var shape: [Int]

    public init(_ name: String, _ shape: [Int]) {
        self.name = name
        self.shape = shape
    }

    /// The number of scalars; saturates at Int.max instead of overflowing.
    public var elementCount: Int {
        shape.reduce(1) { product, size in
            let (result, overflow) = product.multipliedReportingOverflow(by: size)
            return overflow ? Int.max : result
        }
    }
}

/// A module's tree as PyTorch builds it: names and types of submodules, parameters and buffers.
/// State-dict keys and the parameter and module counts are read off this tree, so they match
/// PyTorch's `named_parameters()`, `state_dict()` and `modules()`.
public struct ModuleNode: Sendable, Hashable {
    public var name: String
    /// The PyTorch class (`Conv2d`, `BatchNorm2d`, `SiLU`), for module counts and messages.
    public var typeName: String
    public var parameters: [TensorDeclaration]
    public var buffers: [TensorDeclaration]
    public var children: [ModuleNode]
    /// Set for a module that is one shared instance in PyTorch (Ultralytics' `Conv.default_act`
    /// is a class attribute): `modules()` yields it once however often it appears.
    public var sharedInstance: String?
    /// Names of parameters that take no gradient.
    public var frozenParameters: [String] = []

    public init(_ name: String, _ typeName: String, parameters: [TensorDeclaration] = [],
                buffers: [TensorDeclaration] = [], children: [ModuleNode] = [], sharedInstance: String? = nil) {
        self.name = name
        self.typeName = typeName
        self.parameters = parameters
        self.buffers = buffers
        self.children = children
        self.sharedInstance = sharedInstance
    }

    /// The number of trainable scalars, as `sum(p.numel() for p in m.parameters())`.
    public var parameterCount: Int {
        let own = parameters.reduce(0) { saturatingSum($0, $1.elementCount) }
        return children.reduce(own) { saturatingSum($0, $1.parameterCount) }
    }

    /// The number of scalars that take gradients (Ultralytics' "gradients").
    public var trainableParameterCount: Int {
        let own = parameters.filter { !frozenParameters.contains($0.name) }.reduce(0) { saturatingSum($0, $1.elementCount) }
        return children.reduce(own) { saturatingSum($0, $1.trainableParameterCount) }
    }

    /// The number of modules in the tree, this one included, as `len(list(m.modules()))`.
    public var moduleCount: Int {
        var seen = Set<String>()
        return countModules(seen: &seen)
    }

    /// Counts modules, each shared instance once across all calls that share `seen`.
    public func countModules(seen: inout Set<String>) -> Int {
        if let sharedInstance {
            guard seen.insert(sharedInstance).inserted else { return 0 }
        }
        return 1 + children.reduce(0) { $0 + $1.countModules(seen: &seen) }
    }

    /// Counts leaf modules (no submodules), each shared instance once across calls sharing
    /// `seen`: Ultralytics 8.4's "layers" (`named_modules()` entries without children).
    public func countLeaves(seen: inout Set<String>) -> Int {
        if let sharedInstance {
            guard seen.insert(sharedInstance).inserted else { return 0 }
        }
        return children.isEmpty ? 1 : children.reduce(0) { $0 + $1.countLeaves(seen: &seen) }
    }

    /// Every parameter and float buffer with its dotted key under `prefix`, in PyTorch's order.
    public func stateDictionary(prefix: String) -> [TensorDeclaration] {
        let base = prefix.isEmpty ? "" : prefix + "."
        var out = parameters.map { TensorDeclaration(base + $0.name, $0.shape) }
        out += buffers.map { TensorDeclaration(base + $0.name, $0.shape) }
        for child in children {
            out += child.stateDictionary(prefix: base + child.name)
        }
        return out
    }

    /// Only parameter keys (no buffers), in `named_parameters()` order.
    public func parameterKeys(prefix: String) -> [TensorDeclaration] {
        let base = prefix.isEmpty ? "" : prefix + "."
        var out = parameters.map { TensorDeclaration(base + $0.name, $0.shape) }
        for child in children {
            out += child.parameterKeys(prefix: base + child.name)
        }
        return out
    }
}

extension ModuleNode {
    /// A module without tensors (activation, dropout, identity, pixel shuffle…).
    public static func leaf(_ name: String, _ typeName: String, sharedInstance: String? = nil) -> ModuleNode {
        ModuleNode(name, typeName, sharedInstance: sharedInstance)
    }
}

/// a + b, or Int.max when that overflows (counts of absurd configs must not trap).
func saturatingSum(_ a: Int, _ b: Int) -> Int {
    let (result, overflow) = a.addingReportingOverflow(b)
    return overflow ? Int.max : result
}

