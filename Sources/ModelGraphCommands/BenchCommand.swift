import ArgumentParser
import ForkMode
import Foundation
import ModelGraph
import ModelLoading
import Tensor

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time forward passes: build and load once, then min/median/max ms over --runs, and peak RSS.",
        discussion: """
            Weights come from --weights or a seeded initialisation; the input is a seeded uniform image of \
            --imgsz and --batch. Only forward passes are timed. --profile adds a table of milliseconds and \
            GFLOP/s per layer (medians over the runs). --json prints one object: median_ms, min_ms, max_ms, runs, \
            peak_rss_mb, loaded_rss_mb (resident after loading), forward_peak_rss_mb (the high-water mark during the \
            forward passes), scratch_mb (the kernels' shared buffers, part of the loaded plan), \
            estimated_activations_mb (the memory estimate of the feature maps: the planned program's memory pass).
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var execution: ExecutionOptions

    @Option(help: "Timed forward passes.")
    var runs: Int = 10

    @Option(help: "Untimed forward passes first.")
    var warmup: Int = 2

    @OptionGroup var jsonOutput: JSONOutput

    @Flag(help: "Print milliseconds and GFLOP/s per layer.")
    var profile = false

    @Flag(name: .customLong("profile-ops"), help: "Print milliseconds per kind of program operation (the planned program's steps: a convolution with its kernel and fused activation, a matrix product, …), the most costly first.")
    var profileOperations = false

    @Option(help: ArgumentHelp("With --profile: also draw the per-layer milliseconds as bars beside GFLOP/s, as an SVG file.", valueName: "file"))
    var svg: String?

    func validate() throws {
        guard (1...100_000).contains(runs) else { throw ValidationError("--runs must be from 1 to 100000, found \(runs)") }
        guard (0...100_000).contains(warmup) else { throw ValidationError("--warmup must be from 0 to 100000, found \(warmup)") }
        if profileOperations && (profile || jsonOutput.json) { throw ValidationError("--profile-ops prints its own table: give it without --profile or --json") }
        if svg != nil && !profile { throw ValidationError("--svg draws the per-layer profile: give --profile too") }
    }

    func run() throws {
        execution.configureThreads()
        if let root = try model.forkRoot() { return try benchFork(root: root) }
        let runnable = try model.loadRunnableModel()
        let graph = runnable.graph
        let plan = try execution.plan(for: runnable, seed: 0)
        if profileOperations { return try profileSteps(plan) }
        // the forward passes' own peak: the high-water mark restarts at the memory held after loading
        let loaded = residentMegabytes(field: "VmRSS:")
        let restarted = (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil
        // scripts/heap-peak's preloaded allocation counter, when present, restarts its peak here too
        if let mark = dlsym(nil, "mg_mark") { unsafeBitCast(mark, to: (@convention(c) () -> Void).self)() }
        // and, when it has one, takes a reading after each row (its per-row peaks)
        let rowDone = dlsym(nil, "mg_row").map { unsafeBitCast($0, to: (@convention(c) (Int) -> Void).self) }
        // and the memory pass's figures for the same rows, to print beside them
        if let estimate = dlsym(nil, "mg_estimate").map({ unsafeBitCast($0, to: (@convention(c) (Int, Double, Double) -> Void).self) }),
           let planned = plan.planned {
            for row in planned.memoryByRow {
                if let position = graph.layers.lastIndex(where: { $0.index <= row.layer }) { estimate(position, row.live, row.peak) }
            }
        }
        let input = randomImage(shape: graph.inputShape, seed: 0)
        // an open-vocabulary model's class embeddings: random ones time the same work
        let text = graph.textShape.map { randomImage(shape: $0, seed: 1) }
        var times = [Double]()
        var layerTimes = [[Double]](repeating: [], count: graph.layers.count)
        for run in 0..<(warmup + runs) {
            var last = DispatchTime.now()
            let start = last
            do {
                _ = try plan.forward(input, text: text) { _, position in
                    rowDone?(position)
                    let now = DispatchTime.now()
                    if run >= warmup { layerTimes[position].append(milliseconds(last, now)) }
                    last = now
                }
            } catch {
                for diagnostic in error.diagnostics { printError(diagnostic.description) }
                throw ExitCode(1)
            }
            if run >= warmup { times.append(milliseconds(start, DispatchTime.now())) }
        }
        times.sort()
        let median = times[times.count / 2]
        let peak = peakResidentMegabytes()
        let forwardPeak = restarted ? residentMegabytes(field: "VmHWM:") : nil
        if jsonOutput.json {
            print(String(format: #"{"median_ms": %.3f, "min_ms": %.3f, "max_ms": %.3f, "runs": %d, "peak_rss_mb": %.1f, "loaded_rss_mb": %.1f, "forward_peak_rss_mb": %@, "scratch_mb": %.1f, "estimated_activations_mb": %@}"#,
                         median, times[0], times[times.count - 1], runs, peak, loaded ?? 0, forwardPeak.map { String(format: "%.1f", $0) } ?? "null",
                         Double(plan.scratchBytes) / 1e6, (plan.planned?.peakActivationBytes ?? graph.peakActivationBytes).map { String(format: "%.1f", $0 / 1e6) } ?? "null"))
            return
        }
        if profile {
            var bars: [(label: String, milliseconds: Double, rate: Double)] = []
            defer {
                if let svg {
                    do {
                        try Data(profileChart(bars, title: "\(model.config) \(describeShape(graph.inputShape)), \(Threads.count) thread\(Threads.count == 1 ? "" : "s"), median of \(runs) runs: \(String(format: "%.1f", median)) ms").utf8)
                            .write(to: URL(fileURLWithPath: svg), options: .atomic)
                        print("wrote \(svg)")
                    } catch {
                        printError("\(svg): error: cannot write the chart (\(describeFileError(error)))")
                    }
                }
            }
            print(pad("", 4) + pad("module", 16) + pad("ms", 10, right: true) + pad("GFLOP/s", 10, right: true) + "  output")
            for (position, layer) in graph.layers.enumerated() {
                let sorted = layerTimes[position].sorted()
                let ms = sorted[sorted.count / 2]
                let rate = (layer.multiplyAdds ?? 0) * 2 / 1e9 / (ms / 1e3)
                bars.append(("\(layer.index) \(layer.moduleName)", ms, rate))
                print(pad(String(layer.index), 4) + pad(layer.moduleName, 16) + pad(String(format: "%.2f", ms), 10, right: true)
                      + pad(rate > 0 ? String(format: "%.1f", rate) : "-", 10, right: true) + "  " + describeShape(layer.outputShapes?.first ?? []))
            }
        }
        printSummary(shape: graph.inputShape, sortedTimes: times, gflops: graph.gflops ?? 0, peak: peak)
    }

    /// The closing line: runs, median/min/max milliseconds, GFLOP/s at the median, peak RSS.
    func printSummary(shape: [Int], sortedTimes times: [Double], gflops: Double, peak: Double) {
        let median = times[times.count / 2]
        print(String(format: "%@ %@, %d thread%@, %d runs: median %.1f ms, min %.1f, max %.1f (%.0f GFLOP/s at the median), peak RSS %.0f MB",
                     model.config, describeShape(shape), Threads.count, Threads.count == 1 ? "" : "s", runs,
                     median, times[0], times[times.count - 1], gflops / (median / 1e3), peak))
    }
}

extension BenchCommand {
    /// Fork mode: the fork's forward, traced into a program, on the planner's kernels (the
    /// reference kernels with --unfused); whole forward passes are timed.
    func benchFork(root: URL) throws {
        if profile {
            printError("error: --profile times a built-in model's rows; in fork mode, --profile-ops times the traced program's steps")
            throw ExitCode(2)
        }
        let loaded = try reporting { () throws(ModelLoadError) in
            try Model.loadForkRunnable(model.request, root: root, weights: execution.weights, seed: 0)
        }
        for note in loaded.notes { printError(note) }
        let shape = loaded.inputShape
        let planned = execution.unfused ? nil : PlannedProgram(loaded.program)
        if profileOperations {
            guard let planned else {
                printError("error: --profile-ops times the planned program's steps; --unfused runs the reference kernels")
                throw ExitCode(2)
            }
            return try profileSteps(planned, inputShape: shape)
        }
        let input = randomImage(shape: shape, seed: 0)
        var times = [Double]()
        for run in 0..<(warmup + runs) {
            let start = DispatchTime.now()
            _ = planned.map { $0.run(input).outputs } ?? loaded.program.run(input)
            if run >= warmup { times.append(milliseconds(start, DispatchTime.now())) }
        }
        times.sort()
        let median = times[times.count / 2]
        let peak = peakResidentMegabytes()
        if jsonOutput.json {
            print(String(format: #"{"median_ms": %.3f, "min_ms": %.3f, "max_ms": %.3f, "runs": %d, "peak_rss_mb": %.1f, "fork": true}"#,
                         median, times[0], times[times.count - 1], runs, peak))
            return
        }
        print(loaded.summary.forkLine)
        printSummary(shape: shape, sortedTimes: times, gflops: loaded.program.multiplyAdds * 2 / 1e9, peak: peak)
    }

    /// --profile-ops: each kind of step's milliseconds per forward pass (median over the runs).
    func profileSteps(_ plan: InferencePlan) throws {
        guard let planned = plan.planned else {
            printError("\(model.config): error: --profile-ops times the planned program's steps, and this model has none (--unfused runs the reference kernels, or its forward is not yet written as program operations)")
            throw ExitCode(1)
        }
        try profileSteps(planned, inputShape: plan.graph.inputShape)
    }

    /// --profile-ops over a planned program (a built-in model's, or a fork model's traced one).
    func profileSteps(_ planned: PlannedProgram, inputShape: [Int]) throws {
        let input = randomImage(shape: inputShape, seed: 0)
        let labels = planned.program.instructions.indices.map { planned.stepDescription($0) }
        var perRun: [[String: Double]] = []
        var perStep: [[Double]] = Array(repeating: [], count: labels.count)
        var counts: [String: Int] = [:]
        for label in labels.compactMap({ $0 }) { counts[label, default: 0] += 1 }
        for run in 0..<(warmup + runs) {
            var totals: [String: Double] = [:]
            var last = DispatchTime.now()
            _ = planned.run(input, instructionDone: { position in
                let now = DispatchTime.now()
                if let label = labels[position] {
                    totals[label, default: 0] += milliseconds(last, now)
                    if run >= warmup { perStep[position].append(milliseconds(last, now)) }
                }
                last = now
            })
            if run >= warmup { perRun.append(totals) }
        }
        let medians = counts.keys.map { label -> (String, Double) in
            let times = perRun.map { $0[label] ?? 0 }.sorted()
            return (label, times[times.count / 2])
        }.sorted { $0.1 > $1.1 }
        let total = medians.reduce(0) { $0 + $1.1 }
        print(pad("ms", 9, right: true) + pad("share", 8, right: true) + pad("count", 7, right: true) + "  step")
        for (label, ms) in medians {
            print(pad(String(format: "%.2f", ms), 9, right: true) + pad(String(format: "%.1f%%", 100 * ms / max(total, 1e-9)), 8, right: true)
                  + pad(String(counts[label]!), 7, right: true) + "  " + label)
        }
        print(String(format: "%@ %@, %d thread%@, %d runs: %.1f ms in %d steps (sum of medians)", model.config, describeShape(inputShape),
                     Threads.count, Threads.count == 1 ? "" : "s", runs, total, counts.values.reduce(0, +)))
        // the costliest single steps, with the module each came from
        let steps = perStep.indices.filter { !perStep[$0].isEmpty }.map { position -> (Int, Double) in
            let times = perStep[position].sorted()
            return (position, times[times.count / 2])
        }.sorted { $0.1 > $1.1 }.prefix(12)
        print("\ncostliest steps:")
        print(pad("ms", 9, right: true) + "  " + pad("step", 62) + "module")
        for (position, ms) in steps {
            let instruction = planned.program.instructions[position]
            let origin = instruction.origin
            let output = instruction.outputs.first.map { " → " + describeShape($0.shape) } ?? ""
            print(pad(String(format: "%.2f", ms), 9, right: true) + "  " + pad(labels[position]! + output, 62)
                  + (origin.path ?? "") + (origin.layerIndex.map { " (layer \($0) \(origin.module ?? ""))" } ?? ""))
        }
    }
}

private func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    text.count >= width ? text : right ? String(repeating: " ", count: width - text.count) + text : text + String(repeating: " ", count: width - text.count)
}

/// The process's peak resident set so far, in MB (getrusage's ru_maxrss is in KB on Linux).
func peakResidentMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// The per-layer profile as an SVG bar chart: a row per layer, its milliseconds as a bar (the
/// longest spans the chart), the figure beside it, and its GFLOP/s.
func profileChart(_ bars: [(label: String, milliseconds: Double, rate: Double)], title: String) -> String {
    let (rowHeight, labelWidth, barWidth, top) = (16.0, 170.0, 420.0, 40.0)
    let width = labelWidth + barWidth + 170, height = top + rowHeight * Double(bars.count) + 20
    let longest = max(bars.map(\.milliseconds).max() ?? 1, 1e-9)
    func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
    var svg = [String(format: #"<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="Helvetica, Arial, sans-serif" font-size="11">"#, width, height),
               #"<rect width="100%" height="100%" fill="white"/>"#,
               "<text x=\"8\" y=\"18\" font-size=\"13\" font-weight=\"bold\">\(escaped(title))</text>",
               String(format: #"<text x="%.0f" y="34" fill="dimgray">ms</text><text x="%.0f" y="34" fill="dimgray" text-anchor="end">GFLOP/s</text>"#,
                      labelWidth, labelWidth + barWidth + 160)]
    for (row, bar) in bars.enumerated() {
        let y = top + rowHeight * Double(row)
        let length = bar.milliseconds / longest * barWidth
        svg.append(String(format: #"<text x="%.0f" y="%.1f" text-anchor="end">%@</text>"#, labelWidth - 6, y + 11.5, escaped(bar.label)))
        svg.append(String(format: #"<rect x="%.0f" y="%.1f" width="%.1f" height="%.1f" fill="steelblue"/>"#, labelWidth, y + 2, max(length, 0.5), rowHeight - 4))
        svg.append(String(format: #"<text x="%.1f" y="%.1f">%.2f</text>"#, labelWidth + length + 4, y + 11.5, bar.milliseconds))
        svg.append(String(format: #"<text x="%.0f" y="%.1f" text-anchor="end" fill="dimgray">%@</text>"#, labelWidth + barWidth + 160, y + 11.5,
                          bar.rate > 0 ? String(format: "%.1f", bar.rate) : "-"))
    }
    svg.append("</svg>")
    return svg.joined(separator: "\n") + "\n"
}

/// A `/proc/self/status` field in MB (VmRSS: resident now, VmHWM: its high-water mark), nil off Linux.
func residentMegabytes(field: String) -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
          let kilobytes = line.split(separator: " ").compactMap({ Double($0) }).first else { return nil }
    return kilobytes / 1024
}
