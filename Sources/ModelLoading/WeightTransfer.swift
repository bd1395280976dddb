import Checkpoint
import Foundation
import ModelGraph
import YAMLFrontEnd

/// One side of a weight transfer: a model's rows as its YAML lists them (to pair rows up) and
/// its state dict's keys and shapes in PyTorch's order (num_batches_tracked included, as
/// Ultralytics counts it).
public struct TransferSide: Sendable {
    public struct Row: Sendable {
        /// The layer index the row's tensors live under (`model.INDEX.…`).
        public var index: Int
        public var module: String
        public var arguments: String
    }
    public var rows: [Row]
    public var state: [(key: String, shape: [Int])]

    public init(rows: [Row], state: [(key: String, shape: [Int])]) {
        self.rows = rows
        self.state = state
    }

    /// The rows of a model YAML's `backbone:` and `head:`, numbered as parse_model numbers them.
    public static func rows(yaml text: String, file: String) throws(ModelLoadError) -> [Row] {
        let document: YAMLNode
        do {
            document = try YAMLParser.parse(text, file: file)
        } catch {
            throw ModelLoadError(error.description)
        }
        guard case .mapping(let pairs) = document.kind else { throw ModelLoadError("\(file): error: the model YAML is not a mapping") }
        var rows: [Row] = []
        for section in ["backbone", "head"] {
            guard let node = pairs.first(where: { $0.key.scalar == section })?.value, case .sequence(let items) = node.kind else { continue }
            for item in items {
                guard case .sequence(let fields) = item.kind, fields.count >= 3 else {
                    throw ModelLoadError("\(file):\(item.location.line):\(item.location.column): error: a \(section) row is not [from, repeats, module, args]")
                }
                rows.append(Row(index: rows.count, module: flowText(fields[2]), arguments: fields.count > 3 ? flowText(fields[3]) : "[]"))
            }
        }
        return rows
    }

    /// A node in flow style without quotes: a checkpoint's YAML, rendered again from its pickle, and
    /// the user's file quote the same string differently, and rows pair on what the strings say.
    static func flowText(_ node: YAMLNode) -> String {
        switch node.kind {
        case .scalar(let text, _): return text
        case .sequence(let items): return "[" + items.map(flowText).joined(separator: ", ") + "]"
        case .mapping(let pairs): return "{" + pairs.map { flowText($0.key) + ": " + flowText($0.value) }.joined(separator: ", ") + "}"
        }
    }

    /// A built graph's state dict: each layer's parameters and buffers, with the
    /// `num_batches_tracked` counter PyTorch keeps after every BatchNorm's running variance.
    public static func state(of graph: ModelGraph) -> [(key: String, shape: [Int])] {
        var state: [(key: String, shape: [Int])] = []
        for layer in graph.layers {
            for declaration in layer.tree.stateDictionary(prefix: layer.keyPrefix) {
                state.append((declaration.name, declaration.shape))
                if declaration.name.hasSuffix(".running_var") {
                    state.append((String(declaration.name.dropLast("running_var".count)) + "num_batches_tracked", []))
                }
            }
        }
        return state
    }
}

/// Whose `BaseModel.load` decides what a pretrained file gives a model.
public enum TransferRule: String, Sendable {
    /// Ultralytics 8.4.190's (ModelGraph's own builder follows it): same key and same shape,
    /// after rebuilding a Detect head's class branches at the file's width when only the class
    /// count differs; plus a first convolution copied in part when only its channels differ.
    case ultralytics = "Ultralytics 8.4.190"
    /// Earlier releases' (the forks'): same key and same shape, nothing else.
    case intersection = "same key and same shape"
}

