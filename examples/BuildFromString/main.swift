// Builds a small YOLO-style neck from a YAML string through the library API and prints its summary.
import ModelGraph

let yaml = """
nc: 80
backbone:
  - [-1, 1, Conv, [32, 3, 2]]     # 0  P1/2
  - [-1, 1, Conv, [64, 3, 2]]     # 1  P2/4
  - [-1, 1, Conv, [128, 3, 2]]    # 2  P3/8
  - [-1, 1, Conv, [256, 3, 2]]    # 3  P4/16
head:
  - [-1, 1, DySample, [2, 'lp']]  # 4  back to stride 8
  - [[-1, 2], 1, Concat, [1]]     # 5
  - [-1, 2, RepC3, [128]]         # 6
"""

do {
    let graph = try ModelGraph.build(yaml: yaml, file: "example.yaml", options: BuildOptions(imageHeight: 320, imageWidth: 320))
    for diagnostic in graph.diagnostics { print(diagnostic) }
    print(graph.summaryTable())
    print(graph.summaryLine)
    print("state_dict keys:", graph.stateDictionary.prefix(3).map(\.name).joined(separator: ", "), "…")
} catch {
    print(error)
}
