/// A parsed GGUF file: header, metadata and tensor infos, over storage that holds the tensor data.
///
/// Opening maps the file and parses only the header: tensor data is never copied, and metadata
/// arrays stay encoded until read, so opening costs milliseconds whatever the model's size.
///
/// ```swift
/// let file = try GGUFFile(contentsOf: "model.gguf")
/// let layers = try file.metadata.integer("llama.block_count")
/// let embedding = try file.tensorData(named: "token_embd.weight")
/// ```
public struct GGUFFile: Sendable {
    public static let magic: [UInt8] = [0x47, 0x47, 0x55, 0x46]
    public static let defaultAlignment = 32

    public let path: String?
    public let version: UInt32
    public let metadata: GGUFMetadata
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Absolute offset of the data section.
    public let dataOffset: Int
    public let storage: GGUFStorage
    /// Tensor positions by name bytes (names compare as ggml compares them, byte for byte).
    private let tensorIndex: [[UInt8]: Int]

    /// Maps and parses the file at `path`.
    public init(contentsOf path: String) throws {
        let storage = try GGUFStorage(mapping: path)
        do {
            try self.init(storage: storage, path: path)
        } catch var error as GGUFError {
            error.path = path
            throw error
        }
    }

    /// Parses a copy of `bytes`.
    public init<Bytes: Collection>(bytes: Bytes) throws where Bytes.Element == UInt8 {
        try self.init(storage: GGUFStorage(copying: bytes), path: nil)
    }

    /// Parses `storage`.
    public init(storage: GGUFStorage, path: String? = nil) throws {
        self.storage = storage
        self.path = path
        var cursor = GGUFCursor(storage.bytes)

        try cursor.require(4, "magic")
        let magic = Array(storage.bytes[0..<4])
        guard magic == GGUFFile.magic else { throw GGUFError(.badMagic(magic), offset: 0) }
        cursor.offset = 4

        let version = try cursor.read(UInt32.self, "version")
        guard version != 0 else { throw GGUFError(.unsupportedVersion(version), offset: 4) }
        guard version & 0xFFFF != 0 else { throw GGUFError(.wrongEndianness(version), offset: 4) }
        guard version == 2 || version == 3 else { throw GGUFError(.unsupportedVersion(version), offset: 4) }
        self.version = version

        let rawTensorCount = try cursor.read(UInt64.self, "tensor count")
        let rawKVCount = try cursor.read(UInt64.self, "metadata count")
        // Smallest encodings: a key-value pair is a length, a type and one byte; a tensor info is a
        // name length, n_dims, one dimension, a type and an offset.
        let kvCount = try cursor.checkCount(rawKVCount, minimumSize: 13, "metadata count")
        _ = try cursor.checkCount(rawTensorCount, minimumSize: 32, "tensor count")

        var entries: [GGUFMetadataEntry] = []
        entries.reserveCapacity(kvCount)
        var seenKeys = Set<[UInt8]>()
        for i in 0..<kvCount {
            let keyOffset = cursor.offset
            let key = try cursor.readString("key of metadata entry \(i)")
            guard seenKeys.insert(Array(key.utf8)).inserted else { throw GGUFError(.duplicateKey(key), offset: keyOffset) }
            let typeOffset = cursor.offset
            let rawType = try cursor.read(UInt32.self, "value type of '\(key)'")
            guard let type = GGUFValueType(rawValue: rawType) else {
                throw GGUFError(.invalidValueType(key: key, rawType: rawType), offset: typeOffset)
            }
            let value = try GGUFValueDecoder.decode(type, &cursor, key: key, storage: storage, depth: 0)
            entries.append(GGUFMetadataEntry(key: key, value: value))
        }
        let metadata = try GGUFMetadata(entries)
        self.metadata = metadata

        let alignment = try GGUFFile.alignment(of: metadata)
        self.alignment = alignment

        let tensorCount = try cursor.checkCount(rawTensorCount, minimumSize: 32, "tensor count")
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(tensorCount)
        var index: [[UInt8]: Int] = [:]
        index.reserveCapacity(tensorCount)
        for i in 0..<tensorCount {
            let infoOffset = cursor.offset
            let info = try GGUFFile.readTensorInfo(&cursor, number: i, alignment: alignment)
            let nameBytes = Array(info.name.utf8)
            guard index[nameBytes] == nil else { throw GGUFError(.duplicateTensor(info.name), offset: infoOffset) }
            index[nameBytes] = tensors.count
            tensors.append(info)
        }
        self.tensors = tensors
        self.tensorIndex = index

        let (dataOffset, overflow) = GGUFFile.padded(cursor.offset, alignment)
        self.dataOffset = overflow ? Int.max : dataOffset
        try GGUFFile.checkPlacement(tensors, dataOffset: self.dataOffset, fileSize: storage.count, alignment: alignment)
    }

    // MARK: Access

