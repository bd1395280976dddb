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

    /// Runs `body(chunk)` for chunks 0..<chunks, spread over the configured threads. The work
    /// runs on OpenMP's team — the threads oneDNN uses — so the Swift kernels and oneDNN never
    /// oversubscribe the cores (a second pool would compete with OpenMP's spinning workers).
    public static func parallelFor(_ chunks: Int, _ body: (Int) -> Void) {
        if chunks <= 1 || count <= 1 {
            for chunk in 0..<chunks { body(chunk) }
            return
        }
        if let parallel = OpenMP.parallel {
            withoutActuallyEscaping(body) { body in
                let work = OpenMP.Work(chunks: chunks, body: body)
                // libgomp's fork and join order these already, but ThreadSanitizer cannot see
                // inside libgomp: this release and the workers' acquiring fetches (and their
                // releases of `finished`, acquired after the join) state the same order to it
                work.next.store(0, ordering: .releasing)
                let context = Unmanaged.passRetained(work)
                parallel(OpenMP.runChunks, context.toOpaque(), UInt32(min(count, chunks)), 0)
                _ = work.finished.load(ordering: .acquiring)
                context.release()
            }
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

/// libgomp's entry point for a parallel region, found at run time in the OpenMP runtime oneDNN
/// loads: `GOMP_parallel(fn, data, num_threads, flags)` runs `fn(data)` on every team thread.
enum OpenMP {
    typealias Parallel = @convention(c) (@convention(c) (UnsafeMutableRawPointer?) -> Void, UnsafeMutableRawPointer?, UInt32, UInt32) -> Void

    static let parallel: Parallel? = {
        guard let symbol = dlsym(nil, "GOMP_parallel") else { return nil }
        return unsafeBitCast(symbol, to: Parallel.self)
    }()

    /// The chunks of one parallel loop, handed out by an atomic counter.
    final class Work: @unchecked Sendable {
        let chunks: Int
        let body: (Int) -> Void
        let next = Atomic<Int>(0)
        /// Workers that have run out of chunks.
        let finished = Atomic<Int>(0)

        init(chunks: Int, body: @escaping (Int) -> Void) {
            self.chunks = chunks
            self.body = body
        }
    }

    static let runChunks: @convention(c) (UnsafeMutableRawPointer?) -> Void = { context in
        let work = Unmanaged<Work>.fromOpaque(context!).takeUnretainedValue()
        while true {
            let chunk = work.next.add(1, ordering: .acquiring).oldValue
            if chunk >= work.chunks { break }
            work.body(chunk)
        }
        work.finished.add(1, ordering: .releasing)
    }
}

/// Process-wide allocator settings for repeated forward passes.
public enum Allocator {
    /// Keeps freed tensor memory in the heap instead of returning it to the system: glibc
    /// otherwise serves every large tensor with a fresh mmap, and a forward pass then spends
    /// ~10% of its time in page faults zero-filling memory it just released. Peak RSS is
    /// unchanged (the same buffers are reused), only the release to the OS is deferred.
    public static func keepFreedMemory() {
        setOption(mmapThreshold, 32 << 20)  // the largest threshold glibc accepts on 64-bit
        setOption(trimThreshold, Int32.max)
    }

    /// Also keeps blocks of 32 MB and more in the heap (M_MMAP_MAX = 0): glibc otherwise maps
    /// each afresh, beside the freed heap that could hold it (rtdetr-l's first HGBlock joins
    /// 34 MB of maps: its forward passes grew the RSS by 106–111 MB with fresh mappings, 80–89
    /// MB without). Only for a process whose large tensors are made on its main thread, as the
    /// command line's are: another thread's arena cannot grow past 64 MB without a mapping.
    public static func keepLargeBlocksInHeap() {
        setOption(mmapMax, 0)
    }

    // glibc's mallopt parameters (malloc.h is not in Swift's Glibc module)
    private static let (trimThreshold, mmapThreshold, mmapMax): (Int32, Int32, Int32) = (-1, -3, -4)

    /// glibc's `mallopt(parameter, value)`, looked up at run time; nothing where there is none.
    private static func setOption(_ parameter: Int32, _ value: Int32) {
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: Mallopt.self)(parameter, value)
    }
}
