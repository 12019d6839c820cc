import CKernels
import Foundation
import Testing
@testable import Tensor

/// Causal grouped-query attention in both orders against the definition in double, over a cache
/// filled in two steps (a prefill and then one token, as a session does).
@Suite struct AttentionTests {
    struct Case {
        let heads = 6, kvHeads = 2, d = 64
        let queries: [Float], keys: [Float], values: [Float]
        let positions: Int

        init(positions: Int, seed: UInt64) {
            var random = TestRandom(seed: seed)
            self.positions = positions
            queries = random.normals(positions * heads * d, scale: 0.5)
            keys = random.normals(positions * kvHeads * d, scale: 0.5)
            values = random.normals(positions * kvHeads * d)
        }

        /// Output row of query `t` (all heads).
        func reference(_ t: Int) -> [Double] {
            var out = [Double](repeating: 0, count: heads * d)
            for h in 0..<heads {
                let g = h / (heads / kvHeads)
                let scores = (0...t).map { p in
                    (0..<d).reduce(0.0) { $0 + Double(queries[(t * heads + h) * d + $1]) * Double(keys[(p * kvHeads + g) * d + $1]) } / Double(d).squareRoot()
                }
                let m = scores.max()!
                let e = scores.map { exp($0 - m) }
                let sum = e.reduce(0, +)
                for p in 0...t {
                    for i in 0..<d { out[h * d + i] += e[p] / sum * Double(values[(p * kvHeads + g) * d + i]) }
                }
            }
            return out
        }

        /// Attention of the first `positions - 1` queries as one batch, then of the last alone.
        func run(_ numerics: Numerics, precision: KVCache.Precision = .f32, pool: ComputePool) -> [Float] {
            let cache = KVCache(layers: 1, kvHeads: kvHeads, headDimension: d, maximumCapacity: 4096, precision: precision, initialCapacity: 8)
            var output = [Float](repeating: 0, count: positions * heads * d)
            let workspace = AttentionWorkspace()
            for (start, count) in [(0, positions - 1), (positions - 1, 1)] {
                cache.reserve(start + count)
                keys.withUnsafeBufferPointer { k in
                    values.withUnsafeBufferPointer { v in
                        cache.store(layer: 0, keys: k.baseAddress! + start * kvHeads * d, values: v.baseAddress! + start * kvHeads * d, at: start, count: count)
                    }
                }
                queries.withUnsafeBufferPointer { q in
                    output.withUnsafeMutableBufferPointer { o in
                        Attention.causal(queries: q.baseAddress! + start * heads * d, count: count, start: start, heads: heads, cache: cache,
                                         layer: 0, scale: 1 / Float(d).squareRoot(), into: o.baseAddress! + start * heads * d,
                                         workspace: workspace, numerics: numerics, pool: pool)
                    }
                }
            }
            return output
        }
    }

    @Test(arguments: [Numerics.fast, .llamaCpp])
    func matchesTheDefinition(_ numerics: Numerics) {
        let c = Case(positions: 150, seed: 31)
        let output = c.run(numerics, pool: ComputePool(threads: 2))
        for t in [0, 1, 63, 64, 65, 148, 149] {
            let expected = c.reference(t)
            for i in expected.indices { #expect(abs(Double(output[t * c.heads * c.d + i]) - expected[i]) <= 2e-6) }
        }
    }

    /// The two orders differ only in float rounding.
    @Test func ordersAgreeClosely() {
        let c = Case(positions: 90, seed: 32)
        let fast = c.run(.fast, pool: .shared), exact = c.run(.llamaCpp, pool: .shared)
        for (a, b) in zip(fast, exact) { #expect(abs(a - b) <= 1e-6) }
    }

    /// An F16 cache rounds keys and values to half (and in llama.cpp's order queries and
    /// probabilities too, as ggml does): close, not equal, in a batch and in a decode step.
    @Test(arguments: [Numerics.fast, .llamaCpp])
    func halfCacheIsClose(_ numerics: Numerics) {
        let c = Case(positions: 40, seed: 33)
        let full = c.run(numerics, pool: .shared), half = c.run(numerics, precision: .f16, pool: .shared)
        for (a, b) in zip(full, half) { #expect(abs(a - b) <= 4e-3) }
        let last = (c.positions - 1) * c.heads * c.d
        #expect(zip(full[..<last], half[..<last]).contains { $0 != $1 })
        #expect(zip(full[last...], half[last...]).contains { $0 != $1 })
    }

    /// The one-query kernel a decode step runs over an F16 cache, in every variant this CPU runs,
    /// against the definition in double over the halves the cache holds and the query as it is.
    /// d 64 (every vector path), 80 (AVX-512 hands it to AVX2), 20 (portable only); positions
    /// from 0 and, as under a sliding window, from 10; keys of head 1 of 3 in each row.
    @Test(arguments: [64, 80, 20])
    func halfCacheDecodeKernelMatchesTheDefinition(_ d: Int) {
        var random = TestRandom(seed: UInt64(d))
        let positions = 37, stride = 3 * d
        let q = random.normals(d, scale: 0.5)
        let halves = { (x: [Float]) -> [UInt16] in
            var h = [UInt16](repeating: 0, count: x.count)
            loco_f32_to_f16_row(x, &h, x.count)
            return h
        }
        let k = halves(random.normals(positions * stride, scale: 0.5)), v = halves(random.normals(positions * stride))
        let scale = 1 / Float(d).squareRoot()
        for first in [0, 10] {
            let scores = (first..<positions).map { j in
                (0..<d).reduce(0.0) { $0 + Double(q[$1]) * Double(loco_f16_to_f32_scalar(k[j * stride + d + $1])) } * Double(scale)
            }
            let m = scores.max()!, e = scores.map { exp($0 - m) }, sum = e.reduce(0, +)
            let expected = (0..<d).map { i in
                (first..<positions).reduce(0.0) { $0 + e[$1 - first] / sum * Double(loco_f16_to_f32_scalar(v[$1 * stride + d + i])) }
            }
            for (name, mask) in VectorExpTests.variants {
                var out = [Float](repeating: .nan, count: d), scratch = [Float](repeating: 0, count: positions)
                VectorExpTests.withMask(mask) {
                    k.withUnsafeBufferPointer { kp in
                        v.withUnsafeBufferPointer { vp in
                            loco_attention_one_f16(q, kp.baseAddress! + d, vp.baseAddress! + d, stride, first, positions, d, scale, &scratch, &out)
                        }
                    }
                }
                let worst = zip(out, expected).map { abs(Double($0) - $1) }.max()!
                #expect(worst <= 2e-6, "\(name), d \(d), first \(first): \(worst)")
            }
        }
    }

    @Test func cacheGrowthKeepsPositions() {
        let cache = KVCache(layers: 2, kvHeads: 1, headDimension: 4, maximumCapacity: 100, initialCapacity: 2)
        let k: [Float] = [1, 2, 3, 4, 5, 6, 7, 8], v: [Float] = k.map { -$0 }
        cache.store(layer: 1, keys: k, values: v, at: 0, count: 2)
        cache.reserve(50)
        #expect(cache.capacity >= 50 && cache.capacity <= 100)
        let stored = Array(UnsafeBufferPointer(start: cache.keys(layer: 1).assumingMemoryBound(to: Float.self), count: 8))
        #expect(stored == k)
    }
}
