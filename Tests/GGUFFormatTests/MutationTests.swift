import Foundation
@testable import GGUFFormat
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Mutation testing of the reader: every committed fixture is damaged thousands of ways (bit
/// flips, overwritten bytes, out-of-range counts and lengths written over the file's own fields,
/// inserted and deleted runs, truncation) and parsed. Each input must either throw a `GGUFError`
/// or parse; a parsed file is then read completely (every metadata value decoded, nested arrays
/// recursively, every tensor byte summed), so an out-of-bounds read traps and fails the suite.
///
/// Deterministic: a seeded SplitMix64 drives everything and each case has its own seed, printed
/// in every failure. `GGUF_MUTATION_SEED=<n>` changes the base seed, `GGUF_MUTATION_CASES=<n>` the
/// cases per fixture. On a crash, a signal handler prints the fixture, seed and case and writes
/// the input that crashed to the temporary folder (see Documentation/Fuzzing.md).
@Suite struct MutationTests {
    static let fixturesFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    static let fixtures: [String] = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: fixturesFolder)) ?? []
        return names.filter { $0.hasSuffix(".gguf") }.sorted()
    }()

    static let baseSeed: UInt64 = ProcessInfo.processInfo.environment["GGUF_MUTATION_SEED"]
        .flatMap { $0.hasPrefix("0x") ? UInt64($0.dropFirst(2), radix: 16) : UInt64($0) }
        ?? 0x6767_7566_5EED_0001
    static let casesPerFixture: Int = ProcessInfo.processInfo.environment["GGUF_MUTATION_CASES"]
        .flatMap { Int($0) } ?? 1400
    /// Parsed mutants written back with `GGUFWriter.rewrite` and read again, per fixture.
    static let roundTripsPerFixture = 12

    @Test func fixturesArePresent() {
        #expect(MutationTests.fixtures.count >= 7, "fixtures in \(MutationTests.fixturesFolder)")
    }

    /// No `.timeLimit`: on a loaded two-core machine a parameterized case can wait minutes for a
    /// thread before it starts (CI saw 1.4 s of work exceed a two-minute limit). Time is counted
    /// as this thread's CPU time instead: a case over one CPU-second fails, and a case still
    /// running after `CrashReporter.hangSeconds` of CPU is stopped by the watchdog with a report.
    @Test(arguments: fixtures)
    func mutatedFixturesThrowGGUFErrorOrParse(_ name: String) throws {
        let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: MutationTests.fixturesFolder + "/" + name)))
        // The unmutated fixture parses and reads completely.
        let clean = try GGUFFile(bytes: original)
        try Exerciser.exercise(clean, inputSize: original.count)

        let fields = FieldMap.fields(of: original)
        #expect(fields.count > 5, "\(name): the field walker found no structure")
        let fixtureSeed = MutationTests.baseSeed ^ fnv1a(name)
        let slot = CrashReporter.claimSlot(name: name, seed: MutationTests.baseSeed)
        defer { CrashReporter.releaseSlot(slot) }
        let temporary = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-mutation-\(getpid())-\(slot)").path
        try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: temporary) }

        var stats = Stats()
        let start = ContinuousClock.now
        for index in 0..<MutationTests.casesPerFixture {
            var seeder = SplitMix64(seed: fixtureSeed &+ UInt64(index))
            let caseSeed = seeder.next()
            var rng = SplitMix64(seed: caseSeed)
            var mutator = Mutator(original: original, fields: fields)
            let input = mutator.mutate(&rng)
            func label() -> String {
                "\(name) case \(index) (GGUF_MUTATION_SEED=0x\(String(MutationTests.baseSeed, radix: 16)), "
                    + "case seed 0x\(String(caseSeed, radix: 16)), mutations: \(mutator.log.joined(separator: ", ")))"
            }

            let caseStart = threadCPUSeconds()
            input.withUnsafeBufferPointer { buffer in
                CrashReporter.enter(slot, case: index, caseSeed: caseSeed, input: buffer, cpuStart: caseStart)
                defer { CrashReporter.leave(slot) }
                let file: GGUFFile
                do {
                    file = try GGUFFile(bytes: buffer)
                } catch let error as GGUFError {
                    stats.record(error)
                    if let offset = error.offset, !(0...buffer.count).contains(offset) {
                        Issue.record("\(label()): error offset \(offset) is outside the \(buffer.count)-byte input: \(error)")
                    }
                    if error.description.isEmpty { Issue.record("\(label()): empty error description") }
                    return
                } catch {
                    Issue.record("\(label()): threw \(type(of: error)), not GGUFError: \(error)")
                    return
                }
                stats.parsed += 1
                do {
                    try Exerciser.exercise(file, inputSize: buffer.count)
                    if stats.roundTrips < MutationTests.roundTripsPerFixture, index % 7 == 0 {
                        stats.roundTrips += 1
                        try Exerciser.roundTrip(file, through: temporary + "/round-trip.gguf")
                    }
                } catch {
                    Issue.record("\(label()): parsed, then reading or writing it back failed: \(error)")
                }
            }
            let cpu = threadCPUSeconds() - caseStart
            if cpu > 1 { Issue.record("\(label()): took \(cpu) CPU-seconds") }
        }
        let total = ContinuousClock.now - start
        print("MutationTests \(name): \(MutationTests.casesPerFixture) cases in \(total), \(stats.parsed) parsed "
              + "(\(stats.roundTrips) round trips), \(stats.failed) GGUFError: \(stats.summary) "
              + "[seed 0x\(String(MutationTests.baseSeed, radix: 16))]")
        #expect(stats.parsed + stats.failed == MutationTests.casesPerFixture)
    }

    /// Inputs that crashed the reader once; each must now throw `GGUFError` or parse and read.
    @Test(arguments: Array(Regressions.inputs.indices))
    func regression(_ index: Int) throws {
        let (name, bytes) = Regressions.inputs[index]
        do {
            let file = try GGUFFile(bytes: bytes)
            try Exerciser.exercise(file, inputSize: bytes.count)
        } catch let error as GGUFError {
            #expect(!error.description.isEmpty, "\(name)")
        }
    }

    /// Hand-made edge cases the random mutations reach rarely: counts whose byte size overflows,
    /// nesting at and beyond the limit, offsets and dimensions at the edges of Int64.
    @Test func handMadeEdgeCases() throws {
        typealias B = GGUFBytes
        func parse(_ bytes: [UInt8]) throws -> GGUFFile {
            let file = try GGUFFile(bytes: bytes)
            try Exerciser.exercise(file, inputSize: bytes.count)
            return file
        }
        func kind(_ bytes: [UInt8]) -> GGUFError.Kind? {
            do {
                _ = try parse(bytes)
            } catch let error as GGUFError {
                #expect(!error.description.isEmpty)
                return error.kind
            } catch {
                Issue.record("threw \(type(of: error)), not GGUFError: \(error)")
            }
            return nil
        }
        // Array counts whose total size overflows Int when multiplied by the element size.
        for count in [UInt64(1) << 61, UInt64(1) << 62, UInt64.max / 8 + 1, UInt64.max] {
            let file = B.header(tensors: 0, kvs: 1) + B.string("k") + B.u32(9) + B.u32(10) + B.u64(count) + B.u64(7)
            #expect(kind(file) == .countExceedsFile(what: "array length of 'k'", count: count))
        }
        // Nesting: depth 8 parses, depth 9 is refused (arrays of arrays of ... of one UINT8).
        func nested(_ depth: Int) -> [UInt8] {
            var value = B.u32(0) + B.u64(1) + [42]
            for _ in 1..<depth { value = B.u32(9) + B.u64(1) + value }
            return B.header(tensors: 0, kvs: 1) + B.string("n") + B.u32(9) + value
        }
        var depth = 1
        while depth <= GGUFValueDecoder.maximumNesting, (try? parse(nested(depth))) != nil { depth += 1 }
        #expect(depth == GGUFValueDecoder.maximumNesting + 1, "deepest parsed nesting \(depth - 1)")
        for depth in [GGUFValueDecoder.maximumNesting + 1, 200] {
            guard case .nestingTooDeep = kind(nested(depth)) else {
                Issue.record("nesting \(depth) is not refused as too deep")
                continue
            }
        }
        // String and key lengths past the end, and at the very edge of the file.
        #expect(kind(B.header(tensors: 0, kvs: 1) + B.u64(UInt64.max) + [0x41]) != nil)
        #expect(kind(B.header(tensors: 0, kvs: 1) + B.string("s") + B.u32(8) + B.u64(1)) != nil)
        #expect(kind(B.header(tensors: 0, kvs: 1) + B.string("s") + B.u32(8) + B.u64(1) + [0x41]) == nil)
        // Tensor dimensions whose product overflows, huge offsets, offsets at Int64.max.
        func tensorFile(_ ne: [UInt64], type: UInt32 = 0, offset: UInt64 = 0, data: Int = 64) -> [UInt8] {
            var out = B.header(tensors: 1, kvs: 0) + B.string("t") + B.u32(UInt32(ne.count))
            for n in ne { out += B.u64(n) }
            out += B.u32(type) + B.u64(offset)
            out += [UInt8](repeating: 0, count: (32 - out.count % 32) % 32 + data)
            return out
        }
        #expect(try parse(tensorFile([16])).tensors[0].byteCount == 64)
        #expect(kind(tensorFile([UInt64(1) << 32, UInt64(1) << 32])) == .elementCountOverflow(tensor: "t"))
        #expect(kind(tensorFile([UInt64(Int64.max)])) == .elementCountOverflow(tensor: "t"))
        #expect(kind(tensorFile([UInt64(Int64.max) + 1])) != nil)
        #expect(kind(tensorFile([UInt64.max, 0])) != nil)
        #expect(kind(tensorFile([16], offset: UInt64(Int64.max) - 31)) != nil)
        #expect(kind(tensorFile([16], offset: 1 << 63)) != nil)
        #expect(kind(tensorFile([16], offset: UInt64.max & ~31)) != nil)
        #expect(kind(tensorFile([0, UInt64.max >> 1])) == nil)  // zero elements, any other dims
        // Alignment of 2^31 with a tensor: the data section start is far beyond the file.
        let aligned = B.header(tensors: 1, kvs: 1) + B.string("general.alignment") + B.u32(4) + B.u32(1 << 31)
            + B.string("t") + B.u32(1) + B.u64(0) + B.u32(0) + B.u64(0)
        guard case .tensorBeyondFile = kind(aligned) else {
            Issue.record("a data section 2 GiB beyond the end of the file is accepted")
            return
        }
        // general.alignment of the wrong type, zero, or not a power of two.
        for value in [B.u32(5) + B.u32(32), B.u32(10) + B.u64(32), B.u32(4) + B.u32(0), B.u32(4) + B.u32(48)] {
            let file = B.header(tensors: 0, kvs: 1) + B.string("general.alignment") + value
            guard case .invalidAlignment = kind(file) else {
                Issue.record("general.alignment \(value) is not refused")
                continue
            }
        }
        // Errors from a mapped file name the file.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-mutation-\(getpid())-edge").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/truncated.gguf"
        try Data(B.header(tensors: 0, kvs: 1) + B.string("k")).write(to: URL(fileURLWithPath: path))
        do {
            _ = try GGUFFile(contentsOf: path)
            Issue.record("a truncated file parsed")
        } catch let error as GGUFError {
            #expect(error.path == path && error.description.hasPrefix(path), "\(error)")
        }
    }
}

