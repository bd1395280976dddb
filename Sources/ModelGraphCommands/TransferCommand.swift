import ArgumentParser
import Foundation
import ModelGraph
import ModelLoading

struct TransferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer",
        abstract: "What pretrained weights an edited YAML keeps: Ultralytics' own count, then with rows paired up and remapped; -o writes them.",
        discussion: """
            First what Ultralytics' BaseModel.load transfers (same key, same shape: the "Transferred N/M items" it \
            prints), row by row with the reason for each tensor it drops. Then the rows of both models paired as `diff` \
            pairs them (module, arguments, position) and each tensor looked up under its row's index in the file, so an \
            inserted row no longer shifts every later row out of reach. A tensor is carried only when its shape is equal: \
            a changed width is reported with both shapes, never cropped. \
            -o init.pt writes the carried tensors under the variant's keys as a checkpoint Ultralytics loads \
            (`YOLO("variant.yaml").load("init.pt")`, `pretrained=init.pt`, or `YOLO("init.pt").train(...)`, which builds \
            the variant from the YAML it carries); -o init.safetensors writes them as a state dict. Files are written atomically.
            A YAML inside a fork is built by the fork's own code, and the fork's load decides the first count.
            Exit status: 0, 1 a file that cannot be read or built, 2 usage error.
            """)

    @Argument(help: "The pretrained model: a .pt checkpoint (its own YAML and weights), or a YAML or official name with --weights.")
    var from: String

    @Argument(help: "The edited model YAML (or an official name).")
    var to: String

    @Option(help: ArgumentHelp("The pretrained weights when FROM is a YAML: a .pt or a safetensors state dict.", valueName: "file"))
    var weights: String?

    @Option(help: "The variant's scale, from its `scales:` (default: from the name, else the first).")
    var scale: String?

    @Option(help: ArgumentHelp("Whose code builds the variant: a fork's folder, or `builtin`. Default: the fork the YAML lies in, if any.", valueName: "DIR|builtin"))
    var source: String?

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp("Write the carried tensors: NAME.pt (a checkpoint Ultralytics loads) or NAME.safetensors.", valueName: "file"))
    var output: String?

    @Flag(help: "List every row (default: only rows that lose tensors, with a count of the rest).")
    var all = false

    @OptionGroup var jsonOutput: JSONOutput

    func validate() throws {
        if let output, !output.hasSuffix(".pt"), !output.hasSuffix(".safetensors") {
            throw ValidationError("-o \(output): write a .pt or a .safetensors file")
        }
    }

    func run() throws {
        let source = try reporting { () throws(ModelLoadError) in try TransferSource.load(path: from, weights: weights) }
        let request = ModelRequest(path: to, scale: scale, source: self.source)
        let target = try reporting { () throws(ModelLoadError) in try TransferTarget.load(request) }
        let transfer = WeightTransfer(from: source.side, to: target.side, rule: target.rule)
        if let output {
            let data = try reporting { () throws(ModelLoadError) in
                output.hasSuffix(".pt") ? try transfer.checkpoint(source: source, target: target) : transfer.safetensors(source: source)
            }
            do {
                try data.write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                printError("\(output): error: cannot write the file (\(error.localizedDescription))")
                throw ExitCode(1)
            }
        }
        if jsonOutput.json {
            print(jsonReport(transfer, source: source, target: target).rendered())
            return
        }
        print("from: \(source.description), \(source.side.state.count) tensors")
        print("to:   \(to), \(target.side.state.count) tensors, built by \(target.builder)")
        print("")
        print("Ultralytics' rule (\(target.rule.rawValue)): what `model.load()` transfers")
        if !transfer.rebuiltHeadBranches.isEmpty {
            print("  the head's \(transfer.rebuiltHeadBranches.joined(separator: ", ")) branches are rebuilt at the file's width first (the class count differs)")
        }
        printRows(transfer.ruleRows, aligned: false)
        print("Transferred \(transfer.ruleTransferred)/\(transfer.ruleTotal) items"
              + (transfer.firstConvolutionCopiedInPart ? " (model.0.conv.weight copied in part: its channels differ)" : ""))
        print("")
        print("Rows paired (module, arguments, position), each tensor looked up under its row's index in the file")
        printRows(transfer.alignedRows, aligned: true)
        for removed in transfer.removedRows {
            print("  \(pad("\(removed.index) → ·", 9)) \(pad(removed.module, 14)) not in the variant (\(removed.tensors) tensors left behind)")
        }
        let carried = transfer.carried.count
        print("Carried \(carried)/\(transfer.alignedTotal) items (\(signed(carried - transfer.ruleTransferred)) over Ultralytics' rule)")
        if !transfer.remapping.isEmpty {
            print("index remapping (file → variant): " + remappingText(transfer.remapping))
        }
        let scratch = transfer.rowsFromScratch
        print(scratch.isEmpty ? "every row starts from pretrained tensors"
              : "from scratch: \(scratch.count) row\(scratch.count == 1 ? "" : "s") (" + scratch.map { "\($0.to) \($0.module)" }.joined(separator: ", ") + ")")
        if let output { print("wrote \(output): \(carried) tensors under the variant's keys") }
    }

    func printRows(_ rows: [WeightTransfer.Row], aligned: Bool) {
        print("  \(pad(aligned ? "file → var" : "row", 9)) \(pad("module", 14)) \(pad("kept", 9)) why not")
        var quiet = 0
        for row in rows {
            guard all || row.kept < row.total || (aligned && row.replaced != nil) else { quiet += 1; continue }
            let place = aligned ? "\(row.from.map(String.init) ?? "·") → \(row.to)" : "\(row.to)"
            var reason = ""
            if aligned && row.from == nil {
                reason = "new row: starts from scratch"
            } else if let replaced = row.replaced, aligned {
                reason = "replaces \(replaced): keeps what has the same name and shape"
            } else if let problem = row.problems.first {
                let others = row.problems.count > 1 ? " (+\(row.problems.count - 1) more)" : ""
                if let shape = problem.fromShape {
                    reason = "\(problem.key): file \(describeShape(shape)), variant \(describeShape(problem.toShape))" + others
                } else {
                    reason = "\(problem.fromKey) not in the file" + others
                }
            }
            print("  \(pad(place, 9)) \(pad(row.module, 14)) \(pad("\(row.kept)/\(row.total)", 9)) \(reason)")
        }
        if quiet > 0 { print("  … \(quiet) row\(quiet == 1 ? "" : "s") keep every tensor") }
    }

    func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }

    func signed(_ value: Int) -> String { value >= 0 ? "+\(value)" : "\(value)" }

    /// `5→6, 6→7, …` with runs shown as `5–21 → 6–22`.
    func remappingText(_ pairs: [(from: Int, to: Int)]) -> String {
        var runs: [(from: Int, to: Int, count: Int)] = []
        for pair in pairs {
            if let last = runs.last, last.from + last.count == pair.from, last.to + last.count == pair.to {
                runs[runs.count - 1].count += 1
            } else {
                runs.append((pair.from, pair.to, 1))
            }
        }
        return runs.map { $0.count == 1 ? "\($0.from) → \($0.to)" : "\($0.from)–\($0.from + $0.count - 1) → \($0.to)–\($0.to + $0.count - 1)" }
            .joined(separator: ", ")
    }

    func jsonReport(_ transfer: WeightTransfer, source: TransferSource, target: TransferTarget) -> JSONValue {
        func rows(_ rows: [WeightTransfer.Row]) -> JSONValue {
            .array(rows.map { row in
                .object([
                    ("from", row.from.map { .int($0) } ?? .null), ("to", .int(row.to)), ("module", .string(row.module)),
                    ("kept", .int(row.kept)), ("total", .int(row.total)), ("replaced", row.replaced.map { .string($0) } ?? .null),
                    ("missing", .array(row.problems.filter { $0.fromShape == nil }.map { .string($0.key) })),
                    ("mismatched", .array(row.problems.compactMap { problem in
                        problem.fromShape.map { shape in
                            .object([("key", .string(problem.key)), ("file", .array(shape.map { .int($0) })),
                                     ("variant", .array(problem.toShape.map { .int($0) }))])
                        }
                    })),
                ])
            })
        }
        return .object([
            ("from", .string(source.description)), ("to", .string(to)), ("builder", .string(target.builder)),
            ("ultralytics_rule", .object([
                ("rule", .string(target.rule.rawValue)),
                ("transferred", .int(transfer.ruleTransferred)), ("total", .int(transfer.ruleTotal)),
                ("first_conv_copied_in_part", .bool(transfer.firstConvolutionCopiedInPart)),
                ("rebuilt_head_branches", .array(transfer.rebuiltHeadBranches.map { .string($0) })),
                ("rows", rows(transfer.ruleRows)),
            ])),
            ("aligned", .object([
                ("transferred", .int(transfer.carried.count)), ("total", .int(transfer.alignedTotal)),
                ("remapping", .array(transfer.remapping.map { .array([.int($0.from), .int($0.to)]) })),
                ("rows", rows(transfer.alignedRows)),
                ("removed", .array(transfer.removedRows.map { .object([("index", .int($0.index)), ("module", .string($0.module)), ("tensors", .int($0.tensors))]) })),
                ("from_scratch", .array(transfer.rowsFromScratch.map { .int($0.to) })),
                ("carried", .array(transfer.carried.map { .array([.string($0.key), .string($0.fromKey)]) })),
            ])),
            ("output", output.map { .string($0) } ?? .null),
        ])
    }
}
