import FuzzHarnesses
import Glibc

// libFuzzer's driver, run from this executable's own main (SwiftPM gives every executable one);
// scripts/fuzz links libFuzzer in with -sanitize=fuzzer,address.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(runFuzzerDriver(&argc, &argv) { data, size in
    fuzzCheckpoint(UnsafeRawBufferPointer(start: data, count: size))
    return 0
})