/// What pretrained weights give an edited model: by Ultralytics' own rule (what it prints as
/// "Transferred N/M items"), and with rows paired up as `diff` pairs them, each tensor carried
/// from its row's counterpart under the index it has there — only when the shapes are equal.
public struct WeightTransfer: Sendable {
    /// A tensor left out, and why: not in the file, or a shape that differs (both shapes).
    public struct Problem: Sendable {
        public var key: String
        /// The file's key it was looked up under (the aligned row's index).
        public var fromKey: String
        /// nil: the file has no such key.
        public var fromShape: [Int]?
        public var toShape: [Int]
    }

    public struct Row: Sendable {
        /// The file's row paired with it (nil: a row only in the variant); for the rule, its own index.
        public var from: Int?
        public var to: Int
        public var module: String
        public var kept: Int
        public var total: Int
        public var problems: [Problem]
        /// The file's module when the variant replaced it (the row keeps what has the same name and shape).
        public var replaced: String?
    }

    public var rule: TransferRule
    /// Ultralytics' "Transferred N/M items".
    public var ruleTransferred: Int
    public var ruleTotal: Int
    public var ruleRows: [Row]
    /// The rule copied part of `model.0.conv.weight` (counted in `ruleTransferred`).
    public var firstConvolutionCopiedInPart: Bool
    /// Detect head branches the rule rebuilds at the file's width (`cv3`), changing the variant's shapes.
    public var rebuiltHeadBranches: [String]

    /// With rows paired: every variant row, in order.
    public var alignedRows: [Row]
    /// The file's rows with no counterpart in the variant: index, module and tensor count.
    public var removedRows: [(index: Int, module: String, tensors: Int)]
    /// File index → variant index, for the paired rows whose index changed.
    public var remapping: [(from: Int, to: Int)]
    /// Each carried tensor: its key in the variant and in the file, in the variant's order.
    public var carried: [(key: String, fromKey: String)]
    public var alignedTotal: Int

    /// Rows the variant starts from scratch: paired with nothing, or keeping none of their tensors.
    public var rowsFromScratch: [Row] { alignedRows.filter { $0.total > 0 && $0.kept == 0 } }

    static let detectHeads: Set<String> = ["Detect", "Segment", "Segment26", "OBB", "OBB26", "Pose", "Pose26", "WorldDetect",
                                           "YOLOEDetect", "YOLOESegment", "YOLOESegment26", "v10Detect"]

