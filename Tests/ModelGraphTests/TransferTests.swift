import Checkpoint
import Foundation
import ModelLoading
import Tensor
import Testing

/// `modelgraph transfer` against Ultralytics' own loading: the variants in Fixtures/transfer
/// (edits of checkpoints/yolov8-tiny.yaml) and the tiny fork's; expected.json holds what
/// Ultralytics printed (scripts/make-transfer-fixtures.py).
@Suite("Weight transfer")
struct TransferTests {
    static let folder = Paths.fixtures.appendingPathComponent("transfer")
    static let checkpoint = Paths.fixtures.appendingPathComponent("checkpoints/yolov8-tiny-fp16.pt").path
    static let forkCheckpoint = Paths.fixtures.appendingPathComponent("forks/checkpoints/tiny-ops-fork-fp16.pt").path
    static let forkVariant = Paths.fixtures.appendingPathComponent("forks/tinyfork/ultralytics/cfg/transfer/tiny-ops-insert.yaml").path
    static let variants = ["yolov8-tiny-insert.yaml", "yolov8-tiny-neck.yaml", "yolov8-tiny-wide.yaml"]

    struct Expected: Decodable {
        var ultralytics: [String: [Int]]
        var init_loads: [String: [Int]]
        var fork: [String: [Int]]
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(contentsOf: folder.appendingPathComponent("expected.json")))
    }

    static func transfer(_ variant: String, from file: String = checkpoint) throws -> (WeightTransfer, TransferSource, TransferTarget) {
        let source = try TransferSource.load(path: file, weights: nil)
        let target = try TransferTarget.load(ModelRequest(path: variant))
        return (WeightTransfer(from: source.side, to: target.side, rule: target.rule), source, target)
    }

    @Test("Ultralytics' rule gives the figure Ultralytics prints (\"Transferred N/M items\")", arguments: variants)
    func ruleMatchesUltralytics(_ name: String) throws {
        let (transfer, _, _) = try Self.transfer(Self.folder.appendingPathComponent(name).path)
        let golden = try #require(try Self.expected().ultralytics[name])
        #expect([transfer.ruleTransferred, transfer.ruleTotal] == golden)
    }

    @Test("paired rows carry what Ultralytics then loads from the init file; an inserted row shifts nothing", arguments: variants)
    func alignedCarriesWhatUltralyticsLoads(_ name: String) throws {
        let (transfer, _, _) = try Self.transfer(Self.folder.appendingPathComponent(name).path)
        let golden = try #require(try Self.expected().init_loads[name])
        #expect([transfer.carried.count, transfer.alignedTotal] == golden)
        #expect(transfer.carried.count >= transfer.ruleTransferred)
        if name.contains("insert") {
            // every row but the inserted one keeps every tensor, under its new index
            #expect(transfer.rowsFromScratch.map(\.to) == [7])
            #expect(transfer.alignedRows.filter { $0.from != nil }.allSatisfy { $0.kept == $0.total })
            #expect(transfer.remapping.first.map { [$0.from, $0.to] } == [7, 8])
        }
        if name.contains("wide") {
            // a changed width is reported with both shapes, never cropped
            let row = try #require(transfer.alignedRows.first { $0.to == 5 })
            let problem = try #require(row.problems.first { $0.key == "model.5.conv.weight" })
            #expect(problem.fromShape == [32, 16, 3, 3] && problem.toShape == [48, 16, 3, 3])
            #expect(!transfer.carried.contains { $0.key == "model.5.conv.weight" })
        }
    }

    @Test("the init checkpoint holds exactly the carried tensors, under the variant's keys, with the file's values")
    func initCheckpointRoundTrips() throws {
        let variant = Self.folder.appendingPathComponent("yolov8-tiny-insert.yaml").path
        let (transfer, source, target) = try Self.transfer(variant)
        let data = try transfer.checkpoint(source: source, target: target)
        let archive = try TorchArchive.decode(data, file: "init.pt")
        let written = try UltralyticsCheckpoint(archive: archive)
        let original = try UltralyticsCheckpoint.read(file: Self.checkpoint)
        #expect(written.tensors.map(\.key) == transfer.carried.map(\.key))
        let originals = Dictionary(original.tensors.map { ($0.key, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        for ((key, fromKey), entry) in zip(transfer.carried, written.tensors) {
            let from = try #require(originals[fromKey])
            #expect(entry.tensor.shape == from.shape, "\(key)")
            #expect(entry.tensor.floats() == from.floats(), "\(key) ← \(fromKey)")
            #expect(entry.tensor.storage.type.isFloatingPoint == from.storage.type.isFloatingPoint, "\(key)")
        }
        // buffers stay buffers, and the variant's YAML rides along for YOLO("init.pt").train()
        #expect(written.bufferKeys.contains("model.8.bn.running_var"))
        #expect(!written.bufferKeys.contains("model.8.conv.weight"))
        let yaml = try ModelYAML(try #require(written.yaml), file: "init.pt")
        #expect(yaml.text.contains("SPPF"))
        #expect(written.modelClass == "torch.nn.modules.module.Module")
    }

    @Test("a fork-mode variant: the fork's code builds it, and the count is the forks' same-key-same-shape rule")
    func forkVariant() throws {
        let (transfer, _, target) = try Self.transfer(Self.forkVariant, from: Self.forkCheckpoint)
        #expect(target.rule == .intersection)
        let golden = try #require(try Self.expected().fork["tiny-ops-insert.yaml"])
        #expect([transfer.ruleTransferred, transfer.ruleTotal] == golden)
        #expect(transfer.rowsFromScratch.map(\.to) == [4])
        #expect(transfer.carried.count == transfer.alignedTotal - 1)
    }

    @Test("the command prints both counts and writes .pt and .safetensors atomically")
    func command() throws {
        let variant = Self.folder.appendingPathComponent("yolov8-tiny-insert.yaml").path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mg-transfer-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let golden = try Self.expected()
        let pt = directory.appendingPathComponent("init.pt").path
        let result = try runCLI(["transfer", Self.checkpoint, variant, "-o", pt])
        #expect(result.status == 0, "\(result.stderr)")
        let rule = try #require(golden.ultralytics["yolov8-tiny-insert.yaml"]), loads = try #require(golden.init_loads["yolov8-tiny-insert.yaml"])
        #expect(result.stdout.contains("Transferred \(rule[0])/\(rule[1]) items"))
        #expect(result.stdout.contains("Carried \(loads[0])/\(loads[1]) items"))
        #expect(result.stdout.contains("index remapping (file → variant): 7–22 → 8–23"))
        #expect(result.stdout.contains("from scratch: 1 row (7 SPPF)"))
        #expect(try UltralyticsCheckpoint.read(file: pt).tensors.count == loads[0])

        let safetensors = directory.appendingPathComponent("init.safetensors").path
        let json = try runCLI(["transfer", Self.checkpoint, variant, "-o", safetensors, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let aligned = try #require(report["aligned"] as? [String: Any])
        #expect(aligned["transferred"] as? Int == loads[0])
        #expect(try SafeTensors.read(file: safetensors).count == loads[0])

        // a YAML as FROM needs its weights; a wrong output name is a usage error; nothing half-written
        let noWeights = try runCLI(["transfer", Paths.fixtures.appendingPathComponent("checkpoints/yolov8-tiny.yaml").path, variant])
        #expect(noWeights.status == 2 && noWeights.stderr.contains("--weights"))
        let withWeights = try runCLI(["transfer", Paths.fixtures.appendingPathComponent("checkpoints/yolov8-tiny.yaml").path, variant,
                                      "--weights", safetensors])
        #expect(withWeights.status == 0, "\(withWeights.stderr)")
        let badName = try runCLI(["transfer", Self.checkpoint, variant, "-o", directory.appendingPathComponent("init.bin").path])
        #expect(badName.status == 2 && badName.stderr.contains("write a .pt or a .safetensors file"))
    }

    @Test("hostile FROM files get the checkpoint reader's own errors, and no output is written", arguments: HostileCheckpoints.cases.indices)
    func hostileSource(_ index: Int) throws {
        let hostileCase = HostileCheckpoints.cases[index]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mg-transfer-hostile-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("from.pt")
        try hostileCase.bytes().write(to: file)
        let output = directory.appendingPathComponent("init.pt")
        let result = try runCLI(["transfer", file.path, Self.folder.appendingPathComponent("yolov8-tiny-insert.yaml").path, "-o", output.path])
        #expect(result.status == 1, "\(hostileCase.name): \(result.stderr)")
        #expect(result.stderr.hasPrefix(file.path + ": error: "), "\(hostileCase.name): \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: output.path))
    }
}
