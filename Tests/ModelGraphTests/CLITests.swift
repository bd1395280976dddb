import Foundation
import Testing

/// End-to-end: the built `modelgraph` binary, its output and exit codes.
@Suite("modelgraph CLI", .serialized)
struct CLITests {
    @Test("summary of the seed model prints the table and closing line")
    func summary() throws {
        let result = try runCLI(["summary", "configs/rtdetr-starnet-freqfusion.yaml"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines[lines.count - 2].hasPrefix("rtdetr-starnet-freqfusion summary: 492 layers, 18,716,999 parameters, 18,716,999 gradients, "))
        // weights: 18,716,999 parameters and 24,100 buffer elements (BatchNorm statistics, FreqFusion's windows) × 4 bytes
        #expect(lines.last?.hasPrefix("memory: weights 75.0 MB float32 (37.5 MB float16), activations at their peak ") == true)
        #expect(result.stdout.contains("RTDETRDecoder   [1, [256, 256, 256]]"))
        #expect(lines.contains { $0.hasPrefix(" 11             [9, -1]  1     52514  FreqFusion") })
        #expect(lines.contains { $0.hasPrefix("  4 ") && $0.contains("[1, 128, 20, 20]") && $0.contains("stage 4 (stride 32)") })
    }

    @Test("summary --json has exactly the documented keys")
    func json() throws {
        let result = try runCLI(["summary", "configs/rtdetr-starnet-freqfusion.yaml", "--json", "--imgsz", "512,384", "--batch", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["model", "input", "parameters", "gflops", "gflops_ultralytics", "memory", "layers"])
        #expect(object["model"] as? String == "rtdetr-starnet-freqfusion")
        #expect(object["input"] as? [Int] == [2, 3, 512, 384])
        #expect(object["parameters"] as? Int == 18_716_999)
        let layers = try #require(object["layers"] as? [[String: Any]])
        #expect(layers.count == 19)
        #expect(Set(layers[0].keys) == ["index", "from", "repeats", "module", "arguments", "parameters", "outputs"])
        #expect((layers[0]["outputs"] as? [[Int]])?.count == 5)
        #expect(layers[0]["from"] as? [Int] == [-1])
        #expect(layers[7]["from"] as? [Int] == [9, 10])  // FreqFusion [9, -1] at index 11
        #expect(layers[1]["arguments"] as? [Any] != nil)
        #expect((layers[18]["outputs"] as? [[Int]]) == [[2, 300, 6]])
    }

    @Test("check exits 0 on a clean config, 1 on errors, 2 on usage errors")
    func exitCodes() throws {
        let clean = try runCLI(["check", "configs/rtdetr-starnet-carafe.yaml"])
        #expect(clean.status == 0, "\(clean.stderr)")
        #expect(clean.stdout.contains("ok"))
        let odd = try runCLI(["check", "configs/rtdetr-starnet-freqfusion.yaml", "--imgsz", "500"])
        #expect(odd.status == 1)
        #expect(odd.stderr.contains("configs/rtdetr-starnet-freqfusion.yaml:22:6: error: layer 14 (FreqFusion): hr must be exactly 2× lr"))
        #expect(odd.stderr.contains("not a multiple of 32"))
        for usage in [["check"], ["check", "configs/rtdetr-starnet-carafe.yaml", "--imgsz", "0"],
                      ["check", "configs/rtdetr-starnet-carafe.yaml", "--imgsz", "a,b"], ["check", "configs/rtdetr-starnet-carafe.yaml", "--batch", "0"],
                      ["summary", "--nope", "x.yaml"]] {
            let result = try runCLI(usage)
            #expect(result.status == 2, "\(usage): \(result.stderr)")
        }
        let missing = try runCLI(["check", "no-such-file.yaml"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no-such-file.yaml: error: cannot read the model file"))
    }

    /// One `--json` flag across commands: check's object carries each located error as fields;
    /// compare's `--json` is `--format json`, and refuses another `--format`.
    @Test("check --json and compare --json print the documented objects")
    func jsonConvention() throws {
        func object(_ text: String) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        }
        let clean = try runCLI(["check", "configs/rtdetr-starnet-carafe.yaml", "--json"])
        #expect(clean.status == 0, "\(clean.stderr)")
        let ok = try object(clean.stdout)
        #expect(Set(ok.keys) == ["file", "ok", "diagnostics", "rows", "input", "output"])
        #expect(ok["ok"] as? Bool == true && ok["input"] as? [Int] == [1, 3, 640, 640])
        let odd = try runCLI(["check", "configs/rtdetr-starnet-freqfusion.yaml", "--imgsz", "500", "--json"])
        #expect(odd.status == 1 && odd.stderr.isEmpty, "\(odd.stderr)")
        let failed = try object(odd.stdout)
        #expect(failed["ok"] as? Bool == false)
        let first = try #require((failed["diagnostics"] as? [[String: Any]])?.first)
        #expect(first["line"] as? Int == 22 && first["column"] as? Int == 6 && first["layer"] as? Int == 14)
        #expect(first["module"] as? String == "FreqFusion" && (first["message"] as? String)?.hasPrefix("hr must be exactly 2× lr") == true)
        let compared = try runCLI(["compare", "configs/rtdetr-starnet-carafe.yaml", "--json"])
        #expect(compared.status == 0, "\(compared.stderr)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(compared.stdout.utf8)) as? [[String: Any]])
        #expect(rows.first?["model"] as? String == "rtdetr-starnet-carafe")
        #expect(try runCLI(["compare", "configs/rtdetr-starnet-carafe.yaml", "--json", "--format", "csv"]).status == 2)
    }

    @Test("summary refuses a config with errors, naming them")
    func summaryErrors() throws {
        let result = try runCLI(["summary", "configs/rtdetr-starnet-scaled.yaml", "--scale", "q"])
        #expect(result.status == 2)  // a usage error: the option names a scale the file lacks
        #expect(result.stderr.contains("--scale q given, but the file's `scales:` lists n, s, m, l"))
        #expect(result.stdout.isEmpty)
    }

    @Test("the default scale is said on stderr")
    func scaleNote() throws {
        let result = try runCLI(["summary", "configs/rtdetr-starnet-scaled.yaml"])
        #expect(result.status == 0)
        #expect(result.stderr.contains("no --scale given, using 'n'"))
    }

    @Test("compare: a row per config of a folder, a failing one listed with its located error")
    func compare() throws {
        let folder = try runCLI(["compare", "configs/", "--format", "csv"])
        #expect(folder.status == 0, "\(folder.stderr)")
        let lines = folder.stdout.split(separator: "\n")
        #expect(lines.count == 7)
        #expect(lines[0].hasPrefix("model,params,Δparams,fused params,GFLOPs,ΔGFLOPs,GFLOPs complete,layers,"))
        #expect(lines.contains { $0.hasPrefix("rtdetr-starnet-freqfusion,\"18,716,999\",") && $0.contains(",62.4,") })
        let mixed = try runCLI(["compare", "configs/rtdetr-starnet-freqfusion.yaml", "Tests/ModelGraphTests/Fixtures/bad/54-spp-even-kernel.yaml"])
        #expect(mixed.status == 1)
        #expect(mixed.stdout.contains("54-spp-even-kernel: Tests/ModelGraphTests/Fixtures/bad/54-spp-even-kernel.yaml:5:23: error: layer 1 (SPP): pooling kernel 8 is even"))
        #expect(mixed.stdout.contains("rtdetr-starnet-freqfusion  18,716,999"))
    }

    @Test("diff: rtdetr-l against the seed's model shows the backbone swap and the FreqFusion rows, the rest aligned")
    func diff() throws {
        let result = try runCLI(["diff", "rtdetr-l.yaml", "configs/rtdetr-starnet-freqfusion.yaml"])
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        #expect(out.contains("+ · → 0     starnet_s050 []"))
        #expect(out.contains("- 0 → ·     HGStem [3, 32, 48]"))
        #expect(out.contains("+ · → 11    FreqFusion [[256, 256]]") && out.contains("+ · → 14    FreqFusion [[256, 256]]"))
        #expect(out.contains("~ 16 → 12   RepC3: args [512, 256, 3] → [256, 256, 3]; from [15 Concat] → [11 FreqFusion]"))
        #expect(out.contains("rows: 9 same, 5 changed, 15 only in A, 5 only in B"))
        #expect(out.contains("parameters: 32,970,476 → 18,716,999 (-14,253,477, -43.2%)"))
    }

    @Test("summary's GFLOPs: Ultralytics' figure by default, the complete count on request")
    func flopsFigures() throws {
        let ultralytics = try runCLI(["summary", "yolov8n.yaml"])
        #expect(ultralytics.stdout.contains("yolov8n summary: 129 layers, 3,157,200 parameters, 3,157,184 gradients, 8.9 GFLOPs\n"))
        let complete = try runCLI(["summary", "yolov8n.yaml", "--flops", "complete"])
        #expect(complete.stdout.contains(", 8.7 GFLOPs (complete count)\n"))
        let bad = try runCLI(["summary", "yolov8n.yaml", "--flops", "thop"])
        #expect(bad.status == 2)
    }

    @Test("graph: the seed model, rtdetr-l and yolov8n as SVG and PNG; the SVG has a node per row plus image and output, an edge per source")
    func graph() throws {
        let directory = try RunCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for model in ["configs/rtdetr-starnet-freqfusion.yaml", "rtdetr-l.yaml", "yolov8n.yaml"] {
            let svg = directory.appendingPathComponent("g.svg").path, png = directory.appendingPathComponent("g.png").path
            for file in [svg, png] {
                let result = try runCLI(["graph", model, "-o", file])
                #expect(result.status == 0, "\(result.stderr)")
            }
            let built = try runCLI(["summary", model, "--json"])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(built.stdout.utf8)) as? [String: Any])
            let layers = try #require(object["layers"] as? [[String: Any]])
            let sources = layers.reduce(0) { $0 + (($1["from"] as? [Int])?.count ?? 0) }
            let text = try String(contentsOfFile: svg, encoding: .utf8)
            #expect(text.components(separatedBy: "class=\"node\"").count - 1 == layers.count + 2, "\(model)")
            #expect(text.components(separatedBy: "class=\"edge\"").count - 1 == sources + 1, "\(model)")
            let bytes = try Data(contentsOf: URL(fileURLWithPath: png))
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        }
        let bad = try runCLI(["graph", "configs/rtdetr-starnet-freqfusion.yaml", "-o", "x.gif"])
        #expect(bad.status == 2)
    }

    @Test("bench --profile --svg draws a bar per layer; --svg without --profile is a usage error")
    func profileChart() throws {
        let directory = try RunCommandTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let svg = directory.appendingPathComponent("profile.svg").path
        let result = try runCLI(["bench", "yolov8n.yaml", "--imgsz", "64", "--runs", "2", "--warmup", "0", "--profile", "--svg", svg])
        #expect(result.status == 0, "\(result.stderr)")
        let text = try String(contentsOfFile: svg, encoding: .utf8)
        // the background and one bar per row (yolov8n has 23)
        #expect(text.components(separatedBy: "<rect ").count - 1 == 1 + 23)
        #expect(text.contains(">22 Detect</text>"))
        let usage = try runCLI(["bench", "yolov8n.yaml", "--svg", svg])
        #expect(usage.status == 2)
    }
}