// MARK: - Reading everything

private enum Exerciser {
    /// Decodes every value and reads every tensor byte; throws only what the API throws.
    static func exercise(_ file: GGUFFile, inputSize: Int) throws {
        var checksum: UInt64 = 0
        for entry in file.metadata {
            checksum &+= try consume(entry.value)
            guard file.metadata[entry.key] == entry.value else {
                throw Failure("metadata['\(entry.key)'] differs from the entry")
            }
            // Typed access throws typed errors for the wrong type; the right type must succeed.
            _ = try? file.metadata.integer(entry.key, as: Int32.self)
            if case .string = entry.value { checksum &+= UInt64(try file.metadata.string(entry.key).utf8.count) }
            if case .bool = entry.value { _ = try file.metadata.bool(entry.key) }
            if entry.value.floatingValue != nil { _ = try file.metadata.float(entry.key) }
            if case .array = entry.value { _ = try file.metadata.array(entry.key) }
        }
        _ = file.architecture
        var total = 0
        for tensor in file.tensors {
            let data = file.tensorData(tensor)
            guard data.range.count == tensor.byteCount, data.range.lowerBound >= file.dataOffset,
                  data.range.upperBound <= inputSize
            else { throw Failure("tensor '\(tensor.name)' range \(data.range) in a \(inputSize)-byte file") }
            checksum &+= data.withUnsafeBytes { bytes in bytes.reduce(UInt64(0)) { $0 &+ UInt64($1) } }
            guard try file.tensorData(named: tensor.name).range == data.range else {
                throw Failure("tensor '\(tensor.name)' found by name has another range")
            }
            _ = (tensor.rowCount, tensor.rowByteCount)
            total += tensor.byteCount
        }
        guard total <= inputSize else { throw Failure("tensors hold \(total) bytes in a \(inputSize)-byte file") }
        _ = file.parameterCount
        _ = try GGUFWriter(copying: file).encodedHeader()
        _ = checksum
    }

