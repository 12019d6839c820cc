import Foundation
import Adapters
import LocoTestSupport
import Testing

/// A safetensors file from a header text and data, with an optional wrong length field.
func rawSafeTensors(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
    let json = Array(header.utf8)
    return withUnsafeBytes(of: (length ?? UInt64(json.count)).littleEndian) { Array($0) } + json + data
}

/// Parses `bytes`, which must fail with a SafeTensorsError whose kind satisfies `check`.
func expectRejected(
    safetensors bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation, _ check: (SafeTensorsError.Kind) -> Bool
) {
    do {
        let file = try SafeTensorsFile(bytes: bytes)
        Issue.record("parsed without error: \(file.tensors.map(\.name))", sourceLocation: sourceLocation)
    } catch {
        #expect(check(error.kind), "unexpected error: \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct SafeTensorsTests {
    /// Values exactly representable in F16 and BF16, so every dtype reads back bit-identical.
    static let values: [Float] = [1, -2, 0.5, 0.375, -0, 1024, 3.0517578e-05, -7]

    @Test func writtenFilesReadBackExactly() throws {
        var writer = SafeTensorsWriter(metadata: ["format": "pt", "note": "a \"quoted\" value\n"])
        try writer.addTensor(name: "z.f32", shape: [2, 4], values: Self.values)
        try writer.addTensor(name: "a.f16", shape: [8], values: Self.values, dtype: .f16)
        try writer.addTensor(name: "m.bf16", shape: [4, 1, 2], values: Self.values, dtype: .bf16)
        try writer.addTensor(name: "empty", shape: [0, 3], values: [])
        let bytes = writer.encoded()
        let file = try SafeTensorsFile(bytes: bytes)
        #expect(file.metadata == writer.metadata)
        #expect(file.tensors.map(\.name) == ["a.f16", "empty", "m.bf16", "z.f32"])
        #expect(file.tensor(named: "m.bf16")?.shape == [4, 1, 2])
        #expect(file.tensor(named: "a.f16")?.dtype == .f16)
        for name in ["z.f32", "a.f16", "m.bf16"] {
            #expect(try file.floats(named: name).map(\.bitPattern) == Self.values.map(\.bitPattern), "\(name)")
        }
        #expect(try file.floats(named: "empty").isEmpty)
        // Deterministic, 8-byte aligned data, F32 data in place.
        #expect(writer.encoded() == bytes)
        #expect(file.dataOffset % 8 == 0)
        let f32 = file.tensor(named: "z.f32")!
        #expect(file.withUnsafeBytes(of: f32) { Array($0) } == Self.values.withUnsafeBytes { Array($0) })
    }

    @Test func roundingToHalvesIsNearestEven() throws {
        var writer = SafeTensorsWriter()
        // 1 + 2^-11 is halfway between two F16 values; 1 + 2^-8 between two BF16 values: both round to even (1).
        try writer.addTensor(name: "h", shape: [2], values: [1 + 0x1p-11, 1 + 3 * 0x1p-11], dtype: .f16)
        try writer.addTensor(name: "b", shape: [2], values: [1 + 0x1p-8, 1 + 3 * 0x1p-8], dtype: .bf16)
        let file = try SafeTensorsFile(bytes: writer.encoded())
        #expect(try file.floats(named: "h") == [1, 1 + 0x1p-9])
        #expect(try file.floats(named: "b") == [1, 1 + 0x1p-6])
    }

    @Test func writerRejectsBadTensors() {
        var writer = SafeTensorsWriter()
        #expect(throws: SafeTensorsError(.invalidTensor(name: "x", reason: "shape [2, 2] holds 4 values, 3 given"))) {
            try writer.addTensor(name: "x", shape: [2, 2], values: [1, 2, 3])
        }
        #expect(throws: SafeTensorsError.self) { try writer.addTensor(name: "__metadata__", shape: [1], values: [1]) }
        #expect(throws: SafeTensorsError.self) { try writer.addTensor(name: "n", shape: [-1], values: []) }
        #expect(throws: Never.self) { try writer.addTensor(name: "x", shape: [1], values: [1]) }
        #expect(throws: SafeTensorsError(.duplicateTensor("x"))) { try writer.addTensor(name: "x", shape: [1], values: [1]) }
    }

    @Test func writesAtomically() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/a.safetensors"
        var writer = SafeTensorsWriter()
        try writer.addTensor(name: "x", shape: [1], values: [1])
        try writer.write(to: path)
        try writer.addTensor(name: "y", shape: [2], values: [2, 3])
        try writer.write(to: path)
        #expect(try SafeTensorsFile(contentsOf: path).tensors.map(\.name) == ["x", "y"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["a.safetensors"])
        do {
            try writer.write(to: dir + "/missing/b.safetensors")
            Issue.record("wrote into a missing folder")
        } catch {
            guard case .io(operation: "create", _, _, _) = error.kind else { Issue.record("\(error)"); return }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["a.safetensors"])
    }

    // MARK: Malformed files

    static let entry = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#

    @Test func theBaseCaseIsValid() throws {
        let file = try SafeTensorsFile(bytes: rawSafeTensors(Self.entry, data: [UInt8](repeating: 0, count: 8)))
        #expect(file.tensors.map(\.name) == ["x"])
    }

    @Test func truncatedFiles() throws {
        expectRejected(safetensors: [1, 0, 0]) { $0 == .fileTooShort(size: 3) }
        expectRejected(safetensors: rawSafeTensors(Self.entry, data: [UInt8](repeating: 0, count: 8), length: 1000)) {
            $0 == .headerBeyondFile(headerLength: 1000, available: Self.entry.utf8.count + 8)
        }
        expectRejected(safetensors: rawSafeTensors(Self.entry, length: 200_000_000)) {
            $0 == .headerTooLarge(headerLength: 200_000_000, limit: SafeTensorsFile.maximumHeaderLength)
        }
        expectRejected(safetensors: rawSafeTensors(Self.entry, data: [0, 0, 0, 0, 0])) {
            $0 == .offsetsBeyondData(tensor: "x", begin: 0, end: 8, dataSize: 5)
        }
        // Every prefix of a valid file is rejected with a typed error, never a crash.
        var writer = SafeTensorsWriter(metadata: ["k": "v"])
        try writer.addTensor(name: "a", shape: [3], values: [1, 2, 3], dtype: .f16)
        try writer.addTensor(name: "b", shape: [1, 2], values: [4, 5])
        let bytes = writer.encoded()
        for n in 0..<bytes.count {
            #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(bytes: bytes[0..<n]) }
        }
    }

    @Test func badJSON() {
        for header in [#"{"x": {"#, #"{"x":1,}"#, #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} junk"#,
                       "{\"\u{1}\":1}", #"{"x":"\ud800"}"#] {
            expectRejected(safetensors: rawSafeTensors(header, data: [UInt8](repeating: 0, count: 8))) {
                if case .invalidHeader = $0 { true } else { false }
            }
        }
        var notUTF8 = rawSafeTensors(#"{"x":1}"#)
        notUTF8[10] = 0xFF
        expectRejected(safetensors: notUTF8) { $0 == .invalidHeader("string is not valid UTF-8 at header byte 1") }
        expectRejected(safetensors: rawSafeTensors(" " + Self.entry)) { $0 == .invalidHeader("the JSON header must start with '{'") }
        expectRejected(safetensors: rawSafeTensors(#"{"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"x":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}"#)) {
            if case .invalidHeader(let reason) = $0 { reason.contains("duplicate key \"x\"") } else { false }
        }
        expectRejected(safetensors: rawSafeTensors(#"{"__metadata__":{"k":1}}"#)) {
            if case .invalidHeader(let reason) = $0 { reason.contains("'k'") } else { false }
        }
        var deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        deep = #"{"x":"# + deep + "}"
        expectRejected(safetensors: rawSafeTensors(deep)) { if case .invalidHeader = $0 { true } else { false } }
    }

    @Test func badEntries() {
        let zeros = [UInt8](repeating: 0, count: 8)
        func entry(_ json: String) -> [UInt8] { rawSafeTensors(#"{"x":"# + json + "}", data: zeros) }
        let cases: [(String, String)] = [
            (#"[1]"#, "entry is an array, expected an object"),
            (#"{"shape":[2],"data_offsets":[0,8]}"#, "no dtype"),
            (#"{"dtype":4,"shape":[2],"data_offsets":[0,8]}"#, "dtype is a number, expected a string"),
            (#"{"dtype":"F32","data_offsets":[0,8]}"#, "shape is missing or not an array"),
            (#"{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}"#, "shape must be an array of non-negative integers, found -2"),
            (#"{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}"#, "shape must be an array of non-negative integers, found 2.0"),
            (#"{"dtype":"F32","shape":[2],"data_offsets":[0]}"#, "data_offsets must be two non-negative integers [begin, end]"),
            (#"{"dtype":"F32","shape":[0],"data_offsets":[8,0]}"#, "data_offsets [8, 0] end before they begin"),
            (#"{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}"#, "unexpected key 'extra' (expected dtype, shape and data_offsets)"),
            (#"{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}"#, "the element count of shape [4294967296, 4294967296] overflows"),
        ]
        for (json, reason) in cases {
            expectRejected(safetensors: entry(json)) { $0 == .invalidEntry(tensor: "x", reason: reason) }
        }
    }

    @Test(arguments: ["I64", "F64", "U8", "BOOL", "f32", "F8_E4M3"])
    func unsupportedDTypes(_ dtype: String) {
        let header = #"{"x":{"dtype":""# + dtype + #"","shape":[1],"data_offsets":[0,8]}}"#
        expectRejected(safetensors: rawSafeTensors(header, data: [UInt8](repeating: 0, count: 8))) {
            $0 == .unsupportedDType(tensor: "x", dtype: dtype)
        }
        let message = SafeTensorsError(.unsupportedDType(tensor: "x", dtype: dtype), path: "/a/b.safetensors").description
        #expect(message == "/a/b.safetensors: tensor 'x': dtype '\(dtype)' is not supported (expected F32, F16 or BF16)")
    }

    @Test func shapesAndOffsetsMustAgree() {
        let zeros = [UInt8](repeating: 0, count: 16)
        expectRejected(safetensors: rawSafeTensors(#"{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}"#, data: zeros)) {
            $0 == .sizeMismatch(tensor: "x", shape: [3], dtype: "F32", expectedBytes: 12, spanBytes: 16)
        }
        expectRejected(safetensors: rawSafeTensors(#"{"x":{"dtype":"F16","shape":[2,2],"data_offsets":[0,16]}}"#, data: zeros)) {
            $0 == .sizeMismatch(tensor: "x", shape: [2, 2], dtype: "F16", expectedBytes: 8, spanBytes: 16)
        }
        expectRejected(safetensors: rawSafeTensors(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, data: zeros)) {
            $0 == .overlappingTensors("a", "b")
        }
        expectRejected(safetensors: rawSafeTensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, data: zeros)) {
            $0 == .gapBeforeTensor(tensor: "b", begin: 8, expected: 4)
        }
        expectRejected(safetensors: rawSafeTensors(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: zeros)) {
            $0 == .unindexedTrailingData(end: 8, dataSize: 16)
        }
        // Out of file order in the header is fine as long as the data is tiled.
        #expect(throws: Never.self) {
            try SafeTensorsFile(bytes: rawSafeTensors(#"{"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"a":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}}"#, data: zeros))
        }
    }

    @Test func errorsFromFilesNameTheFile() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.safetensors"
        try Data(rawSafeTensors(Self.entry, data: [0, 0])).write(to: URL(fileURLWithPath: path))
        do {
            _ = try SafeTensorsFile(contentsOf: path)
            Issue.record("parsed")
        } catch {
            #expect(error.path == path)
            #expect(error.description == "\(path): tensor 'x': data_offsets [0, 8] reach past the 2 bytes of data")
        }
        #expect(throws: SafeTensorsError.self) { try SafeTensorsFile(contentsOf: dir + "/missing.safetensors") }
    }
}
