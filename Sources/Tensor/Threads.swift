import CDNNL
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How many threads the kernels use: oneDNN's OpenMP pool and the Swift loops that split work.
/// One process-wide setting, as OpenMP's own is.
public enum Threads {
    private static let current = Atomic<Int>(defaultCount)

    /// The machine's online cores, or `OMP_NUM_THREADS` when set.
    public static var defaultCount: Int {
        if let text = getenv("OMP_NUM_THREADS").map({ String(cString: $0) }), let value = Int(text), value > 0 {
            return value
        }
        return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    public static var count: Int { current.load(ordering: .relaxed) }

    /// Sets the thread count for oneDNN (through OpenMP's `omp_set_num_threads`, found at run time
    /// in the OpenMP runtime oneDNN loads) and for the Swift kernels.
    public static func set(_ count: Int) {
        precondition(count >= 1)
        current.store(count, ordering: .relaxed)
        typealias SetThreads = @convention(c) (Int32) -> Void
        if let symbol = dlsym(nil, "omp_set_num_threads") {
            unsafeBitCast(symbol, to: SetThreads.self)(Int32(count))
        }
    }

    /// Runs `body(chunk)` for chunks 0..<chunks, spread over the configured threads.
    public static func parallelFor(_ chunks: Int, _ body: (Int) -> Void) {
        if chunks <= 1 || count <= 1 {
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        // the chunks write disjoint memory; the caller's closure is shared across workers by design
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { shared.value($0) }
        }
    }

    /// Splits 0..<total into about `count × 4` ranges and runs them in parallel; small totals run inline.
    public static func parallelRanges(_ total: Int, minimumPerChunk: Int = 1024, _ body: (Range<Int>) -> Void) {
        let chunks = min(count * 4, max(1, total / max(1, minimumPerChunk)))
        if chunks <= 1 { body(0..<total); return }
        let size = (total + chunks - 1) / chunks
        parallelFor(chunks) { chunk in
            let start = chunk * size
            let end = min(total, start + size)
            if start < end { body(start..<end) }
        }
    }
}

private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
