/// The scale searches ggml's K-quant reference quantizers share (`ggml-quants.c`), built on the
/// rounding and half-precision primitives of `QuantMath`.
///
/// Byte-exactness with `quantize_row_q*_K_ref` depends on every float operation happening in the
/// reference's order: sums accumulate left to right in a single `Float`, products associate as
/// written in C (`w*x[i]*l` is `(w*x[i])*l`), and integers are converted to `Float` at the same
/// points. Nothing is fused: the oracle (`libggml-base` as llama-cpp-python builds it) is baseline
/// x86-64 code without a single FMA instruction, and Swift never contracts `a*b+c`. It matters: the
/// same C built with `-mfma -ffp-contract=fast` writes different bytes for about 23% of Q2_K, 6% of
/// Q4_K, 30% of Q5_K and 0.3% of Q6_K blocks of weight-like data (Q3_K: none seen).
enum KQuant {
    /// ggml's `GROUP_MAX_EPS`: groups whose largest magnitude is below this quantize to zero.
    static let groupMaxEpsilon: Float = 1e-15

    /// `value` clamped to `lower...upper`, as ggml's `MAX(lower, MIN(upper, value))`.
    @inline(__always)
    static func clamp(_ value: Int, _ lower: Int, _ upper: Int) -> Int {
        let atLeastLower = value < lower ? lower : value
        return atLeastLower > upper ? upper : atLeastLower
    }

    /// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block `j` (0..<8) from the 12
    /// packed bytes of a Q4_K/Q5_K block. Sub-blocks 0-3 keep theirs in the low 6 bits of bytes
    /// 0-3 (scale) and 4-7 (min); 4-7 keep the low 4 bits in bytes 8-11 and the top 2 bits in the
    /// spare high bits of bytes 0-7.
    @inline(__always)
    static func scaleMin(_ j: Int, _ q: UnsafeRawPointer) -> (scale: UInt8, min: UInt8) {
        let b = q.assumingMemoryBound(to: UInt8.self)
        if j < 4 { return (b[j] & 63, b[j + 4] & 63) }
        return ((b[j + 4] & 0xF) | ((b[j - 4] >> 6) << 4), (b[j + 4] >> 4) | ((b[j] >> 6) << 4))
    }

    /// ggml's `make_qkx2_quants`: an asymmetric grid `scale * L - min` with `L` in `0...nmax`,
    /// found by trying `nstep + 1` scales `(rmin + rdelta*is + nmax) / (max - min)`, fitting scale
    /// and min by weighted least squares for each level assignment and keeping the one with the
    /// smallest weighted error (absolute when `useMAD`, squared otherwise; ties keep the earlier).
    /// As in ggml, `min` is the best fit so far, so later grids are laid from the improved min.
    ///
    /// Writes `L[0..<count]` and returns the scale and the min as a positive offset (`-min`, so a
    /// group that never goes below zero returns `-0.0`, as ggml does). `scratch` holds `count` bytes.
    static func makeQKX2Quants(
        count n: Int, nmax: Int, _ x: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        levels L: UnsafeMutablePointer<UInt8>, scratch Laux: UnsafeMutablePointer<UInt8>,
        rmin: Float, rdelta: Float, steps nstep: Int, useMAD: Bool
    ) -> (scale: Float, min: Float) {
        var lowest = x[0]
        var highest = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < lowest { lowest = x[i] }
            if x[i] > highest { highest = x[i] }
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        if lowest > 0 { lowest = 0 }
        if highest == lowest {
            L.update(repeating: 0, count: n)
            return (0, -lowest)
        }
        var iscale = Float(nmax) / (highest - lowest)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            L[i] = UInt8(truncatingIfNeeded: clamp(QuantMath.nearestInt(iscale * (x[i] - lowest)), 0, nmax))
            var diff = scale * Float(L[i]) + lowest - x[i]
            diff = useMAD ? abs(diff) : diff * diff
            bestError += weights[i] * diff
        }
        for step in 0...nstep {
            // `lowest` moves to the best fit's min as the search goes, and the grid moves with it.
            iscale = (rmin + rdelta * Float(step) + Float(nmax)) / (highest - lowest)
            var sumL: Float = 0
            var sumL2: Float = 0
            var sumXL: Float = 0
            for i in 0..<n {
                let l = clamp(QuantMath.nearestInt(iscale * (x[i] - lowest)), 0, nmax)
                Laux[i] = UInt8(truncatingIfNeeded: l)
                let w = weights[i]
                let fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            guard D > 0 else { continue }
            var thisScale = (sumW * sumXL - sumX * sumL) / D
            var thisMin = (sumL2 * sumX - sumL * sumXL) / D
            if thisMin > 0 {
                thisMin = 0
                thisScale = sumXL / sumL2
            }
            var error: Float = 0
            for i in 0..<n {
                var diff = thisScale * Float(Laux[i]) + thisMin - x[i]
                diff = useMAD ? abs(diff) : diff * diff
                error += weights[i] * diff
            }
            if error < bestError {
                L.update(from: Laux, count: n)
                bestError = error
                scale = thisScale
                lowest = thisMin
            }
        }
        return (scale, -lowest)
    }

