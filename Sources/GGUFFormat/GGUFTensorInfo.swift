/// One tensor's entry in the file: name, shape, type and where its data lies.
public struct GGUFTensorInfo: Sendable, Equatable, Hashable {
    public let name: String
    /// `ne` in ggml order: `shape[0]` is the row length (innermost dimension).
    public let shape: [Int]
    public let type: GGMLType
    /// Offset of the data relative to the start of the data section.
    public let offset: Int
    public let elementCount: Int
    public let byteCount: Int

    /// A tensor description; throws if the name or shape is not one ggml accepts.
    public init(name: String, shape: [Int], type: GGMLType, offset: Int = 0) throws {
        guard name.utf8.count <= GGUFTensorInfo.maximumNameBytes else {
            throw GGUFError(.tensorNameTooLong(name: name, bytes: name.utf8.count))
        }
        guard (1...4).contains(shape.count) else {
            throw GGUFError(.invalidDimensionCount(tensor: name, count: UInt32(clamping: shape.count)))
        }
        var elements = 1
        for (i, n) in shape.enumerated() {
            guard n >= 0 else { throw GGUFError(.invalidDimension(tensor: name, index: i, value: UInt64(bitPattern: Int64(n)))) }
            let (product, overflow) = elements.multipliedReportingOverflow(by: n)
            guard !overflow else { throw GGUFError(.elementCountOverflow(tensor: name)) }
            elements = product
        }
        guard shape[0] % type.blockSize == 0 else {
            throw GGUFError(.rowNotWholeBlocks(tensor: name, rowLength: shape[0], type: type))
        }
        guard let bytes = type.byteCount(elements: elements) else { throw GGUFError(.elementCountOverflow(tensor: name)) }
        self.name = name
        self.shape = shape
        self.type = type
        self.offset = offset
        self.elementCount = elements
        self.byteCount = bytes
    }

    /// ggml's `GGML_MAX_NAME` is 64 including the terminating NUL.
    public static let maximumNameBytes = 63

    public var rowLength: Int { shape[0] }
    public var rowCount: Int { shape[0] == 0 ? 0 : elementCount / shape[0] }
    public var rowByteCount: Int { type.byteCount(elements: shape[0]) ?? 0 }

    func withOffset(_ offset: Int) -> GGUFTensorInfo {
        // Shape and type were validated by the initializer that made `self`.
        try! GGUFTensorInfo(name: name, shape: shape, type: type, offset: offset)
    }
}

/// A zero-copy view of one tensor's bytes in the file's storage.
public struct GGUFTensorData: Sendable {
    public let info: GGUFTensorInfo
    public let storage: GGUFStorage
    /// Absolute byte range in the storage.
    public let range: Range<Int>

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes(in: range, body)
    }
}