    public func tensor(named name: String) -> GGUFTensorInfo? { tensorIndex[Array(name.utf8)].map { tensors[$0] } }

    /// The bytes of the tensor called `name`, as a view into the file.
    public func tensorData(named name: String) throws -> GGUFTensorData {
        guard let info = tensor(named: name) else { throw GGUFError(.tensorNotFound(name), path: path) }
        return tensorData(info)
    }

    /// The bytes of `info`, one of this file's tensors.
    public func tensorData(_ info: GGUFTensorInfo) -> GGUFTensorData {
        let start = dataOffset + info.offset
        return GGUFTensorData(info: info, storage: storage, range: start..<(start + info.byteCount))
    }

    /// Sum of all tensors' element counts.
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }

    /// The architecture named by `general.architecture`, if any.
    public var architecture: String? { metadata[GGUFKey.architecture]?.stringValue }

    // MARK: Parsing helpers

    static func alignment(of metadata: GGUFMetadata) throws -> Int {
        guard let value = metadata[GGUFKey.alignment] else { return defaultAlignment }
        guard case .uint32(let raw) = value else {
            throw GGUFError(.invalidAlignment("type is \(value.type.name), expected UINT32"))
        }
        guard raw != 0, raw & (raw - 1) == 0 else {
            throw GGUFError(.invalidAlignment("\(raw) is not a power of two"))
        }
        return Int(raw)
    }

    static func padded(_ value: Int, _ alignment: Int) -> (Int, Bool) {
        let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
        return (sum / alignment * alignment, overflow)
    }

    private static func readTensorInfo(_ cursor: inout GGUFCursor, number: Int, alignment: Int) throws -> GGUFTensorInfo {
        let nameOffset = cursor.offset
        let name = try cursor.readString("name of tensor \(number)")
        let nameBytes = name.utf8.count
        guard nameBytes <= GGUFTensorInfo.maximumNameBytes else {
            throw GGUFError(.tensorNameTooLong(name: name, bytes: nameBytes), offset: nameOffset)
        }
        let dimsOffset = cursor.offset
        let dimensionCount = try cursor.read(UInt32.self, "dimension count of '\(name)'")
        guard (1...4).contains(dimensionCount) else {
            throw GGUFError(.invalidDimensionCount(tensor: name, count: dimensionCount), offset: dimsOffset)
        }
        var shape: [Int] = []
        for d in 0..<Int(dimensionCount) {
            let ne = try cursor.read(UInt64.self, "ne[\(d)] of '\(name)'")
            guard ne <= UInt64(Int64.max) else {
                throw GGUFError(.invalidDimension(tensor: name, index: d, value: ne), offset: cursor.offset - 8)
            }
            shape.append(Int(ne))
        }
        let typeOffset = cursor.offset
        let rawType = try cursor.read(UInt32.self, "type of '\(name)'")
        guard let type = GGMLType(rawValue: rawType) else {
            throw GGUFError(.unknownTensorType(tensor: name, rawType: rawType), offset: typeOffset)
        }
        let offsetPosition = cursor.offset
        let rawOffset = try cursor.read(UInt64.self, "data offset of '\(name)'")
        guard rawOffset % UInt64(alignment) == 0 else {
            throw GGUFError(.misalignedTensorOffset(tensor: name, offset: rawOffset, alignment: alignment), offset: offsetPosition)
        }
        guard rawOffset <= UInt64(Int64.max) else {
            throw GGUFError(.tensorBeyondFile(tensor: name, end: rawOffset, dataSize: cursor.bytes.count), offset: offsetPosition)
        }
        do {
            return try GGUFTensorInfo(name: name, shape: shape, type: type, offset: Int(rawOffset))
        } catch var error as GGUFError {
            error.offset = dimsOffset
            throw error
        }
    }

    /// Every tensor must lie inside the data section, padded to the alignment as ggml writes it,
    /// and no two may overlap.
    private static func checkPlacement(_ tensors: [GGUFTensorInfo], dataOffset: Int, fileSize: Int, alignment: Int) throws {
        guard !tensors.isEmpty else { return }
        let dataSize = max(0, fileSize - min(dataOffset, fileSize))
        let byStart = tensors.sorted { $0.offset < $1.offset }
        for (i, tensor) in byStart.enumerated() {
            let (end, overflow) = tensor.offset.addingReportingOverflow(tensor.byteCount)
            let (paddedEnd, padOverflow) = padded(end, alignment)
            guard !overflow, !padOverflow, dataOffset <= fileSize, paddedEnd <= dataSize else {
                let reported = overflow ? UInt64.max : UInt64(end)
                throw GGUFError(.tensorBeyondFile(tensor: tensor.name, end: reported, dataSize: dataSize))
            }
            if i + 1 < byStart.count, end > byStart[i + 1].offset {
                throw GGUFError(.overlappingTensors(tensor.name, byStart[i + 1].name))
            }
        }
    }
}
