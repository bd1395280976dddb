import ModelSpec
import YAMLFrontEnd

/// The positional arguments a module takes in YAML, in the PyTorch constructor's order.
/// This is the only place YAML spellings (`c2`, `k`, `s`) appear; code reads arguments by label.
public struct Signature: Sendable {
    public struct Parameter: Sendable {
        /// The constructor's own name (`k`), shown in messages next to the label.
        public var yamlName: String
        /// What the module code calls it (`kernelSize`).
        public var label: String
        public var kind: Kind
        /// nil: required.
        public var defaultValue: ArgumentValue?

        public init(_ yamlName: String, _ label: String, _ kind: Kind, default defaultValue: ArgumentValue? = nil) {
            self.yamlName = yamlName
            self.label = label
            self.kind = kind
            self.defaultValue = defaultValue
        }
    }

    public enum Kind: Sendable {
        case int(min: Int)
        case optionalInt(min: Int)
        case number
        case optionalNumber
        case bool
        case choice([String])
        /// An int or a list of ints (nn.Upsample's size).
        case optionalIntOrList
        /// A list of exactly `count` ints, each ≥ `min` (Pose's `kpt_shape`).
        case intList(count: Int, min: Int)
        /// A non-empty list of ints, each ≥ `min`, of any length (SPP's pooling kernels).
        case ints(min: Int)
        /// Accepted and shown but not used by shape or parameter rules (e.g. an activation given as text).
        case anything

        var expectation: String {
            switch self {
            case .int(let min): return min > 0 ? "an int ≥ \(min)" : "an int"
            case .optionalInt(let min): return "an int ≥ \(min) or None"
            case .number: return "a number"
            case .optionalNumber: return "a number or None"
            case .bool: return "True or False"
            case .choice(let options): return "one of " + options.map { "'\($0)'" }.joined(separator: ", ")
            case .optionalIntOrList: return "an int, a list of ints, or None"
            case .intList(let count, let min): return "a list of \(count) ints ≥ \(min)"
            case .ints(let min): return "a list of ints ≥ \(min)"
            case .anything: return "any value"
            }
        }

        func accepts(_ value: ArgumentValue) -> Bool {
            switch (self, value) {
            case (.int(let min), .int(let v)): return v >= min
            case (.optionalInt, .null): return true
            case (.optionalInt(let min), .int(let v)): return v >= min
            case (.number, .int), (.number, .float): return true
            case (.optionalNumber, .int), (.optionalNumber, .float), (.optionalNumber, .null): return true
            case (.bool, .bool): return true
            case (.choice(let options), .string(let s)): return options.contains(s)
            case (.optionalIntOrList, .null), (.optionalIntOrList, .int): return true
            case (.optionalIntOrList, .list(let items)):
                return !items.isEmpty && items.allSatisfy { if case .int(let v) = $0 { return v >= 1 } else { return false } }
            case (.intList(let count, let min), .list(let items)):
                return items.count == count && items.allSatisfy { if case .int(let v) = $0 { return v >= min } else { return false } }
            case (.ints(let min), .list(let items)):
                return !items.isEmpty && items.allSatisfy { if case .int(let v) = $0 { return v >= min } else { return false } }
            case (.anything, _): return true
            default: return false
            }
        }
    }

    public var parameters: [Parameter]

    public init(_ parameters: [Parameter]) {
        self.parameters = parameters
    }

    public static let empty = Signature([])

