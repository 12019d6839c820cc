import CBLAS
import Foundation
import Inference
import Tensor
import Adapters
import LocoSupport

/// The LoRA matrices being trained over a frozen model, as one flat vector of floats (what the
/// optimizer, gradient clipping and checkpoints see) with the layout of each slot in it.
///
/// Slot `s` adapts `target` of block `layer`: `y += scale * B (A x)` with `A` `rank` x `inputs`
/// at `parameters[s.offset...]` and `B` `outputs` x `rank` right after it, both row-major (the
/// shapes PEFT's `lora_A.weight` and `lora_B.weight` have). `scale = alpha / rank`.
public struct TrainableLoRA: Sendable {
    public struct Slot: Sendable, Hashable {
        public let layer: Int
        public let target: AdapterSet.Target
        public let rank: Int
        public let inputs: Int
        public let outputs: Int
        /// Where A starts in ``TrainableLoRA/parameters``; B follows at `offset + rank * inputs`.
        public let offset: Int

        public var aCount: Int { rank * inputs }
        public var bOffset: Int { offset + rank * inputs }
        public var count: Int { rank * (inputs + outputs) }
    }

    /// The block projections LoRA can adapt here (training does not adapt the output layer or
    /// the embeddings).
    public static let trainableTargets: [AdapterSet.Target] = [.query, .key, .value, .attentionOutput, .gate, .up, .down]

    public let slots: [Slot]
    public let rank: Int
    public let alpha: Float
    public var scale: Float { alpha / Float(rank) }
    /// Every slot's A then B, in slot order (by layer, then target in ``trainableTargets`` order).
    public var parameters: [Float]
    private let index: [[Int?]]

    /// A new adapter for `targets` of every block: A uniform in `±1/sqrt(inputs)` (PEFT's
    /// default, Kaiming-uniform with `a = sqrt(5)`), B zero, so training starts from the base
    /// model exactly. Deterministic for `seed`.
    public init(model: Model, targets: Set<AdapterSet.Target>, rank: Int, alpha: Float, seed: UInt64) throws {
        try self.init(model: model, targets: targets, rank: rank, alpha: alpha, parameters: nil)
        var random = SplitMix64(seed: seed)
        for slot in slots {
            let bound = 1 / Float(slot.inputs).squareRoot()
            for i in 0..<slot.aCount { parameters[slot.offset + i] = (Float(random.nextUnit()) * 2 - 1) * bound }
        }
    }

    /// An adapter with the given `parameters` (nil: zeros) in this layout.
    public init(model: Model, targets: Set<AdapterSet.Target>, rank: Int, alpha: Float, parameters: [Float]?) throws {
        guard rank > 0 else { throw TrainingError.invalidOption("rank must be positive, not \(rank)") }
        guard !targets.isEmpty else { throw TrainingError.invalidOption("no target modules were chosen") }
        if let bad = targets.first(where: { !Self.trainableTargets.contains($0) }) {
            throw TrainingError.invalidOption("\(bad.rawValue) cannot be trained; choose from \(Self.trainableTargets.map(\.rawValue).joined(separator: ", "))")
        }
        let c = model.configuration
        var slots: [Slot] = []
        var index = [[Int?]](repeating: [Int?](repeating: nil, count: Self.trainableTargets.count), count: c.blockCount)
        var offset = 0
        for layer in 0..<c.blockCount {
            for (t, target) in Self.trainableTargets.enumerated() where targets.contains(target) {
                let matrix = model.layers[layer].matrix(target)
                let slot = Slot(layer: layer, target: target, rank: rank, inputs: matrix.columns, outputs: matrix.rows, offset: offset)
                index[layer][t] = slots.count
                slots.append(slot)
                offset += slot.count
            }
        }
        if let parameters, parameters.count != offset {
            throw TrainingError.invalidOption("the adapter has \(parameters.count) parameters; this layout needs \(offset)")
        }
        self.slots = slots
        self.rank = rank
        self.alpha = alpha
        self.index = index
        self.parameters = parameters ?? [Float](repeating: 0, count: offset)
    }

    /// The targets the slots adapt.
    public var targets: Set<AdapterSet.Target> { Set(slots.map(\.target)) }