    /// ggml's `make_q3_quants` with `do_rmse` (the only form `quantize_row_q3_K_ref` uses): a
    /// symmetric grid `scale * l`, `l` in `-nmax..<nmax`, seeded from the value of largest
    /// magnitude and refined by up to five passes of coordinate descent on the x²-weighted error.
    ///
    /// Writes `L[i] = l + nmax` and returns the scale (0 for an all-zero group, whose `L` is 0).
    static func makeQ3Quants(count n: Int, nmax: Int, _ x: UnsafePointer<Float>, levels L: UnsafeMutablePointer<Int8>) -> Float {
        let (signedMax, amax) = QuantMath.signedMax(x, count: n)
        if amax < groupMaxEpsilon {
            L.update(repeating: 0, count: n)
            return 0
        }
        let iscale = -Float(nmax) / signedMax
        var sumLX: Float = 0
        var sumL2: Float = 0
        for i in 0..<n {
            let l = clamp(QuantMath.nearestInt(iscale * x[i]), -nmax, nmax - 1)
            L[i] = Int8(truncatingIfNeeded: l)
            let w = x[i] * x[i]
            sumLX += w * x[i] * Float(l)
            sumL2 += w * Float(l) * Float(l)
        }
        for _ in 0..<5 {
            var changed = 0
            for i in 0..<n {
                let w = x[i] * x[i]
                let old = Float(L[i])
                var slx = sumLX - w * x[i] * old
                guard slx > 0 else { continue }
                var sl2 = sumL2 - w * old * old
                let candidate = clamp(QuantMath.nearestInt(x[i] * sl2 / slx), -nmax, nmax - 1)
                guard candidate != Int(L[i]) else { continue }
                let fl = Float(candidate)
                slx += w * x[i] * fl
                sl2 += w * fl * fl
                if sl2 > 0 && slx * slx * sumL2 > sumLX * sumLX * sl2 {
                    L[i] = Int8(truncatingIfNeeded: candidate)
                    sumLX = slx
                    sumL2 = sl2
                    changed += 1
                }
            }
            if changed == 0 { break }
        }
        for i in 0..<n { L[i] &+= Int8(truncatingIfNeeded: nmax) }
        return sumL2 > 0 ? sumLX / sumL2 : 0
    }

