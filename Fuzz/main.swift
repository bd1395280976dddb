import FuzzHarnesses
import Glibc

// libFuzzer's driver, run from this executable's own main (SwiftPM gives every executable one);
// scripts/fuzz links libFuzzer in with -sanitize=fuzzer,address.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

// the first argument names the harness; libFuzzer reads the rest behind the program's name
guard CommandLine.arguments.count > 1, let chosen = fuzzHarnesses[CommandLine.arguments[1]] else {
    let usage = "usage: ModelGraphFuzz \(fuzzHarnesses.keys.sorted().joined(separator: "|")) [libFuzzer options] [corpus…]\n"
    _ = usage.withCString { write(2, $0, strlen($0)) }
    exit(2)
}
nonisolated(unsafe) let harness = chosen
CommandLine.unsafeArgv[1] = CommandLine.unsafeArgv[0]
var argc = CommandLine.argc - 1
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv + 1
exit(runFuzzerDriver(&argc, &argv) { data, size in
    harness(UnsafeRawBufferPointer(start: data, count: size))
    return 0
})
