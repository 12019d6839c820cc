import Foundation
import Synchronization
import Testing
@testable import Tensor

@Suite struct ComputePoolTests {
    /// Every worker index runs exactly once per region, for many regions in a row (the spinning
    /// and the sleeping hand-over both).
    @Test func everyWorkerRunsOncePerRegion() {
        let pool = ComputePool(threads: 3)
        for round in 0..<2000 {
            let counts = Mutex([Int](repeating: 0, count: 3))
            pool.forEachWorker { worker in counts.withLock { $0[worker] += 1 } }
            #expect(counts.withLock { $0 } == [1, 1, 1], "round \(round)")
            if round % 500 == 0 { usleep(2000) }  // let the workers fall asleep
        }
    }

    @Test func rangesCoverEverythingOnce() {
        let pool = ComputePool(threads: 4)
        for count in [0, 1, 3, 4, 1000] {
            let seen = Mutex([Int](repeating: 0, count: count))
            pool.forEachRange(count) { range in seen.withLock { for i in range { $0[i] += 1 } } }
            #expect(seen.withLock { $0 }.allSatisfy { $0 == 1 })
        }
    }

    /// A region inside a region, or entered while another thread holds the pool, runs serially
    /// on the calling thread and still visits every worker index.
    @Test func nestedAndConcurrentRegionsComplete() async {
        let pool = ComputePool(threads: 2)
        let total = Counter()
        pool.forEachWorker { _ in pool.forEachWorker { _ in total.increment() } }
        #expect(total.value == 4)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { for _ in 0..<200 { pool.forEachWorker { _ in total.increment() } } }
            }
        }
        #expect(total.value == 4 + 4 * 200 * 2)
    }

    final class Counter: Sendable {
        private let count = Atomic<Int>(0)
        func increment() { count.add(1, ordering: .relaxed) }
        var value: Int { count.load(ordering: .relaxed) }
    }
}