    public init(from: TransferSide, to: TransferSide, rule: TransferRule) {
        self.rule = rule
        let fromShapes = Dictionary(from.state.map { ($0.key, $0.shape) }, uniquingKeysWith: { first, _ in first })
        var toState = to.state
        rebuiltHeadBranches = []
        if rule == .ultralytics { Self.rebuildHeadBranches(from: from, to: to, state: &toState, fromShapes: fromShapes, rebuilt: &rebuiltHeadBranches) }

        // Ultralytics' rule: intersect_dicts(file, variant) by key and shape
        var ruleRows: [Row] = []
        var transferred = 0
        var firstConvolution = false
        let grouped = Self.byRow(toState)
        for (index, entries) in grouped {
            let module = to.rows.first { $0.index == index }?.module ?? "?"
            var row = Row(from: index, to: index, module: module, kept: 0, total: entries.count, problems: [])
            for entry in entries {
                if let shape = fromShapes[entry.key], shape == entry.shape {
                    row.kept += 1
                } else if rule == .ultralytics, entry.key == "model.0.conv.weight", let shape = fromShapes[entry.key],
                          shape.count == 4, entry.shape.count == 4, shape[2...] == entry.shape[2...] {
                    // BaseModel.load copies the overlapping filters of a first convolution whose channels differ
                    firstConvolution = true
                    row.problems.append(Problem(key: entry.key, fromKey: entry.key, fromShape: shape, toShape: entry.shape))
                } else {
                    row.problems.append(Problem(key: entry.key, fromKey: entry.key, fromShape: fromShapes[entry.key], toShape: entry.shape))
                }
            }
            transferred += row.kept
            ruleRows.append(row)
        }
        self.ruleRows = ruleRows
        firstConvolutionCopiedInPart = firstConvolution
        ruleTransferred = transferred + (firstConvolution ? 1 : 0)
        ruleTotal = toState.count

        // rows paired as diff pairs them; each tensor looked up under its row's index in the file
        let toGroups = Dictionary(Self.byRow(to.state), uniquingKeysWith: { first, _ in first })
        let fromGroups = Dictionary(Self.byRow(from.state), uniquingKeysWith: { first, _ in first })
        var alignedRows: [Row] = []
        var removed: [(Int, String, Int)] = []
        var remapping: [(Int, Int)] = []
        var carried: [(String, String)] = []
        for step in Self.pairs(RowAlignment.align(from.rows.map { ($0.module, $0.arguments) }, to.rows.map { ($0.module, $0.arguments) })) {
            switch step {
            case .both(let i, let j):
                let (source, target) = (from.rows[i], to.rows[j])
                if source.index != target.index { remapping.append((source.index, target.index)) }
                var row = Row(from: source.index, to: target.index, module: target.module, kept: 0, total: 0, problems: [], replaced: nil)
                if source.module != target.module { row.replaced = source.module }
                for entry in toGroups[target.index] ?? [] {
                    row.total += 1
                    let fromKey = "model.\(source.index)." + entry.key.dropFirst("model.\(target.index).".count)
                    if let shape = fromShapes[fromKey], shape == entry.shape {
                        row.kept += 1
                        carried.append((entry.key, fromKey))
                    } else {
                        row.problems.append(Problem(key: entry.key, fromKey: fromKey, fromShape: fromShapes[fromKey], toShape: entry.shape))
                    }
                }
                alignedRows.append(row)
            case .onlyFirst(let i):
                removed.append((from.rows[i].index, from.rows[i].module, fromGroups[from.rows[i].index]?.count ?? 0))
            case .onlySecond(let j):
                let target = to.rows[j]
                let entries = toGroups[target.index] ?? []
                alignedRows.append(Row(from: nil, to: target.index, module: target.module, kept: 0, total: entries.count,
                                       problems: entries.map { Problem(key: $0.key, fromKey: "", fromShape: nil, toShape: $0.shape) }, replaced: nil))
            }
        }
        self.alignedRows = alignedRows
        removedRows = removed
        self.remapping = remapping
        // the variant's order, which is the order its state dict lists the keys
        let rank = Dictionary(to.state.enumerated().map { ($0.element.key, $0.offset) }, uniquingKeysWith: { first, _ in first })
        self.carried = carried.sorted { rank[$0.0, default: .max] < rank[$1.0, default: .max] }
        alignedTotal = to.state.count
    }

    /// The alignment with each run of removed rows and added rows between two paired rows paired
    /// in order too: a module replaced in place (C3k2 → C2f) keeps the tensors it shares by name
    /// and shape, as Ultralytics' own rule would give them at an unshifted index.
    static func pairs(_ steps: [RowAlignment]) -> [RowAlignment] {
        var out: [RowAlignment] = []
        var (removed, added) = ([Int](), [Int]())
        func flush() {
            for (i, j) in zip(removed, added) { out.append(.both(i, j)) }
            out += removed.dropFirst(added.count).map { .onlyFirst($0) }
            out += added.dropFirst(removed.count).map { .onlySecond($0) }
            (removed, added) = ([], [])
        }
        for step in steps {
            switch step {
            case .onlyFirst(let i): removed.append(i)
            case .onlySecond(let j): added.append(j)
            case .both:
                flush()
                out.append(step)
            }
        }
        flush()
        return out
    }

    /// State entries grouped by the layer index of their `model.INDEX.` prefix, in order
    /// (keys outside `model.` under -1).
    static func byRow(_ state: [(key: String, shape: [Int])]) -> [(Int, [(key: String, shape: [Int])])] {
        var groups: [(Int, [(key: String, shape: [Int])])] = []
        for entry in state {
            let parts = entry.key.split(separator: ".", maxSplits: 2)
            let index = parts.count == 3 && parts[0] == "model" ? Int(parts[1]) ?? -1 : -1
            if let last = groups.indices.last, groups[last].0 == index {
                groups[last].1.append(entry)
            } else {
                groups.append((index, [entry]))
            }
        }
        return groups
    }

