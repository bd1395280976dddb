// Times the plan's two paths for 3×3 stride-1 convolutions (own Winograd F(4×4) vs a oneDNN
// primitive with its layout reorders) at the Detect head's shapes: `swift run -c release KernelBench`.
import Tensor
import Foundation

func time(_ label: String, runs: Int = 30, _ body: () -> Void) {
    body(); body()
    var samples: [Double] = []
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    samples.sort()
    print(label, String(format: "min %.3f median %.3f ms", samples[0], samples[runs / 2]))
}
Threads.set(2)
for (c, o, s) in [(64, 64, 80), (64, 80, 80), (80, 80, 80), (128, 128, 40), (64, 64, 40)] {
    let x = Tensor(shape: [1, c, s, s], storage: (0..<(c * s * s)).map { Float(($0 * 7919) % 1000) / 1000 - 0.5 })
    let w = Tensor(shape: [o, c, 3, 3], storage: (0..<(o * c * 9)).map { Float(($0 * 104729) % 1000) / 1000 - 0.5 })
    let b = Tensor(shape: [o], storage: (0..<o).map { Float($0) / 100 })
    let wino = WinogradConvolution(weight: w, bias: b, activation: .silu, outputTile: 4, scratch: Scratch())
    time("wino \(c)->\(o) @\(s)") { _ = wino(x) }
    let g = ConvolutionGeometry(kernelSize: 3, stride: 1, padding: 1)
    let prim = DNNLConvolution(inputShape: x.shape, weight: w, bias: b, geometry: g, groups: 1, activation: .silu, scratch: Scratch())!
    time("dnnl \(c)->\(o) @\(s)") { _ = prim(x) }
}