    /// Decodes `value` completely, recursively through nested arrays.
    static func consume(_ value: GGUFValue, depth: Int = 0) throws -> UInt64 {
        switch value {
        case .string(let s):
            return UInt64(s.utf8.count)
        case .array(let array):
            guard depth < 64 else { throw Failure("array nesting \(depth) decoded") }
            let values = array.values
            guard values.count == array.count, values.allSatisfy({ $0.type == array.elementType }) else {
                throw Failure("array of \(array.count) \(array.elementType.name) decoded to \(values.count) values")
            }
            var sum = UInt64(values.count)
            for element in values { sum &+= try consume(element, depth: depth + 1) }
            if array.elementType == .string {
                let strings = try array.strings()
                var lengths = 0
                array.withStringBytes { i, bytes in
                    lengths += bytes.count
                    sum &+= bytes.reduce(UInt64(i)) { $0 &+ UInt64($1) }
                }
                guard strings.count == array.count else { throw Failure("strings() returned \(strings.count) of \(array.count)") }
                sum &+= UInt64(lengths)
            } else if array.elementType.isInteger {
                do { sum &+= UInt64(try array.integers().count) } catch let error as GGUFError {
                    guard case .valueOutOfRange = error.kind else { throw error }
                }
            } else if array.elementType == .float32 || array.elementType == .float64 {
                sum &+= UInt64(try array.floats().count)
            }
            return sum
        default:
            return UInt64(truncatingIfNeeded: value.integerValue ?? 0)
                &+ UInt64(value.floatingValue.map { $0.isNaN ? 1 : 0 } ?? 0)
        }
    }