    /// The slot adapting `target` of block `layer`, if any.
    public func slot(layer: Int, _ target: AdapterSet.Target) -> Slot? {
        guard let t = Self.trainableTargets.firstIndex(of: target), let s = index[layer][t] else { return nil }
        return slots[s]
    }

    /// The adapter as the inference runtime applies it (unmerged), for generating or scoring
    /// with the weights trained so far.
    public func adapterSet(model: Model) throws -> AdapterSet {
        try AdapterSet(model: model, placements: slots.map { slot in
            AdapterSet.Placement(layer: slot.layer, target: slot.target, delta: try AdapterSet.Delta(
                a: Array(parameters[slot.offset..<slot.bOffset]), b: Array(parameters[slot.bOffset..<(slot.offset + slot.count)]),
                rank: rank, inputs: slot.inputs, outputs: slot.outputs, scale: scale))
        })
    }
}

/// What went wrong setting up or running training.
public enum TrainingError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidOption(String)
    case invalidExample(index: Int, reason: String)
    /// The model's architecture runs but cannot be trained yet.
    case unsupportedArchitecture(String)

    public var description: String {
        switch self {
        case .invalidOption(let message): message
        case .invalidExample(let index, let reason): "training example \(index): \(reason)"
        case .unsupportedArchitecture(let name):
            "training LoRA adapters on '\(name)' models is not supported yet (supported: llama, qwen3, qwen2, gemma3); inference is"
        }
    }
}

// MARK: The low-rank products, forward and backward

extension TrainableLoRA {
    /// Dropout on a slot's input, as PEFT applies it before `A`: each value kept with
    /// probability `1 - rate` and scaled by `1 / (1 - rate)`. The mask of each row is a
    /// xorshift stream seeded by a hash of (`seed`, slot, row), so the backward regenerates it
    /// and rows can be drawn in parallel.
    struct Dropout {
        var rate: Float
        var seed: UInt64

        /// Calls `body(column)` for each kept column of `row`.
        @inline(__always)
        func forEachKept(_ slot: Slot, row: Int, _ body: (Int) -> Void) {
            var state = SplitMix64.mix(seed &+ UInt64(slot.offset) &* 0x100_0000_01B3 &+ UInt64(row) &* 0x9E37_79B9_7F4A_7C15) | 1
            let threshold = UInt64(Double(rate) * 0x1p24)
            for c in 0..<slot.inputs {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                if state >> 40 >= threshold { body(c) }
            }
        }

        /// `input` with dropout applied, or `input` itself when the rate is 0.
        func apply(_ slot: Slot, _ input: UnsafePointer<Float>, count: Int, scratch: FloatBuffer, pool: ComputePool) -> UnsafePointer<Float> {
            guard rate > 0 else { return input }
            let out = scratch.pointer, keepScale = 1 / (1 - rate), width = slot.inputs
            pool.forEachRange(count) { rows in
                for t in rows {
                    let source = input + t * width, destination = out + t * width
                    destination.update(repeating: 0, count: width)
                    forEachKept(slot, row: t) { c in destination[c] = source[c] * keepScale }
                }
            }
            return UnsafePointer(out)
        }
    }