    /// Matches written arguments to parameters, checking count, types and size, filling defaults.
    /// Positions in messages count the user's arguments from 1 (channels filled in from `from`
    /// are not parameters of the signature).
    func bind(_ arguments: [Argument]) throws(LayerError) -> BoundArguments {
        if arguments.count > parameters.count {
            let names = parameters.map { "\($0.yamlName)" }.joined(separator: ", ")
            throw LayerError(parameters.isEmpty
                             ? "takes no arguments, found \(arguments.count)"
                             : "takes at most \(parameters.count) arguments (\(names)), found \(arguments.count)",
                             blame: .argument(parameters.count))
        }
        var values: [String: ArgumentValue] = [:]
        for (position, parameter) in parameters.enumerated() {
            if position < arguments.count {
                let value = arguments[position].value
                if let magnitude = Signature.magnitude(value), magnitude > Double(Limits.largestNumber) {
                    throw LayerError("argument \(position + 1) (\(parameter.yamlName), \(parameter.label)) is \(value), beyond the ±\(Limits.largestNumber) ModelGraph accepts",
                                     blame: .argument(position))
                }
                guard parameter.kind.accepts(value) else {
                    throw LayerError("argument \(position + 1) (\(parameter.yamlName), \(parameter.label)) expects \(parameter.kind.expectation), found \(describe(value))",
                                     blame: .argument(position))
                }
                values[parameter.label] = value
            } else if let defaultValue = parameter.defaultValue {
                values[parameter.label] = defaultValue
            } else {
                throw LayerError("argument \(position + 1) (\(parameter.yamlName), \(parameter.label)) is required: expected \(parameter.kind.expectation)",
                                 blame: .arguments)
            }
        }
        return BoundArguments(values: values, written: arguments, signature: self)
    }

    /// The largest absolute number in a value (lists included), or nil when it holds none;
    /// infinite for NaN and infinities.
    static func magnitude(_ value: ArgumentValue) -> Double? {
        switch value {
        case .int(let v): return Double(v.magnitude)
        case .float(let v): return v.isFinite ? abs(v) : .infinity
        case .list(let items): return items.compactMap(magnitude).max()
        default: return nil
        }
    }

    private func describe(_ value: ArgumentValue) -> String {
        switch value {
        case .string, .list: return "\(value.typeName) \(value)"
        default: return "\(value)"
        }
    }
}

/// Arguments after binding: read by label, typed. Reading a label the signature lacks is a
/// programmer error.
public struct BoundArguments: Sendable {
    var values: [String: ArgumentValue]
    /// What the user wrote, for the summary's arguments column.
    public var written: [Argument]
    let signature: Signature

    public func value(_ label: String) -> ArgumentValue {
        guard let value = values[label] else {
            preconditionFailure("signature has no parameter labelled \(label)")
        }
        return value
    }

    public func int(_ label: String) -> Int {
        if case .int(let v) = value(label) { return v }
        preconditionFailure("\(label) is not an int")
    }

    public func optionalInt(_ label: String) -> Int? {
        switch value(label) {
        case .int(let v): return v
        case .null: return nil
        default: preconditionFailure("\(label) is not an optional int")
        }
    }

    public func double(_ label: String) -> Double {
        switch value(label) {
        case .int(let v): return Double(v)
        case .float(let v): return v
        default: preconditionFailure("\(label) is not a number")
        }
    }

    public func optionalDouble(_ label: String) -> Double? {
        if case .null = value(label) { return nil }
        return double(label)
    }

    public func bool(_ label: String) -> Bool {
        if case .bool(let v) = value(label) { return v }
        preconditionFailure("\(label) is not a bool")
    }

    public func ints(_ label: String) -> [Int] {
        guard case .list(let items) = value(label) else { preconditionFailure("\(label) is not a list") }
        return items.map { item in
            guard case .int(let v) = item else { preconditionFailure("\(label) holds a non-int") }
            return v
        }
    }

    public func string(_ label: String) -> String {
        if case .string(let v) = value(label) { return v }
        preconditionFailure("\(label) is not a string")
    }

    /// The position of a labelled parameter, so errors can point at that argument.
    public func position(_ label: String) -> Int {
        signature.parameters.firstIndex { $0.label == label } ?? 0
    }

    /// The written arguments as values, the first one replaced (Ultralytics prints scaled channels).
    public var writtenValues: [ArgumentValue] { written.map(\.value) }
}

/// A problem a module found with its own arguments or inputs; the graph builder adds the
/// file, line:column, layer index and module name.
public struct LayerError: Error, Sendable {
    public enum Blame: Sendable {
        /// The row as a whole.
        case row
        /// The row's `from` (entry `k` when known).
        case from(Int?)
        /// Argument at this position (past the end: the args list).
        case argument(Int)
        /// The args list as a whole.
        case arguments
        /// The repeats field.
        case repeats
        /// The module name.
        case module
    }

    public var message: String
    public var blame: Blame

    public init(_ message: String, blame: Blame = .row) {
        self.message = message
        self.blame = blame
    }
}
