@testable import Evaluation
import Foundation
import LocoSupport
import LocoTestSupport
import Testing

/// The Parquet reader against pyarrow: the fixtures `scripts/make-parquet-fixtures.py` writes, each
/// variant's rows compared with pyarrow's `to_pylist()` of the table (`<table>.expected.json`).
@Suite struct ParquetTests {
    static let fixtures = Repository.path("Tests/EvaluationTests/Fixtures/parquet")
    /// Variants the reader refuses (their rows are not compared).
    static let refused = ["gsm8k-zstd.parquet", "gsm8k-delta.parquet"]

    static var fixtureNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: fixtures)) ?? []).filter { $0.hasSuffix(".parquet") }.sorted()
    }

    func bytes(_ name: String) throws -> [UInt8] { try FileSystem.read(Self.fixtures + "/" + name, limit: 1 << 20) }

    /// pyarrow's rows of `table`.
    func expected(_ table: String) throws -> [JSONValue] {
        guard case .array(let rows) = try JSONParser.parse(try bytes(table + ".expected.json")) else {
            Issue.record("\(table).expected.json is not an array")
            return []
        }
        return rows
    }

    /// Equal values; numbers with a fraction or exponent compare as Double or, for FLOAT columns
    /// (which pyarrow widens to Double), as Float. Integers compare as text.
    func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)):
            if x == y { return true }
            guard (x + y).contains(where: { ".eE".contains($0) }), let dx = Double(x), let dy = Double(y) else { return false }
            return dx == dy || (Float(x) != nil && Float(x) == Float(y))
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.object(let x), .object(let y)):
            return x.keys == y.keys && zip(x.members, y.members).allSatisfy { same($0.value, $1.value) }
        default:
            return a == b
        }
    }

    @Test func rowsMatchPyarrow() throws {
        let names = Self.fixtureNames.filter { !Self.refused.contains($0) }
        #expect(names.count >= 20)
        for name in names {
            let table = String(name.prefix { $0 != "-" && $0 != "." })
            let want = try expected(table)
            let file = try ParquetFile(bytes: try bytes(name), path: name)
            let rows = try file.rows()
            #expect(file.rowCount == want.count && rows.count == want.count, "\(name)")
            for (index, (row, expected)) in zip(rows, want).enumerated() {
                #expect(same(.object(row), expected), "\(name) row \(index + 1): \(JSONWriter.encode(.object(row), pretty: false))")
            }
        }
    }

    @Test func nestedColumnsAndNulls() throws {
        let file = try ParquetFile(bytes: try bytes("arc.parquet"), path: nil)
        #expect(file.columns == ["id", "question", "choices.text.list.element", "choices.label.list.element", "answerKey"])
        let rows = try file.rows()
        guard case .object(let choices)? = rows[2]["choices"], case .array(let labels)? = choices["label"] else {
            Issue.record("no choices in \(rows[2])")
            return
        }
        #expect(labels == ["A", "B", "C", "D", "E"].map { .string($0) })

        let nulls = try ParquetFile(bytes: try bytes("nulls.parquet"), path: nil).rows()
        #expect(nulls[0]["note"] == .null && nulls[0]["tags"] == .null && nulls[0]["info"] == .null)
        #expect(nulls[1]["tags"] == .array([]) && nulls[1]["name"] == .null)
        #expect(nulls[2]["tags"] == .array([.null, .string("x"), .null]))
        #expect(nulls[0]["nested"] == .array([.array([.number("1"), .number("2")]), .array([]), .null, .array([.number("3")])]))
    }

    /// The legacy list layouts pyarrow does not write: a bare repeated column as the element
    /// (2-level), and a repeated group named "array" as the element.
    @Test func legacyListLayouts() throws {
        func element(_ name: String, type: Int64? = nil, repetition: Int64, children: Int64? = nil, list: Bool = false) -> ThriftValue {
            var s = ThriftStruct()
            s.fields[4] = .binary(ArraySlice(name.utf8))
            s.fields[3] = .int(repetition)
            if let type { s.fields[1] = .int(type) }
            if let children { s.fields[5] = .int(children) }
            if list { s.fields[6] = .int(3) }
            return .structure(s)
        }
        var root = ThriftStruct()
        root.fields[4] = .binary(ArraySlice("schema".utf8))
        root.fields[5] = .int(2)
        let elements: [ThriftValue] = [
            .structure(root),
            element("two", repetition: 1, children: 1, list: true), element("element", type: 6, repetition: 2),
            element("arrays", repetition: 1, children: 1, list: true), element("array", repetition: 2, children: 1),
            element("str", type: 6, repetition: 0),
        ]
        var index = 0, leaves: [ParquetLeaf] = []
        let schema = try SchemaNode.build(elements, at: &index, leaves: &leaves, parent: nil, depth: 0) {
            EvaluationDataError(path: nil, line: nil, message: $0)
        }
        #expect(leaves.map(\.maxDefinition) == [2, 2] && leaves.map(\.maxRepetition) == [1, 1])
        // Rows: two = ["a", "b"], [], null; arrays = [{str: "x"}], null, [{str: "y"}, {str: "z"}].
        let two = ColumnData(repetitions: [0, 1, 0, 0], definitions: [2, 2, 1, 0], values: ["a", "b"].map { .string($0) })
        let arrays = ColumnData(repetitions: [0, 0, 0, 1], definitions: [2, 0, 2, 2], values: ["x", "y", "z"].map { .string($0) })
        var assembler = RowAssembler(leaves: leaves, columns: [two, arrays])
        let rows = try assembler.rows(of: schema)
        func str(_ s: String) -> JSONValue { .object(JSONObject([("str", .string(s))])) }
        #expect(rows.map { $0["two"] } == [.array([.string("a"), .string("b")]), .array([]), .null])
        #expect(rows.map { $0["arrays"] } == [.array([str("x")]), .null, .array([str("y"), str("z")])])
    }

    @Test func snappyGzipAndRLEBitPackedHybrid() throws {
        // "abcabcabcabc": 12 bytes, a 3-byte literal, then a copy of 9 from offset 3 (overlapping).
        let block: [UInt8] = [12, 2 << 2, 0x61, 0x62, 0x63, (9 - 1) << 2 | 2, 3, 0]
        #expect(try Snappy.decompress(block[...], expectedCount: 12) == Array("abcabcabcabc".utf8))
        #expect(throws: EvaluationDataError.self) { try Snappy.decompress(block[...], expectedCount: 13) }
        #expect(throws: EvaluationDataError.self) { try Snappy.decompress([12, 2 << 2, 0x61, 0x62, 0x63, (9 - 1) << 2 | 2, 4, 0][...], expectedCount: 12) }
        #expect(throws: EvaluationDataError.self) { try Snappy.decompress(block.dropLast(), expectedCount: 12) }
        // zlib streams (Python's zlib): fixed Huffman, stored, and dynamic Huffman; and gzip.
        let fixed: [UInt8] = [120, 218, 203, 72, 205, 201, 201, 87, 200, 64, 39, 21, 1, 112, 213, 8, 210]
        #expect(try Inflate.decompress(fixed[...], expectedCount: 24) == Array("hello hello hello hello!".utf8))
        #expect(throws: EvaluationDataError.self) { try Inflate.decompress(fixed[...], expectedCount: 23) }
        #expect(throws: EvaluationDataError.self) { try Inflate.decompress(fixed.prefix(9), expectedCount: 24) }
        let stored: [UInt8] = [120, 1, 1, 6, 0, 249, 255, 115, 116, 111, 114, 101, 100, 9, 60, 2, 146]
        #expect(try Inflate.decompress(stored[...], expectedCount: 6) == Array("stored".utf8))
        let dynamic: [UInt8] = [
            120, 218, 213, 205, 91, 18, 67, 64, 20, 4, 208, 173, 244, 10, 82, 17, 33, 82, 86, 227, 113, 153, 97, 204, 101, 30, 6, 171, 167,
            252, 37, 101, 3, 62, 187, 78, 87, 183, 19, 132, 201, 203, 170, 71, 105, 56, 104, 52, 188, 160, 243, 195, 104, 193, 51, 25, 184,
            131, 85, 177, 173, 168, 185, 205, 127, 18, 172, 34, 58, 106, 65, 72, 69, 167, 252, 207, 24, 175, 237, 227, 82, 238, 117, 240, 140,
            94, 241, 59, 73, 63, 217, 23, 69, 89, 213, 212, 180, 66, 118, 189, 26, 52, 143, 147, 177, 206, 207, 97, 89, 183, 29, 157, 221, 119, 4,
        ]
        let text = String(repeating: "the quick brown fox jumps over the lazy dog; the lazy dog sleeps while the quick brown fox runs. ", count: 3)
            + "0123456789 abcdefghijklmnopqrstuvwxyz"
        #expect(try Inflate.decompress(dynamic[...], expectedCount: 328) == Array(text.utf8))
        let gzip: [UInt8] = [31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 75, 76, 74, 78, 28, 124, 8, 0, 209, 101, 88, 124, 150, 0, 0, 0]
        #expect(try Inflate.decompress(gzip[...], expectedCount: 150) == Array(String(repeating: "abc", count: 50).utf8))
        // The spec's example: 0 to 7 bit-packed in 3 bits; then a run of five 4s.
        let data: [UInt8] = [0x03, 0x88, 0xC6, 0xFA, 5 << 1, 4]
        #expect(try ColumnReader.hybrid(data[...], bitWidth: 3, count: 13) == [0, 1, 2, 3, 4, 5, 6, 7, 4, 4, 4, 4, 4])
        #expect(throws: EvaluationDataError.self) { try ColumnReader.hybrid(data[...], bitWidth: 3, count: 14) }
    }

    @Test func unsupportedCodecsAndEncodingsAreNamed() throws {
        for (name, words) in [("gsm8k-zstd.parquet", ["ZSTD", "column question"]), ("gsm8k-delta.parquet", ["DELTA_LENGTH_BYTE_ARRAY", "column answer"])] {
            let file = try bytes(name)
            do {
                _ = try ParquetFile(bytes: file, path: name).rows()
                Issue.record("\(name) was read")
            } catch {
                #expect(error.path == name && words.allSatisfy { error.message.contains($0) }, "\(error)")
            }
        }
    }

    /// Truncated files throw; files with a byte changed anywhere (each byte of the small files, a
    /// sample of the larger one) or five bytes cut out throw or read, and never trap.
    @Test func corruptFilesThrowAndNeverTrap() throws {
        let changes: [UInt8] = [0x01, 0x80, 0xFF, 0x10, 0x7F]
        for name in ["arc.parquet", "mmlu-v2.parquet", "nulls-plain.parquet", "gsm8k-gzip.parquet", "many-bigpages.parquet"] {
            let original = try bytes(name)
            let step = original.count > 4000 ? 13 : 1
            for end in stride(from: 0, to: original.count, by: step) {
                #expect(throws: EvaluationDataError.self) { try ParquetFile(bytes: Array(original[..<end]), path: name).rows() }
            }
            var read = 0, refused = 0
            for position in stride(from: 0, to: original.count, by: step) {
                var corrupt = original
                corrupt[position] ^= changes[position % changes.count]
                do {
                    _ = try ParquetFile(bytes: corrupt, path: name).rows()
                    read += 1
                } catch {
                    refused += 1
                }
                if position % 4 == 0, position + 5 <= original.count - 8 {
                    var cut = original
                    cut.removeSubrange(position..<(position + 5))
                    _ = try? ParquetFile(bytes: cut, path: name).rows()
                }
            }
            #expect(refused > 0 && read > 0, "\(name): \(read) read, \(refused) refused")
        }
    }

    @Test func parquetImportsLikeJSONL() throws {
        for (table, format) in [("gsm8k", SuiteImport.Format.gsm8k), ("arc", .arc), ("mmlu", .mmlu), ("humaneval", .humaneval)] {
            let jsonl = try expected(table).map { JSONWriter.encode($0, pretty: false) }.joined(separator: "\n")
            let fromJSONL = try SuiteImport.convert(Array(jsonl.utf8), format: format, source: "\(table).jsonl")
            for name in Self.fixtureNames where name.hasPrefix(table) && !Self.refused.contains(name) {
                #expect(try SuiteImport.convert(contentsOf: Self.fixtures + "/" + name, format: format) == fromJSONL, "\(name)")
            }
        }
        let nulls = try bytes("nulls.parquet")
        do {
            _ = try SuiteImport.convert(nulls, format: .gsm8k, source: "nulls.parquet")
            Issue.record("nulls.parquet imported as gsm8k")
        } catch {
            #expect(error.line == 1 && error.description.contains("nulls.parquet:1: gsm8k: row 1: no \"answer\""), "\(error)")
        }
    }
}
