import Foundation
import GGUFFormat
import LocoTestSupport
import Testing

/// Hand-built GGUF bytes, so each test can break exactly one thing.
struct RawGGUF {
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var tensorCount: UInt64?
    var kvCount: UInt64?
    var entries: [[UInt8]] = []
    var infos: [[UInt8]] = []
    var alignment = 32
    var data: [UInt8] = []

    func bytes() -> [UInt8] {
        var out = magic
        append(version, &out)
        append(tensorCount ?? UInt64(infos.count), &out)
        append(kvCount ?? UInt64(entries.count), &out)
        for e in entries { out += e }
        for i in infos { out += i }
        if !infos.isEmpty || !data.isEmpty {
            while out.count % alignment != 0 { out.append(0) }
        }
        return out + data
    }

    static func string(_ s: String) -> [UInt8] { string(Array(s.utf8)) }
    static func string(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        append(UInt64(bytes.count), &out)
        return out + bytes
    }

    static func entry(_ key: String, type: UInt32, _ payload: [UInt8]) -> [UInt8] {
        var out = string(key)
        append(type, &out)
        return out + payload
    }

    static func u32(_ key: String, _ v: UInt32) -> [UInt8] { entry(key, type: 4, le(v)) }

    static func info(_ name: String, _ ne: [UInt64], type: UInt32 = 0, offset: UInt64 = 0, dims: UInt32? = nil) -> [UInt8] {
        var out = string(name)
        append(dims ?? UInt32(ne.count), &out)
        for n in ne { append(n, &out) }
        append(type, &out)
        append(offset, &out)
        return out
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

private func append<T: FixedWidthInteger>(_ v: T, _ out: inout [UInt8]) { out += RawGGUF.le(v) }

/// Parses `bytes`, which must fail with an error whose kind satisfies `check`.
func expectRejected(
    _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation, _ check: (GGUFError.Kind) -> Bool
) {
    do {
        let file = try GGUFFile(bytes: bytes)
        Issue.record("parsed without error: \(file.metadata.keys), \(file.tensors.map(\.name))", sourceLocation: sourceLocation)
    } catch let error as GGUFError {
        #expect(check(error.kind), "unexpected error: \(error)", sourceLocation: sourceLocation)
        #expect(!error.description.isEmpty)
    } catch {
        Issue.record("not a GGUFError: \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct ValidationTests {
    /// A valid file of one F32 tensor of 8 values; the cases below break it one way at a time.
    static func valid() -> RawGGUF {
        var raw = RawGGUF()
        raw.entries = [RawGGUF.entry("general.architecture", type: 8, RawGGUF.string("llama"))]
        raw.infos = [RawGGUF.info("w", [8])]
        raw.data = [UInt8](repeating: 0, count: 32)
        return raw
    }

    @Test func theBaseCaseIsValid() throws {
        let file = try GGUFFile(bytes: Self.valid().bytes())
        #expect(file.tensors.count == 1)
    }

    @Test func badMagic() {
        var raw = Self.valid()
        raw.magic = Array("GGML".utf8)
        expectRejected(raw.bytes()) { if case .badMagic = $0 { true } else { false } }
        expectRejected([0x47, 0x47]) { if case .truncated = $0 { true } else { false } }
    }

    @Test(arguments: [UInt32(0), 1, 4, 0xFFFF_FFFF])
    func unsupportedVersions(_ version: UInt32) {
        var raw = Self.valid()
        raw.version = version
        expectRejected(raw.bytes()) { $0 == .unsupportedVersion(version) }
    }

    @Test func bigEndianVersion() {
        var raw = Self.valid()
        raw.version = 0x0300_0000
        expectRejected(raw.bytes()) { $0 == .wrongEndianness(0x0300_0000) }
    }

    @Test func countsBeyondTheFile() {
        var raw = Self.valid()
        raw.kvCount = UInt64.max
        expectRejected(raw.bytes()) { if case .countExceedsFile(what: "metadata count", _) = $0 { true } else { false } }
        raw = Self.valid()
        raw.tensorCount = 1 << 40
        expectRejected(raw.bytes()) { if case .countExceedsFile(what: "tensor count", _) = $0 { true } else { false } }
        raw = Self.valid()
        raw.kvCount = 2
        expectRejected(raw.bytes()) { _ in true }
    }

    @Test func stringAndArrayLengthsBeyondTheFile() {
        var raw = Self.valid()
        raw.entries = [RawGGUF.le(UInt64(1) << 62) + Array("k".utf8)]
        expectRejected(raw.bytes()) { if case .countExceedsFile = $0 { true } else { false } }
        raw = Self.valid()
        raw.entries = [RawGGUF.entry("k", type: 8, RawGGUF.le(UInt64.max))]
        expectRejected(raw.bytes()) { if case .countExceedsFile = $0 { true } else { false } }
        raw = Self.valid()
        raw.entries = [RawGGUF.entry("k", type: 9, RawGGUF.le(UInt32(4)) + RawGGUF.le(UInt64(1) << 60))]
        expectRejected(raw.bytes()) { if case .countExceedsFile(what: "array length of 'k'", _) = $0 { true } else { false } }
        raw = Self.valid()
        // An array of strings whose second string's length runs past the end.
        let strings = RawGGUF.le(UInt32(8)) + RawGGUF.le(UInt64(2)) + RawGGUF.string("ok") + RawGGUF.le(UInt64(1) << 40)
        raw.entries = [RawGGUF.entry("k", type: 9, strings)]
        expectRejected(raw.bytes()) { if case .countExceedsFile = $0 { true } else { false } }
    }

    @Test func invalidValueTypes() {
        var raw = Self.valid()
        raw.entries = [RawGGUF.entry("k", type: 13, [0])]
        expectRejected(raw.bytes()) { $0 == .invalidValueType(key: "k", rawType: 13) }
        raw.entries = [RawGGUF.entry("k", type: 9, RawGGUF.le(UInt32(99)) + RawGGUF.le(UInt64(1)) + [0])]
        expectRejected(raw.bytes()) { $0 == .invalidValueType(key: "k", rawType: 99) }
    }

    @Test func boolsOtherThanZeroOrOne() {
        var raw = Self.valid()
        raw.entries = [RawGGUF.entry("b", type: 7, [2])]
        expectRejected(raw.bytes()) { $0 == .invalidBool(key: "b", value: 2) }
        raw.entries = [RawGGUF.entry("b", type: 9, RawGGUF.le(UInt32(7)) + RawGGUF.le(UInt64(3)) + [1, 0, 255])]
        expectRejected(raw.bytes()) { $0 == .invalidBool(key: "b[2]", value: 255) }
    }

    @Test func invalidUTF8InKey() {
        var raw = Self.valid()
        raw.entries = [RawGGUF.string([0x66, 0xC3, 0x28]) + RawGGUF.le(UInt32(0)) + [1]]
        expectRejected(raw.bytes()) { if case .invalidUTF8 = $0 { true } else { false } }
    }

    @Test func duplicates() {
        var raw = Self.valid()
        raw.entries = [RawGGUF.u32("k", 1), RawGGUF.u32("k", 2)]
        expectRejected(raw.bytes()) { $0 == .duplicateKey("k") }
        raw = Self.valid()
        raw.infos = [RawGGUF.info("w", [8]), RawGGUF.info("w", [8], offset: 32)]
        raw.data = [UInt8](repeating: 0, count: 64)
        expectRejected(raw.bytes()) { $0 == .duplicateTensor("w") }
    }

    /// "é" as one scalar and as "e" + combining accent are different keys to ggml (byte compare),
    /// though Swift strings call them equal.
    @Test func keysAndNamesCompareByBytes() throws {
        var raw = Self.valid()
        raw.entries = [RawGGUF.u32("caf\u{E9}", 1), RawGGUF.u32("cafe\u{301}", 2)]
        raw.infos = [RawGGUF.info("w\u{E9}", [8]), RawGGUF.info("we\u{301}", [8], offset: 32)]
        raw.data = [UInt8](repeating: 0, count: 64)
        let file = try GGUFFile(bytes: raw.bytes())
        #expect(try file.metadata.integer("caf\u{E9}") == 1)
        #expect(try file.metadata.integer("cafe\u{301}") == 2)
        #expect(file.tensor(named: "we\u{301}")?.offset == 32)
    }

    @Test func tensorNameLength() throws {
        var raw = Self.valid()
        raw.infos = [RawGGUF.info(String(repeating: "n", count: 63), [8])]
        _ = try GGUFFile(bytes: raw.bytes())
        raw.infos = [RawGGUF.info(String(repeating: "n", count: 64), [8])]
        expectRejected(raw.bytes()) { if case .tensorNameTooLong(_, 64) = $0 { true } else { false } }
    }

    @Test(arguments: [UInt32(0), 5, 1000])
    func dimensionCounts(_ dims: UInt32) {
        var raw = Self.valid()
        raw.infos = [RawGGUF.info("w", [8, 1, 1, 1, 1].prefix(Int(min(dims, 5))).map { $0 }, dims: dims)]
        expectRejected(raw.bytes()) { $0 == .invalidDimensionCount(tensor: "w", count: dims) }
    }

    @Test func rowNotWholeBlocks() {
        var raw = Self.valid()
        raw.infos = [RawGGUF.info("q", [33, 1], type: GGMLType.q4_0.rawValue)]
        expectRejected(raw.bytes()) { $0 == .rowNotWholeBlocks(tensor: "q", rowLength: 33, type: .q4_0) }
        raw.infos = [RawGGUF.info("k", [128], type: GGMLType.q4_K.rawValue)]
        expectRejected(raw.bytes()) { $0 == .rowNotWholeBlocks(tensor: "k", rowLength: 128, type: .q4_K) }
    }

    @Test func elementCountOverflowAndHugeDimensions() {
        var raw = Self.valid()
        raw.infos = [RawGGUF.info("w", [1 << 32, 1 << 32, 1 << 32])]
        expectRejected(raw.bytes()) { $0 == .elementCountOverflow(tensor: "w") }
        raw.infos = [RawGGUF.info("w", [1 << 61, 1])]  // elements fit, bytes (x4) do not
        expectRejected(raw.bytes()) { $0 == .elementCountOverflow(tensor: "w") }
        raw.infos = [RawGGUF.info("w", [UInt64.max])]
        expectRejected(raw.bytes()) { $0 == .invalidDimension(tensor: "w", index: 0, value: .max) }
    }

    @Test(arguments: [UInt32(4), 5, 31, 33, 36, 42, 0xFFFF_FFFF])
    func unknownTensorTypes(_ type: UInt32) {
        var raw = Self.valid()
        raw.infos = [RawGGUF.info("w", [8], type: type)]
        expectRejected(raw.bytes()) { $0 == .unknownTensorType(tensor: "w", rawType: type) }
    }

    @Test func offsets() {
        var raw = Self.valid()
        raw.infos = [RawGGUF.info("w", [8], offset: 16)]
        expectRejected(raw.bytes()) { $0 == .misalignedTensorOffset(tensor: "w", offset: 16, alignment: 32) }
        raw.infos = [RawGGUF.info("w", [8], offset: 32)]
        expectRejected(raw.bytes()) { if case .tensorBeyondFile(tensor: "w", _, _) = $0 { true } else { false } }
        raw.infos = [RawGGUF.info("w", [8], offset: UInt64(1) << 63)]
        expectRejected(raw.bytes()) { if case .tensorBeyondFile = $0 { true } else { false } }
        raw.infos = [RawGGUF.info("w", [16]), RawGGUF.info("v", [8], offset: 32)]
        raw.data = [UInt8](repeating: 0, count: 96)
        expectRejected(raw.bytes()) { $0 == .overlappingTensors("w", "v") }
    }

    @Test func alignmentKey() throws {
        var raw = Self.valid()
        raw.entries = [RawGGUF.u32("general.alignment", 0)]
        expectRejected(raw.bytes()) { if case .invalidAlignment = $0 { true } else { false } }
        raw.entries = [RawGGUF.u32("general.alignment", 48)]
        expectRejected(raw.bytes()) { if case .invalidAlignment = $0 { true } else { false } }
        raw.entries = [RawGGUF.entry("general.alignment", type: 10, RawGGUF.le(UInt64(32)))]
        expectRejected(raw.bytes()) { if case .invalidAlignment = $0 { true } else { false } }
        raw.entries = [RawGGUF.u32("general.alignment", 8)]
        raw.alignment = 8
        raw.data = [UInt8](repeating: 0, count: 32)
        #expect(try GGUFFile(bytes: raw.bytes()).alignment == 8)
    }

    @Test func deepNestingIsRefused() {
        var payload: [UInt8] = []
        for _ in 0..<64 { payload += RawGGUF.le(UInt32(9)) + RawGGUF.le(UInt64(1)) }
        payload += RawGGUF.le(UInt32(0)) + RawGGUF.le(UInt64(0))
        var raw = Self.valid()
        raw.entries = [RawGGUF.entry("deep", type: 9, payload)]
        expectRejected(raw.bytes()) { if case .nestingTooDeep = $0 { true } else { false } }
    }

    /// Every proper prefix of a valid file is rejected with a typed error.
    @Test(arguments: ["align-32.gguf", "value-types.gguf"])
    func truncationAtEveryByte(_ name: String) throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Repository.ggufFixture(name))))
        _ = try GGUFFile(bytes: bytes)
        var accepted: [Int] = []
        for length in 0..<bytes.count {
            do {
                _ = try GGUFFile(bytes: bytes[0..<length])
                accepted.append(length)
            } catch is GGUFError {
            } catch {
                Issue.record("length \(length): not a GGUFError: \(error)")
            }
        }
        #expect(accepted.isEmpty, "\(name): prefixes accepted: \(accepted.prefix(10))")
    }

    @Test func unreadableFilesGetIOErrors() {
        #expect(throws: GGUFError.self) { try GGUFFile(contentsOf: "/nonexistent/model.gguf") }
        #expect(throws: GGUFError.self) { try GGUFFile(contentsOf: "/tmp") }
        do {
            _ = try GGUFFile(contentsOf: "/nonexistent/model.gguf")
        } catch let error as GGUFError {
            #expect(error.description.contains("/nonexistent/model.gguf"))
        } catch {
            Issue.record("not a GGUFError")
        }
    }

    @Test func errorsNameTheFileAndOffset() throws {
        let dir = try Repository.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var raw = Self.valid()
        raw.entries = [RawGGUF.entry("b", type: 7, [9])]
        let path = dir + "/bad.gguf"
        try Data(raw.bytes()).write(to: URL(fileURLWithPath: path))
        do {
            _ = try GGUFFile(contentsOf: path)
            Issue.record("accepted")
        } catch let error as GGUFError {
            #expect(error.path == path)
            #expect(error.offset == 24 + 8 + 1 + 4)
            #expect(error.description == "\(path): at byte 37: key 'b': bool byte is 9, expected 0 or 1")
        }
    }
}
