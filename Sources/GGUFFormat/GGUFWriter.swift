import LocoSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes GGUF files the way ggml does: header, metadata, tensor infos, then each tensor's data
/// padded to the alignment (`general.alignment`, default 32) with zero bytes.
///
/// Writing streams: tensor data is asked for one tensor at a time and may be produced in pieces,
/// so writing a large model needs memory for one tensor at most. Writing is atomic: bytes go to a
/// temporary file in the destination folder, which is renamed over the destination only when
/// everything was written and synced; on any error the temporary file is removed.
///
/// ```swift
/// var writer = GGUFWriter(metadata: metadata)
/// try writer.addTensor(name: "w", shape: [256, 4], type: .f32)
/// try writer.write(to: "out.gguf") { tensor, sink in
///     try rows.withUnsafeBytes { try sink.write($0) }
/// }
/// ```
public struct GGUFWriter: Sendable {
    public var version: UInt32
    public var metadata: GGUFMetadata
    /// Tensors in file order; offsets are assigned by `layout()`.
    public private(set) var tensors: [GGUFTensorInfo] = []

    public init(metadata: GGUFMetadata = GGUFMetadata(), version: UInt32 = 3) {
        self.metadata = metadata
        self.version = version
    }

    /// A writer that reproduces `file`: same version, metadata, tensor order, shapes and types.
    public init(copying file: GGUFFile) {
        self.init(metadata: file.metadata, version: file.version)
        tensors = file.tensors
    }

    /// Appends a tensor; throws on a duplicate name or a shape ggml would reject.
    public mutating func addTensor(name: String, shape: [Int], type: GGMLType) throws {
        guard !tensors.contains(where: { $0.name.utf8.elementsEqual(name.utf8) }) else { throw GGUFError(.duplicateTensor(name)) }
        tensors.append(try GGUFTensorInfo(name: name, shape: shape, type: type))
    }

    /// The tensors with the offsets they will be written at.
    public func layout() throws -> [GGUFTensorInfo] {
        let alignment = try GGUFFile.alignment(of: metadata)
        var offset = 0
        return try tensors.map { tensor in
            let placed = tensor.withOffset(offset)
            let (end, endOverflow) = offset.addingReportingOverflow(tensor.byteCount)
            let (next, overflow) = GGUFFile.padded(end, alignment)
            guard !endOverflow, !overflow else { throw GGUFError(.elementCountOverflow(tensor: tensor.name)) }
            offset = next
            return placed
        }
    }

    /// The encoded header, metadata and tensor infos, without the padding before the data.
    public func encodedHeader() throws -> [UInt8] {
        guard version == 2 || version == 3 else { throw GGUFError(.unsupportedVersion(version)) }
        var out: [UInt8] = GGUFFile.magic
        GGUFEncoder.append(version, to: &out)
        GGUFEncoder.append(UInt64(tensors.count), to: &out)
        GGUFEncoder.append(UInt64(metadata.count), to: &out)
        for entry in metadata {
            GGUFEncoder.append(entry.key, to: &out)
            GGUFEncoder.append(entry.value.type.rawValue, to: &out)
            GGUFEncoder.append(entry.value, to: &out)
        }
        for tensor in try layout() {
            GGUFEncoder.append(tensor.name, to: &out)
            GGUFEncoder.append(UInt32(tensor.shape.count), to: &out)
            for n in tensor.shape { GGUFEncoder.append(UInt64(n), to: &out) }
            GGUFEncoder.append(tensor.type.rawValue, to: &out)
            GGUFEncoder.append(UInt64(tensor.offset), to: &out)
        }
        return out
    }

    /// Writes the file atomically. `data` is called once per tensor, in order, and must write
    /// exactly `tensor.byteCount` bytes to the sink. `progress` is told (tensors done, total).
    public func write(
        to path: String,
        progress: ((Int, Int) -> Void)? = nil,
        data: (GGUFTensorInfo, GGUFDataSink) throws -> Void
    ) throws {
        let header = try encodedHeader()
        let placed = try layout()
        let alignment = try GGUFFile.alignment(of: metadata)
        let output = try GGUFError.wrapping { () throws(FileSystemFailure) in try AtomicFile(destination: path) }
        do {
            try GGUFError.wrapping { () throws(FileSystemFailure) in
                try output.write(header)
                // Padding before the data section is written even without tensors, as gguf-py does.
                try output.writeZeros(GGUFFile.padded(header.count, alignment).0 - header.count)
            }
            for (i, tensor) in placed.enumerated() {
                let before = output.bytesWritten
                try data(tensor, GGUFDataSink(output: output))
                let written = output.bytesWritten - before
                guard written == tensor.byteCount else {
                    throw GGUFError(.tensorDataSizeMismatch(tensor: tensor.name, expected: tensor.byteCount, written: written), path: path)
                }
                try GGUFError.wrapping { () throws(FileSystemFailure) in
                    try output.writeZeros(GGUFFile.padded(tensor.byteCount, alignment).0 - tensor.byteCount)
                }
                progress?(i + 1, placed.count)
            }
            try GGUFError.wrapping { () throws(FileSystemFailure) in try output.commit() }
        } catch {
            output.abandon()
            throw error
        }
    }

    /// Writes `file` back unchanged (byte-identical for files laid out the way ggml writes them).
    public static func rewrite(_ file: GGUFFile, to path: String) throws {
        try GGUFWriter(copying: file).write(to: path) { tensor, sink in
            try file.tensorData(file.tensor(named: tensor.name)!).withUnsafeBytes { try sink.write($0) }
        }
    }
}

/// Where a tensor producer writes its bytes; pieces may be of any size.
public struct GGUFDataSink: Sendable {
    let output: AtomicFile

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try GGUFError.wrapping { () throws(FileSystemFailure) in try output.write(bytes) }
    }

    public func write<T: BitwiseCopyable>(contentsOf values: [T]) throws {
        try values.withUnsafeBytes { try write($0) }
    }
}

/// Little-endian encoding of GGUF values.
enum GGUFEncoder {
    static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    static func append(_ string: String, to out: inout [UInt8]) {
        append(UInt64(string.utf8.count), to: &out)
        out.append(contentsOf: string.utf8)
    }

    static func append(_ value: GGUFValue, to out: inout [UInt8]) {
        switch value {
        case .uint8(let v): append(v, to: &out)
        case .int8(let v): append(v, to: &out)
        case .uint16(let v): append(v, to: &out)
        case .int16(let v): append(v, to: &out)
        case .uint32(let v): append(v, to: &out)
        case .int32(let v): append(v, to: &out)
        case .uint64(let v): append(v, to: &out)
        case .int64(let v): append(v, to: &out)
        case .float32(let v): append(v.bitPattern, to: &out)
        case .float64(let v): append(v.bitPattern, to: &out)
        case .bool(let v): out.append(v ? 1 : 0)
        case .string(let v): append(v, to: &out)
        case .array(let array):
            append(array.elementType.rawValue, to: &out)
            append(UInt64(array.count), to: &out)
            if let (storage, range) = array.encodedRange {
                storage.withUnsafeBytes(in: range) { out.append(contentsOf: $0) }
            } else {
                for element in array.values { append(element, to: &out) }
            }
        }
    }
}