    /// `output += scale * B (A dropout(input))` for `count` rows.
    func forward(_ slot: Slot, input: UnsafePointer<Float>, count: Int, into output: UnsafeMutablePointer<Float>,
                 dropout: Dropout, scratch: LoRAScratch, pool: ComputePool) {
        let x = dropout.apply(slot, input, count: count, scratch: scratch.dropped(count * slot.inputs), pool: pool)
        let u = scratch.low(count * rank)
        parameters.withUnsafeBufferPointer { p in
            let a = p.baseAddress! + slot.offset, b = p.baseAddress! + slot.bOffset
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(rank), Int32(slot.inputs), 1,
                        x, Int32(slot.inputs), a, Int32(slot.inputs), 0, u, Int32(rank))
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(slot.outputs), Int32(rank), scale,
                        u, Int32(rank), b, Int32(rank), 1, output, Int32(slot.outputs))
        }
    }

    /// The backward of ``forward(_:input:count:into:dropout:scratch:)``: adds the gradients of
    /// A and B to `gradients` (laid out as ``parameters``) and `(dU A) * mask` to
    /// `inputGradient`, with `dU = scale * dY B`, `dB = scale * dY^T U`, `dA = dU^T dropout(x)`.
    func backward(_ slot: Slot, input: UnsafePointer<Float>, count: Int, outputGradient dy: UnsafePointer<Float>,
                  inputGradient dx: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>,
                  dropout: Dropout, scratch: LoRAScratch, pool: ComputePool) {
        let x = dropout.apply(slot, input, count: count, scratch: scratch.dropped(count * slot.inputs), pool: pool)
        let u = scratch.low(count * rank), du = scratch.lowGradient(count * rank)
        parameters.withUnsafeBufferPointer { p in
            let a = p.baseAddress! + slot.offset, b = p.baseAddress! + slot.bOffset
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(count), Int32(rank), Int32(slot.inputs), 1,
                        x, Int32(slot.inputs), a, Int32(slot.inputs), 0, u, Int32(rank))
            // dB (outputs x rank) += scale dY^T U
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(slot.outputs), Int32(rank), Int32(count), scale,
                        dy, Int32(slot.outputs), u, Int32(rank), 1, gradients + slot.bOffset, Int32(rank))
            // dU (count x rank) = scale dY B
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(rank), Int32(slot.outputs), scale,
                        dy, Int32(slot.outputs), b, Int32(rank), 0, du, Int32(rank))
            // dA (rank x inputs) += dU^T dropout(x)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rank), Int32(slot.inputs), Int32(count), 1,
                        du, Int32(rank), x, Int32(slot.inputs), 1, gradients + slot.offset, Int32(slot.inputs))
            if dropout.rate > 0 {
                let g = scratch.dropped(count * slot.inputs).pointer, keepScale = 1 / (1 - dropout.rate)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(slot.inputs), Int32(rank), 1,
                            du, Int32(rank), a, Int32(slot.inputs), 0, g, Int32(slot.inputs))
                let width = slot.inputs
                pool.forEachRange(count) { rows in
                    for t in rows {
                        dropout.forEachKept(slot, row: t) { c in dx[t * width + c] += g[t * width + c] * keepScale }
                    }
                }
            } else {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(count), Int32(slot.inputs), Int32(rank), 1,
                            du, Int32(rank), a, Int32(slot.inputs), 1, dx, Int32(slot.inputs))
            }
        }
    }
}

/// One training pass's adapter as the blocks' forward and backward in `Inference` see it.
struct LoRAPass: TrainableAdaptation {
    let lora: TrainableLoRA
    let dropout: TrainableLoRA.Dropout
    let scratch: LoRAScratch

    func forward(layer: Int, target: AdapterSet.Target, input: UnsafePointer<Float>, count: Int,
                 into output: UnsafeMutablePointer<Float>, pool: ComputePool) {
        guard let slot = lora.slot(layer: layer, target) else { return }
        lora.forward(slot, input: input, count: count, into: output, dropout: dropout, scratch: scratch, pool: pool)
    }

    func backward(layer: Int, target: AdapterSet.Target, input: UnsafePointer<Float>, count: Int,
                  outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
                  gradients: UnsafeMutablePointer<Float>, pool: ComputePool) {
        guard let slot = lora.slot(layer: layer, target) else { return }
        lora.backward(slot, input: input, count: count, outputGradient: outputGradient, inputGradient: inputGradient,
                      gradients: gradients, dropout: dropout, scratch: scratch, pool: pool)
    }
}

/// Scratch buffers of the low-rank products, grown on demand.
final class LoRAScratch {
    private var buffers = [FloatBuffer(count: 0), FloatBuffer(count: 0), FloatBuffer(count: 0)]

    private func buffer(_ i: Int, _ count: Int) -> FloatBuffer {
        if buffers[i].count < count { buffers[i] = FloatBuffer(count: count) }
        return buffers[i]
    }

    func dropped(_ count: Int) -> FloatBuffer { buffer(0, count) }
    func low(_ count: Int) -> UnsafeMutablePointer<Float> { buffer(1, count).pointer }
    func lowGradient(_ count: Int) -> UnsafeMutablePointer<Float> { buffer(2, count).pointer }
}
