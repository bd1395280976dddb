import Foundation
import ModelGraph
import Testing

/// `summary --fuse` counts against the reference's `params_fused` (Fixtures/fused-params.txt).
struct FuseTests {
    static func rows() -> [(config: String, parameters: Int, fused: Int)] {
        let text = (try? String(contentsOf: Paths.fixtures.appendingPathComponent("fused-params.txt"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 3, let parameters = Int(parts[1]), let fused = Int(parts[2]) else { return nil }
            return (String(parts[0]), parameters, fused)
        }
    }

    @Test func fusedCountsMatchReference() throws {
        let rows = Self.rows()
        #expect(rows.count == 8)
        for row in rows {
            let path = row.config.hasPrefix("fixtures:")
                ? Paths.fixtures.appendingPathComponent(String(row.config.dropFirst("fixtures:".count))).path
                : Paths.packageRoot.appendingPathComponent(row.config).path
            let graph = try ModelGraph.build(yaml: String(contentsOfFile: path, encoding: .utf8), file: path)
            #expect(graph.parameterCount == row.parameters, "\(row.config)")
            #expect(graph.fusedParameterCount == row.fused, "\(row.config)")
        }
    }

    @Test func summaryFuseFlag() throws {
        let result = try runCLI(["summary", "configs/rtdetr-starnet-freqfusion.yaml", "--fuse"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("rtdetr-starnet-freqfusion summary (fused): "))
        #expect(result.stdout.contains(" 17,917,255 parameters"))
    }
}
