import CKernels

/// The keys and values of every layer for the positions a session has seen: per layer,
/// `capacity` positions of `kvHeads x headDimension` keys and as many values, position-major.
///
/// F16 (llama.cpp's default cache) halves the memory and the bytes a decode step reads; F32 is
/// what the parity settings of llama.cpp use. With an F16 cache, ``Numerics/llamaCpp`` attention
/// rounds queries and probabilities to F16 as ggml does; fast attention keeps them in F32.
/// Capacity grows by doubling up to `maximumCapacity` (the model's context length).
public final class KVCache: @unchecked Sendable {
    public enum Precision: String, Sendable, CaseIterable {
        case f32, f16

        /// A session's cache when none is asked for: F16 for ``Numerics/fast`` (as llama.cpp's
        /// default), F32 for ``Numerics/llamaCpp`` (the cache of its parity settings).
        public static func standard(for numerics: Numerics) -> Precision { numerics == .fast ? .f16 : .f32 }
    }

    public let layers: Int
    public let kvHeads: Int
    public let headDimension: Int
    public let precision: Precision
    public let maximumCapacity: Int
    public private(set) var capacity: Int
    private var keys: [ByteBuffer]
    private var values: [ByteBuffer]

    public init(layers: Int, kvHeads: Int, headDimension: Int, maximumCapacity: Int, precision: Precision = .f32, initialCapacity: Int = 256) {
        self.layers = layers
        self.kvHeads = kvHeads
        self.headDimension = headDimension
        self.precision = precision
        self.maximumCapacity = maximumCapacity
        capacity = min(maximumCapacity, max(1, initialCapacity))
        let bytes = capacity * kvHeads * headDimension * precision.elementBytes
        keys = (0..<layers).map { _ in ByteBuffer(count: bytes) }
        values = (0..<layers).map { _ in ByteBuffer(count: bytes) }
    }

    /// Values per position in one layer (`kvHeads * headDimension`).
    public var rowWidth: Int { kvHeads * headDimension }

    /// Grows the cache to hold at least `positions` positions (at most `maximumCapacity`),
    /// keeping what it holds.
    public func reserve(_ positions: Int) {
        precondition(positions <= maximumCapacity, "KV cache holds at most \(maximumCapacity) positions")
        guard positions > capacity else { return }
        let newCapacity = min(maximumCapacity, max(positions, capacity * 2))
        let oldBytes = capacity * rowWidth * precision.elementBytes
        let newBytes = newCapacity * rowWidth * precision.elementBytes
        func grown(_ old: ByteBuffer) -> ByteBuffer {
            let buffer = ByteBuffer(count: newBytes)
            buffer.pointer.copyMemory(from: old.pointer, byteCount: oldBytes)
            return buffer
        }
        keys = keys.map(grown)
        values = values.map(grown)
        capacity = newCapacity
    }

    /// Stores `count` positions of keys and values (each `count x rowWidth` floats) at `start`.
    public func store(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, at start: Int, count: Int) {
        precondition(start >= 0 && start + count <= capacity, "positions \(start)..<\(start + count) beyond the capacity \(capacity)")
        let n = count * rowWidth
        let offset = start * rowWidth
        switch precision {
        case .f32:
            (keys[layer].pointer.assumingMemoryBound(to: Float.self) + offset).update(from: k, count: n)
            (values[layer].pointer.assumingMemoryBound(to: Float.self) + offset).update(from: v, count: n)
        case .f16:
            loco_f32_to_f16_row(k, keys[layer].pointer.assumingMemoryBound(to: UInt16.self) + offset, n)
            loco_f32_to_f16_row(v, values[layer].pointer.assumingMemoryBound(to: UInt16.self) + offset, n)
        }
    }

    func keys(layer: Int) -> UnsafeRawPointer { UnsafeRawPointer(keys[layer].pointer) }
    func values(layer: Int) -> UnsafeRawPointer { UnsafeRawPointer(values[layer].pointer) }

    /// Bytes held by the cache now.
    public var byteCount: Int { 2 * layers * capacity * rowWidth * precision.elementBytes }
}

extension KVCache.Precision {
    /// Bytes of one cached value.
    public var elementBytes: Int { self == .f32 ? 4 : 2 }
}
