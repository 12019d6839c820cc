import CBLAS
import CKernels
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one owner of the CPU cores: persistent worker threads that run a parallel region together
/// with the calling thread. Matrix products split their rows over it, and OpenBLAS is set to one
/// thread so the two never fight (PEERS.md: 3 tok/s instead of 130 when they do).
///
/// Workers spin for a short while after a region (a decode step runs a few hundred regions a few
/// microseconds apart), then sleep on a condition variable. A region entered while another is
/// running (a second session on another thread) or from inside a region runs on the calling
/// thread alone, with the same results.
///
/// ```swift
/// ComputePool.shared.forEachRange(rowCount) { rows in
///     for row in rows { ... }
/// }
/// ```
public final class ComputePool: @unchecked Sendable {
    /// One pool for the process, sized to the active cores.
    public static let shared = ComputePool(threads: ProcessInfo.processInfo.activeProcessorCount)

    /// Threads that take part in a region, the caller included.
    public let threadCount: Int
    private let state: State

    /// A pool of `threads` threads (the caller and `threads - 1` workers).
    public init(threads: Int) {
        threadCount = max(1, threads)
        state = State()
        _ = loco_openblas_select_core()
        openblas_set_num_threads(1)
        for index in 1..<threadCount {
            let state = self.state
            let thread = Thread { state.work(index) }
            thread.name = "loco-compute-\(index)"
            thread.start()
        }
    }

    deinit { state.stop() }

    /// Runs `body(worker)` once for every worker index in `0..<threadCount`, in parallel, and
    /// returns when all have finished. The caller runs worker 0.
    public func forEachWorker(_ body: (Int) -> Void) {
        guard threadCount > 1, !State.insideRegion, state.acquire() else {
            let nested = State.insideRegion
            State.insideRegion = true
            defer { State.insideRegion = nested }
            for worker in 0..<threadCount { body(worker) }
            return
        }
        withoutActuallyEscaping(body) { state.run($0, workers: threadCount - 1) }
    }

    /// Splits `0..<count` into `threadCount` contiguous parts as evenly as possible and runs
    /// `body` on each non-empty part in parallel.
    public func forEachRange(_ count: Int, _ body: (Range<Int>) -> Void) {
        guard count > 1, threadCount > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        forEachWorker { worker in
            let part = self.range(of: count, part: worker)
            if !part.isEmpty { body(part) }
        }
    }

    /// Part `part` of `0..<count` split into `threadCount` contiguous ranges.
    public func range(of count: Int, part: Int) -> Range<Int> {
        (count * part / threadCount)..<(count * (part + 1) / threadCount)
    }

    /// What the caller and the worker threads share.
    private final class State: @unchecked Sendable {
        let generation = Atomic<Int>(0)
        let remaining = Atomic<Int>(0)
        let busy = Atomic<Bool>(false)
        let sleepers = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        let condition = NSCondition()
        /// The region's body: written before `generation` is bumped, read by workers after they
        /// see the new generation, cleared after every worker has finished.
        nonisolated(unsafe) var job: ((Int) -> Void)?

        /// Spin iterations (one atomic load each) before a worker sleeps: a few hundred microseconds.
        static let spinLimit = 300_000

        func acquire() -> Bool { busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged }

        func run(_ body: @escaping (Int) -> Void, workers: Int) {
            job = body
            remaining.store(workers, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            wakeSleepers()
            State.insideRegion = true
            body(0)
            State.insideRegion = false
            while remaining.load(ordering: .acquiring) != 0 {}
            job = nil
            busy.store(false, ordering: .releasing)
        }

        func stop() {
            stopping.store(true, ordering: .sequentiallyConsistent)
            generation.add(1, ordering: .sequentiallyConsistent)
            wakeSleepers()
        }

        /// A worker that saw no new generation registers as a sleeper before its last check, so
        /// either it sees the new generation or the caller sees it registered (both are
        /// sequentially consistent) and broadcasts under the lock it waits with.
        private func wakeSleepers() {
            guard sleepers.load(ordering: .sequentiallyConsistent) > 0 else { return }
            condition.lock()
            condition.broadcast()
            condition.unlock()
        }

        func work(_ index: Int) {
            State.insideRegion = true
            var seen = 0
            while true {
                var spins = 0
                while generation.load(ordering: .acquiring) == seen {
                    spins += 1
                    guard spins >= State.spinLimit else { continue }
                    condition.lock()
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen { condition.wait() }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    condition.unlock()
                    spins = 0
                }
                seen = generation.load(ordering: .acquiring)
                if stopping.load(ordering: .acquiring) { return }
                job?(index)
                remaining.subtract(1, ordering: .releasing)
            }
        }

        static let regionKey: pthread_key_t = {
            var key = pthread_key_t()
            pthread_key_create(&key, nil)
            return key
        }()

        /// Whether this thread is running a region's body (a nested region runs serially).
        static var insideRegion: Bool {
            get { pthread_getspecific(regionKey) != nil }
            set { pthread_setspecific(regionKey, newValue ? UnsafeRawPointer(bitPattern: 1) : nil) }
        }
    }
}
