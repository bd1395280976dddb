// Times the plan's two paths for 3×3 stride-1 convolutions on channels-last maps (own Winograd
// F(4×4) against oneDNN's direct NHWC primitive) at the shapes of the YOLO and RT-DETR models:
// `swift run -c release KernelBench [C,O,S ...]`.
import Tensor
import Foundation

/// The median ms (the minimum with KMIN=1 in the environment, steadier on a noisy machine).
func time(runs: Int = 30, _ body: () -> Void) -> Double {
    body(); body()
    var samples: [Double] = []
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    samples.sort()
    return ProcessInfo.processInfo.environment["KMIN"] != nil ? samples[0] : samples[runs / 2]
}
/// A deterministic tensor of values in [-0.5, 0.5) (`prime` varies the pattern).
func pattern(_ shape: [Int], prime: Int) -> Tensor {
    Tensor(shape: shape, storage: (0..<shape.reduce(1, *)).map { Float(($0 * prime) % 1000) / 1000 - 0.5 })
}
Threads.set(2)
Allocator.keepFreedMemory()
let defaults = [(16, 16, 160), (32, 32, 160), (32, 32, 80), (64, 64, 80), (64, 80, 80), (128, 128, 80), (64, 64, 40), (128, 128, 40),
                (128, 128, 20), (256, 256, 20), (256, 64, 20), (256, 80, 20), (64, 64, 20), (80, 80, 20), (512, 512, 20), (256, 256, 10)]
// `C,O,S,K,STRIDE`: oneDNN's NHWC primitive alone, for the shapes Winograd does not take
for argument in CommandLine.arguments.dropFirst() where argument.split(separator: ",").count == 5 {
    let p = argument.split(separator: ",").map { Int($0)! }
    let (c, o, s, k, stride) = (p[0], p[1], p[2], p[3], p[4])
    let (x, w) = (pattern([1, s, s, c], prime: 7919), pattern([o, c, k, k], prime: 104729))
    let g = ConvolutionGeometry(kernelSize: k, stride: stride, padding: k / 2)
    let direct = DNNLConvolution(inputShape: [1, c, s, s], weight: w, bias: nil, geometry: g, groups: 1, activation: .silu, scratch: Scratch(),
                                 channelsLastSource: true, channelsLastDestination: true)!
    let t = time { _ = direct(x) }
    let macs = Double(o * c * k * k) * Double(g.outputHeight(s) * g.outputWidth(s))
    print(String(format: "%4d→%-4d @%-4d k%d s%d  oneDNN %@ %.3f ms  %.0f GMAC/s", c, o, s, k, stride, direct.implementation, t, macs / t / 1e6))
}
let shapeArguments = CommandLine.arguments.dropFirst().filter { $0.split(separator: ",").count == 3 }
if CommandLine.arguments.count > 1 && shapeArguments.isEmpty { exit(0) }
let shapes = !shapeArguments.isEmpty
    ? shapeArguments.map { a -> (Int, Int, Int) in let p = a.split(separator: ",").map { Int($0)! }; return (p[0], p[1], p[2]) }
    : defaults
for (c, o, s) in shapes {
    let (x, w) = (pattern([1, s, s, c], prime: 7919), pattern([o, c, 3, 3], prime: 104729))
    let b = Tensor(shape: [o], storage: (0..<o).map { Float($0) / 100 })
    let winograd = WinogradConvolution(weight: w, bias: b, activation: .silu, scratch: Scratch())
    let g = ConvolutionGeometry(kernelSize: 3, stride: 1, padding: 1)
    let direct = DNNLConvolution(inputShape: [1, c, s, s], weight: w, bias: b, geometry: g, groups: 1, activation: .silu, scratch: Scratch(),
                                 channelsLastSource: true, channelsLastDestination: true)!
    let (tw, td) = (time { _ = winograd(x) }, time { _ = direct(x) })
    print(String(format: "%4d→%-4d @%-4d winograd %.3f ms  oneDNN %@ %.3f ms  ratio %.2f", c, o, s, tw, direct.implementation, td, tw / td))
}