    /// Ultralytics 8.4.190's BaseModel.load rebuilds a Detect head's class branches (`cv3`,
    /// `one2one_cv3`) as copies of the file's when both heads take the same input widths and
    /// only the branch width (which follows the class count) differs; the last convolution of
    /// each branch is made anew when the class counts differ. The variant's state then has the
    /// file's shapes there.
    static func rebuildHeadBranches(from: TransferSide, to: TransferSide, state: inout [(key: String, shape: [Int])],
                                    fromShapes: [String: [Int]], rebuilt: inout [String]) {
        guard let target = to.rows.last, let source = from.rows.last,
              detectHeads.contains(target.module), detectHeads.contains(source.module) else { return }
        let (targetPrefix, sourcePrefix) = ("model.\(target.index).", "model.\(source.index).")
        let toShapes = Dictionary(state.map { ($0.key, $0.shape) }, uniquingKeysWith: { first, _ in first })
        // the head's input widths: each level's first box convolution's input channels
        let levels = (0...).prefix { toShapes[targetPrefix + "cv2.\($0).0.conv.weight"] != nil }.count
        guard levels > 0, (0..<levels).allSatisfy({ level in
            toShapes[targetPrefix + "cv2.\(level).0.conv.weight"]?[safe: 1] == fromShapes[sourcePrefix + "cv2.\(level).0.conv.weight"]?[safe: 1]
        }), fromShapes[sourcePrefix + "cv2.\(levels).0.conv.weight"] == nil else { return }
        for branch in ["cv3", "one2one_cv3"] {
            func last(_ shapes: [String: [Int]], _ prefix: String, _ level: Int) -> Int? {
                shapes.keys.compactMap { key -> Int? in
                    guard key.hasPrefix(prefix + "\(branch).\(level).") else { return nil }
                    return Int(key.dropFirst((prefix + "\(branch).\(level).").count).prefix { $0 != "." })
                }.max()
            }
            guard let targetLast = last(toShapes, targetPrefix, 0), let sourceLast = last(fromShapes, sourcePrefix, 0),
                  let targetWidth = toShapes[targetPrefix + "\(branch).0.\(targetLast).weight"]?[safe: 1],
                  let sourceWidth = fromShapes[sourcePrefix + "\(branch).0.\(sourceLast).weight"]?[safe: 1],
                  targetWidth != sourceWidth else { continue }
            let classCount = toShapes[targetPrefix + "\(branch).0.\(targetLast).weight"]?.first ?? 0
            let branchPrefix = (target: targetPrefix + branch + ".", source: sourcePrefix + branch + ".")
            guard let start = state.firstIndex(where: { $0.key.hasPrefix(branchPrefix.target) }) else { continue }
            var copies: [(key: String, shape: [Int])] = []
            for entry in from.state where entry.key.hasPrefix(branchPrefix.source) {
                var shape = entry.shape
                let rest = entry.key.dropFirst(branchPrefix.source.count)
                let parts = rest.split(separator: ".")
                // each level's last convolution: a new nn.Conv2d(width, classes, 1) when the class counts differ
                if parts.count == 3, let level = Int(parts[0]), let position = Int(parts[1]),
                   position == last(fromShapes, sourcePrefix, level), let out = shape.first, out != classCount {
                    shape = rest.hasSuffix(".weight") ? [classCount, shape[safe: 1] ?? 0, 1, 1] : [classCount]
                }
                copies.append((branchPrefix.target + rest, shape))
            }
            state.removeAll { $0.key.hasPrefix(branchPrefix.target) }
            state.insert(contentsOf: copies, at: min(start, state.count))
            rebuilt.append(branch)
        }
    }
}

private extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