    /// Writes `file` back and reads it again: same metadata, tensors and tensor bytes.
    static func roundTrip(_ file: GGUFFile, through path: String) throws {
        try GGUFWriter.rewrite(file, to: path)
        let again = try GGUFFile(contentsOf: path)
        guard again.metadata == file.metadata else { throw Failure("round trip changed the metadata") }
        guard again.tensors.map(\.name) == file.tensors.map(\.name),
              again.tensors.map(\.shape) == file.tensors.map(\.shape),
              again.tensors.map(\.type) == file.tensors.map(\.type)
        else { throw Failure("round trip changed the tensor infos") }
        for (a, b) in zip(file.tensors, again.tensors) {
            let same = file.tensorData(a).withUnsafeBytes { x in again.tensorData(b).withUnsafeBytes { y in x.elementsEqual(y) } }
            guard same else { throw Failure("round trip changed the bytes of '\(a.name)'") }
        }
        try exercise(again, inputSize: again.storage.count)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

private struct Stats {
    var parsed = 0
    var failed = 0
    var roundTrips = 0
    var kinds: [String: Int] = [:]

    mutating func record(_ error: GGUFError) {
        failed += 1
        let name = "\(error.kind)".prefix { $0 != "(" }
        kinds[String(name), default: 0] += 1
    }

    var summary: String { kinds.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
}

// MARK: - Mutations

/// SplitMix64: small, fast, and the same sequence on every platform and Swift version (the
/// standard library's `random(in:using:)` does not promise that, so it is not used).
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<n` (n > 0); the modulo bias is irrelevant here.
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

private func fnv1a(_ string: String) -> UInt64 {
    string.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 }
}

/// One field of a fixture's encoding (a count, length, type id, dimension, offset or value).
private struct Field {
    let offset: Int
    let width: Int
}

/// Finds the fields of a valid GGUF file, so that mutations can hit counts and lengths exactly.
private enum FieldMap {
    static func fields(of bytes: [UInt8]) -> [Field] {
        var walker = Walker(bytes: bytes)
        walker.walk()
        return walker.fields
    }

    private struct Walker {
        let bytes: [UInt8]
        var offset = 0
        var fields: [Field] = []

        mutating func field(_ width: Int) -> UInt64? {
            guard offset + width <= bytes.count else { return nil }
            var value: UInt64 = 0
            for i in 0..<width { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
            fields.append(Field(offset: offset, width: width))
            offset += width
            return value
        }

        mutating func string() -> Bool {
            guard let length = field(8), length <= UInt64(bytes.count - offset) else { return false }
            offset += Int(length)
            return true
        }

        mutating func value(_ type: UInt64, depth: Int) -> Bool {
            guard depth < 16, let valueType = GGUFValueType(rawValue: UInt32(truncatingIfNeeded: type)) else { return false }
            if let size = valueType.fixedSize { return field(size) != nil }
            if valueType == .string { return string() }
            guard let elementType = field(4), let count = field(8), count <= UInt64(bytes.count) else { return false }
            for _ in 0..<count where !value(elementType, depth: depth + 1) { return false }
            return true
        }

        mutating func walk() {
            guard field(4) != nil, field(4) != nil, let tensorCount = field(8), let kvCount = field(8),
                  tensorCount < 1 << 20, kvCount < 1 << 20
            else { return }
            for _ in 0..<kvCount {
                guard string(), let type = field(4), value(type, depth: 0) else { return }
            }
            for _ in 0..<tensorCount {
                guard string(), let dims = field(4), dims <= 4 else { return }
                for _ in 0..<dims where field(8) == nil { return }
                guard field(4) != nil, field(8) != nil else { return }
            }
            fields.append(Field(offset: offset, width: 0))  // end of the tensor infos
        }
    }
}

/// Applies one to four random mutations to a fixture, keeping a log for failure messages.
private struct Mutator {
    var bytes: [UInt8]
    let fields: [Field]
    var log: [String] = []

    init(original: [UInt8], fields: [Field]) {
        self.bytes = original
        self.fields = fields
    }

    static let interesting64: [UInt64] = [
        0, 1, 2, 3, 4, 7, 8, 12, 13, 31, 32, 63, 64, 255, 256, 4096, 0x7FFF, 0xFFFF, 0x1_0000,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000, 1 << 40, 1 << 56, 1 << 60, 1 << 61, 1 << 62,
        UInt64(Int64.max) - 7, UInt64(Int64.max), 1 << 63, (1 << 63) + 32, UInt64.max / 8 + 1,
        UInt64.max / 34 + 1, UInt64.max / 292 + 1, UInt64.max - 31, UInt64.max - 1, UInt64.max,
    ]
    static let interesting32: [UInt32] = [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 23, 30, 31, 34, 35, 36, 39, 40, 41, 42,
        0xFF, 0x100, 0xFFFF, 0x1_0000, 0x3_0000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF,
    ]

    mutating func mutate(_ rng: inout SplitMix64) -> [UInt8] {
        let count = 1 + (rng.chance(60) ? 0 : rng.below(4))
        for _ in 0..<count { mutateOnce(&rng) }
        return bytes
    }

    private mutating func randomOffset(_ rng: inout SplitMix64, inclusiveEnd: Bool = false) -> Int {
        let n = bytes.count + (inclusiveEnd ? 1 : 0)
        guard n > 0 else { return 0 }
        // Half the time, a field boundary of the original layout (still near one after edits).
        if !fields.isEmpty, rng.chance(50) { return min(rng.pick(fields).offset, n - 1) }
        return rng.below(n)
    }

    private mutating func write(_ value: UInt64, width: Int, at offset: Int) {
        for i in 0..<width where offset + i < bytes.count {
            bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))
        }
    }

    private func read(width: Int, at offset: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0..<width where offset + i < bytes.count { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        return value
    }

    private mutating func interestingValue(_ rng: inout SplitMix64, width: Int, at offset: Int) -> UInt64 {
        switch rng.below(10) {
        case 0..<2:  // the original value nudged: a length one too long, a count one short
            let delta = UInt64(1 + rng.below(8))
            let original = read(width: width, at: offset)
            return rng.chance(50) ? original &+ delta : original &- delta
        case 2:  // sizes of this file
            return UInt64(bytes.count) &+ UInt64(rng.below(17)) &- 8
        case 3:
            return rng.next()
        default:
            return width >= 8 ? rng.pick(Mutator.interesting64) : UInt64(rng.pick(Mutator.interesting32))
        }
    }

    private mutating func mutateOnce(_ rng: inout SplitMix64) {
        if bytes.isEmpty {
            bytes = (0..<rng.below(64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            log.append("regrow \(bytes.count)")
            return
        }
        switch rng.below(100) {
        case 0..<14:
            let flips = 1 + rng.below(8)
            var at: [Int] = []
            for _ in 0..<flips {
                let bit = rng.below(bytes.count * 8)
                bytes[bit / 8] ^= 1 << UInt8(bit % 8)
                at.append(bit)
            }
            log.append("flip bits \(at)")
        case 14..<26:
            let start = randomOffset(&rng)
            let length = min(1 + rng.below(8), bytes.count - start)
            let fill: UInt8? = switch rng.below(3) {
            case 0: 0x00
            case 1: 0xFF
            default: nil
            }
            for i in start..<(start + length) { bytes[i] = fill ?? UInt8(truncatingIfNeeded: rng.next()) }
            log.append("overwrite \(length) at \(start) with \(fill.map { "0x\(String($0, radix: 16))" } ?? "random")")
        case 26..<58:
            // A field of the original layout gets an out-of-range or off-by-a-little value.
            guard let field = fields.filter({ $0.width > 0 }).randomElement(using: &rng) else { return }
            let value = interestingValue(&rng, width: field.width, at: field.offset)
            write(value, width: field.width, at: field.offset)
            log.append("field \(field.width)@\(field.offset) = 0x\(String(value, radix: 16))")
        case 58..<70:
            let width = rng.chance(60) ? 8 : 4
            let offset = randomOffset(&rng)
            let value = interestingValue(&rng, width: width, at: offset)
            write(value, width: width, at: offset)
            log.append("u\(width * 8)@\(offset) = 0x\(String(value, radix: 16))")
        case 70..<80:
            let offset = randomOffset(&rng, inclusiveEnd: true)
            let length = 1 + rng.below(rng.chance(70) ? 8 : 64)
            let run: [UInt8]
            switch rng.below(4) {
            case 0: run = [UInt8](repeating: 0, count: length)
            case 1: run = [UInt8](repeating: 0xFF, count: length)
            case 2:
                let from = rng.below(bytes.count)
                run = Array(bytes[from..<min(bytes.count, from + length)])
            default: run = (0..<length).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            bytes.insert(contentsOf: run, at: offset)
            log.append("insert \(run.count) at \(offset)")
        case 80..<90:
            let offset = randomOffset(&rng)
            let length = min(1 + rng.below(rng.chance(70) ? 8 : 64), bytes.count - offset)
            bytes.removeSubrange(offset..<(offset + length))
            log.append("delete \(length) at \(offset)")
        case 90..<96:
            let length = randomOffset(&rng)
            bytes.removeSubrange(length...)
            log.append("truncate to \(length)")
        default:
            // A chunk of the file copied over another place in it.
            let from = rng.below(bytes.count)
            let to = rng.below(bytes.count)
            let length = min(1 + rng.below(32), bytes.count - from, bytes.count - to)
            let chunk = Array(bytes[from..<(from + length)])
            bytes.replaceSubrange(to..<(to + length), with: chunk)
            log.append("copy \(length) from \(from) to \(to)")
        }
    }
}

extension Array {
    fileprivate func randomElement(using rng: inout SplitMix64) -> Element? {
        isEmpty ? nil : self[rng.below(count)]
    }
}

/// Little-endian pieces for hand-made GGUF files.
private enum GGUFBytes {
    static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    static func string(_ s: String) -> [UInt8] { u64(UInt64(s.utf8.count)) + Array(s.utf8) }
    static func header(tensors: UInt64, kvs: UInt64, version: UInt32 = 3) -> [UInt8] {
        GGUFFile.magic + u32(version) + u64(tensors) + u64(kvs)
    }
}

// MARK: - Regression inputs

/// Inputs that once crashed or hung the reader, found by this suite or by `Fuzz/`.
private enum Regressions {
    static let inputs: [(String, [UInt8])] = [
        // None has crashed the reader yet (see Documentation/Fuzzing.md for adding one); the
        // smallest valid file keeps the parameterized test from being empty.
        ("empty header", GGUFBytes.header(tensors: 0, kvs: 0)),
    ]
}

// MARK: - Crash reporting

/// A trap in the reader kills the test process before any `Issue` can be recorded. While mutation
/// tests run, this handler prints which fixture, seed and case were running on the crashing thread
/// and writes that input to the temporary folder, then lets the previous handler (Swift's
/// backtracer) run. It is installed when the first fixture starts and removed after the last.
private enum CrashReporter {
    struct Slot {
        var active = false
        var thread: pthread_t?
        var name: UnsafeMutablePointer<CChar>?
        var seed: UInt64 = 0
        var caseIndex = 0
        var caseSeed: UInt64 = 0
        var input: UnsafePointer<UInt8>?
        var inputCount = 0
        /// The case's start in its thread's CPU time, for the watchdog.
        var cpuStart = 0.0
    }

    static let slotCount = 64
    /// CPU-seconds one case may run before the watchdog calls it a hang: thousands of times what
    /// any case takes, and CPU time, so a loaded machine does not trip it.
    static let hangSeconds = 60.0
    static let signals: [Int32] = [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE]
    nonisolated(unsafe) static let slots: UnsafeMutablePointer<Slot> = {
        let slots = UnsafeMutablePointer<Slot>.allocate(capacity: slotCount)
        slots.initialize(repeating: Slot(), count: slotCount)
        return slots
    }()
    nonisolated(unsafe) static let previous = UnsafeMutablePointer<sigaction>.allocate(capacity: signals.count)
    nonisolated(unsafe) static let folder: UnsafeMutablePointer<CChar> = {
        var folder = NSTemporaryDirectory()
        while folder.count > 1, folder.hasSuffix("/") { folder.removeLast() }
        return strdup(folder)!
    }()
    /// Memory for the handler's message and path, allocated up front.
    nonisolated(unsafe) static let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 2 * SignalSafeText.capacity)
    private static let lock = NSLock()
    nonisolated(unsafe) private static var used = Set<Int>()
    nonisolated(unsafe) private static var watchdogStarted = false

    static func claimSlot(name: String, seed: UInt64) -> Int {
        lock.lock()
        defer { lock.unlock() }
        if used.isEmpty { install() }
        if !watchdogStarted {
            watchdogStarted = true
            let watchdog = Thread { watch() }
            watchdog.name = "MutationTests watchdog"
            watchdog.start()
        }
        let slot = (0..<slotCount).first { !used.contains($0) } ?? 0
        used.insert(slot)
        free(slots[slot].name)
        slots[slot].name = strdup(name)
        slots[slot].seed = seed
        return slot
    }

    static func releaseSlot(_ slot: Int) {
        lock.lock()
        defer { lock.unlock() }
        slots[slot].active = false
        used.remove(slot)
        if used.isEmpty { uninstall() }
    }

    private static func install() {
        for (i, sig) in signals.enumerated() {
            var action = sigaction()
            #if canImport(Darwin)
            action.__sigaction_u.__sa_handler = { CrashReporter.report($0) }
            #else
            action.__sigaction_handler.sa_handler = { CrashReporter.report($0) }
            #endif
            sigaction(sig, &action, previous + i)
        }
    }

    private static func uninstall() {
        for (i, sig) in signals.enumerated() { sigaction(sig, previous + i, nil) }
    }

    static func enter(_ slot: Int, case index: Int, caseSeed: UInt64, input: UnsafeBufferPointer<UInt8>,
                      cpuStart: Double) {
        slots[slot].thread = pthread_self()
        slots[slot].cpuStart = cpuStart
        slots[slot].caseIndex = index
        slots[slot].caseSeed = caseSeed
        slots[slot].input = input.baseAddress
        slots[slot].inputCount = input.count
        slots[slot].active = true
    }

    static func leave(_ slot: Int) { slots[slot].active = false }

    /// Once a second, reads each running case's thread CPU clock. A case past `hangSeconds` is
    /// named and its input written, then the process aborts: a hang fails the run at once rather
    /// than at CI's time limit. (A signal sent to the looping thread would stay pending: the
    /// concurrency pool's threads block asynchronous signals.)
    private static func watch() {
        while true {
            sleep(1)
            lock.lock()
            for i in 0..<slotCount where used.contains(i) && slots[i].active {
                guard let thread = slots[i].thread else { continue }
                var clock = clockid_t()
                guard pthread_getcpuclockid(thread, &clock) == 0 else { continue }
                var now = timespec()
                guard clock_gettime(clock, &now) == 0 else { continue }
                let cpu = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
                if slots[i].active, cpu - slots[i].cpuStart > hangSeconds {
                    describe(i, what: "hang, CPU-seconds ", number: UInt64(cpu - slots[i].cpuStart))
                    uninstall()
                    abort()
                }
            }
            lock.unlock()
        }
    }

    /// Async-signal-safe: only write(2), open(2), close(2), sigaction(2) and preallocated memory.
    static func report(_ sig: Int32) {
        let me = pthread_self()
        for i in 0..<slotCount where slots[i].active {
            guard let thread = slots[i].thread, pthread_equal(thread, me) != 0 else { continue }
            describe(i, what: "signal ", number: UInt64(sig))
        }
        // Put the previous handlers back: a faulting instruction runs again and reaches them.
        uninstall()
        if sig == SIGABRT || sig == SIGTRAP { raise(sig) }
    }

    /// Prints which fixture, seed and case slot `i` runs and writes its input to the temporary
    /// folder, with only async-signal-safe calls.
    private static func describe(_ i: Int, what: StaticString, number: UInt64) {
        let slot = slots[i]
        var path = SignalSafeText(scratch)
        path.append(folder)
        path.append("/gguf-mutation-crash-")
        path.append(slot.name)
        path.append("-case")
        path.append(UInt64(slot.caseIndex), radix: 10)
        var line = SignalSafeText(scratch + SignalSafeText.capacity)
        line.append("\nMutationTests: ")
        line.append(what)
        line.append(number, radix: 10)
        line.append(" while parsing ")
        line.append(slot.name)
        line.append(" case ")
        line.append(UInt64(slot.caseIndex), radix: 10)
        line.append(" (GGUF_MUTATION_SEED=0x")
        line.append(slot.seed, radix: 16)
        line.append(", case seed 0x")
        line.append(slot.caseSeed, radix: 16)
        line.append("); input written to ")
        line.append(path.cString)
        line.append("\n")
        _ = systemWrite(2, line.start, line.count)
        let fd = open(path.cString, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if fd >= 0 {
            if let input = slot.input { _ = systemWrite(fd, input, slot.inputCount) }
            close(fd)
        }
    }
}

/// Text built in preallocated memory, for the signal handler (which must not allocate).
private struct SignalSafeText {
    static let capacity = 1024
    let start: UnsafeMutablePointer<UInt8>
    var count = 0

    init(_ start: UnsafeMutablePointer<UInt8>) {
        self.start = start
        start[0] = 0
    }

    /// The text so far, NUL-terminated.
    var cString: UnsafePointer<CChar> { UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self) }

    mutating func append(byte: UInt8) {
        guard count < SignalSafeText.capacity - 1 else { return }
        start[count] = byte
        count += 1
        start[count] = 0
    }

    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { for byte in $0 { append(byte: byte) } }
    }

    mutating func append(_ cString: UnsafePointer<CChar>?) {
        guard var p = cString else { return }
        while p.pointee != 0 {
            append(byte: UInt8(bitPattern: p.pointee))
            p += 1
        }
    }

    mutating func append(_ cString: UnsafeMutablePointer<CChar>?) { append(UnsafePointer(cString)) }

    mutating func append(_ value: UInt64, radix: UInt64) {
        var divisor: UInt64 = 1
        while value / divisor >= radix { divisor *= radix }
        while divisor > 0 {
            let digit = UInt8(value / divisor % radix)
            append(byte: digit < 10 ? 48 + digit : 87 + digit)
            divisor /= radix
        }
    }
}

private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }

/// The calling thread's CPU time in seconds: what a case costs, however loaded the machine is.
private func threadCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
