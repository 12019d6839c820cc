/// Owned, 64-byte aligned, zero-initialized memory for activations and scratch: the one place the
/// runtime's float buffers are allocated and freed. Not thread-safe; a session owns its buffers.
public final class FloatBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.initializeMemory(as: Float.self, repeating: 0, count: max(1, count))
    }

    deinit { pointer.deallocate() }
}

/// Owned, 64-byte aligned bytes (quantized activations, repacked or converted weights).
public final class ByteBuffer: @unchecked Sendable {
    public let pointer: UnsafeMutableRawPointer
    public let count: Int

    public init(count: Int) {
        self.count = count
        pointer = UnsafeMutableRawPointer.allocate(byteCount: max(1, count), alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(1, count))
    }

    deinit { pointer.deallocate() }
}