    /// ggml's `make_qx_quants` with `rmse_type` 1 and no importance weights (the form
    /// `quantize_row_q6_K_ref` uses): a symmetric grid `scale * l`, `l` in `-nmax..<nmax`, trying
    /// the scales `-(nmax + 0.1*is) / max` for `is` in -9...9 around the seed `-nmax / max` (max =
    /// the value of largest magnitude, signed) and keeping the best x²-weighted least-squares fit;
    /// a later scale replaces the current one only when strictly better.
    ///
    /// Writes `L[i] = l + nmax` and returns the fitted scale (0 for an all-zero group).
    static func makeQXQuants(count n: Int, nmax: Int, _ x: UnsafePointer<Float>, levels L: UnsafeMutablePointer<Int8>) -> Float {
        let (signedMax, amax) = QuantMath.signedMax(x, count: n)
        if amax < groupMaxEpsilon {
            L.update(repeating: 0, count: n)
            return 0
        }
        /// The x²-weighted sums Σ w·x·l and Σ w·l² for the grid `iscale`, optionally storing `L`.
        func fit(_ iscale: Float, store: Bool) -> (sumLX: Float, sumL2: Float) {
            var sumLX: Float = 0
            var sumL2: Float = 0
            for i in 0..<n {
                let l = clamp(QuantMath.nearestInt(iscale * x[i]), -nmax, nmax - 1)
                if store { L[i] = Int8(truncatingIfNeeded: l + nmax) }
                let w = x[i] * x[i]
                sumLX += w * x[i] * Float(l)
                sumL2 += w * Float(l) * Float(l)
            }
            return (sumLX, sumL2)
        }
        let seed = fit(-Float(nmax) / signedMax, store: true)
        var scale = seed.sumL2 != 0 ? seed.sumLX / seed.sumL2 : 0
        var best = scale * seed.sumLX
        for step in -9...9 where step != 0 {
            let iscale = -(Float(nmax) + 0.1 * Float(step)) / signedMax
            let (sumLX, sumL2) = fit(iscale, store: false)
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n { L[i] = Int8(truncatingIfNeeded: clamp(QuantMath.nearestInt(iscale * x[i]), -nmax, nmax - 1) + nmax) }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }

    /// The part `quantize_row_q4_K_ref` and `quantize_row_q5_K_ref` share for one 256-value
    /// super-block: per 32 values, weights `sqrt(Σx²/32) + |x|` and `make_qkx2_quants(32, nmax,
    /// rmin, 0.1, nstep, squared error)`; the 8 scales and 8 mins rounded to 6 bits relative to
    /// their maxima (`d = max_scale/63`, `dmin = max_min/63`, both stored as halves) and packed as
    /// `get_scale_min_k4` reads them; then every value re-quantized with the stored scales,
    /// `L = clamp(nearest_int((x + dmin*m) / (d*sc)), 0, nmax)`. A sub-block whose stored scale is
    /// 0 keeps the levels of the search, as in ggml.
    ///
    /// Writes d (offset 0), dmin (2), the 12 scale bytes (4) into `block` and the 256 levels to `L`.
    static func quantizeScaleMinSuperblock(
        _ x: UnsafePointer<Float>, nmax: Int, rmin: Float, steps: Int,
        block: UnsafeMutableRawPointer, levels L: UnsafeMutablePointer<UInt8>
    ) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 48) { floats in
            let weights = floats.baseAddress!
            let scales = weights + 32
            let mins = weights + 40
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { scratch in
                var maxScale: Float = 0
                var maxMin: Float = 0
                for j in 0..<8 {
                    let xj = x + 32 * j
                    var sumX2: Float = 0
                    for l in 0..<32 { sumX2 += xj[l] * xj[l] }
                    let average = (sumX2 / 32).squareRoot()
                    for l in 0..<32 { weights[l] = average + abs(xj[l]) }
                    (scales[j], mins[j]) = makeQKX2Quants(
                        count: 32, nmax: nmax, xj, weights: weights, levels: L + 32 * j, scratch: scratch.baseAddress!,
                        rmin: rmin, rdelta: 0.1, steps: steps, useMAD: false)
                    if scales[j] > maxScale { maxScale = scales[j] }
                    if mins[j] > maxMin { maxMin = mins[j] }
                }
                let inverseScale: Float = maxScale > 0 ? 63 / maxScale : 0
                let inverseMin: Float = maxMin > 0 ? 63 / maxMin : 0
                let packed = (block + 4).assumingMemoryBound(to: UInt8.self)
                for j in 0..<8 {
                    // ggml stores nearest_int into a uint8_t before clamping to 63: keep the truncation.
                    let ls = Swift.min(63, UInt8(truncatingIfNeeded: QuantMath.nearestInt(inverseScale * scales[j])))
                    let lm = Swift.min(63, UInt8(truncatingIfNeeded: QuantMath.nearestInt(inverseMin * mins[j])))
                    if j < 4 {
                        packed[j] = ls
                        packed[j + 4] = lm
                    } else {
                        packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
                        packed[j - 4] |= (ls >> 4) << 6
                        packed[j] |= (lm >> 4) << 6
                    }
                }
                QuantMath.storeHalf(maxScale / 63, block, at: 0)
                QuantMath.storeHalf(maxMin / 63, block, at: 2)
                let d = QuantMath.loadHalf(block, at: 0)
                let dmin = QuantMath.loadHalf(block, at: 2)
                for j in 0..<8 {
                    let (sc, m) = scaleMin(j, packed)
                    let dj = d * Float(sc)
                    if dj == 0 { continue }
                    let dm = dmin * Float(m)
                    for ii in 0..<32 {
                        L[32 * j + ii] = UInt8(truncatingIfNeeded: clamp(QuantMath.nearestInt((x[32 * j + ii] + dm) / dj), 0, nmax))
                    }
                }
            }
        }
    }
}
