import LocoSupport

/// A Parquet file read whole into rows of JSON, as Hugging Face datasets and lm-evaluation-harness
/// keep benchmark sets: the footer (Thrift compact protocol), DICTIONARY_PAGE, DATA_PAGE and
/// DATA_PAGE_V2 pages, PLAIN and dictionary encodings, UNCOMPRESSED, SNAPPY and GZIP, and nested
/// columns through definition and repetition levels: structs become objects, LIST columns (3-level
/// and legacy 2-level) and bare repeated fields become arrays, nulls become `null`.
///
/// Values read as JSON would: integers as `.number("42")`, floats as their shortest text (not
/// finite: `null`), BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY as UTF-8 strings. Malformed input, and
/// what is not supported (other codecs and encodings, INT96, binary decimals, bytes that are not
/// UTF-8) throw an ``EvaluationDataError`` naming the column, page or byte offset; every offset
/// and count is checked before it is used, so nothing traps.
public struct ParquetFile: Sendable {
    /// The rows the footer declares.
    public let rowCount: Int
    /// The columns' paths, dot-joined (`choices.text.list.element`), in file order.
    public var columns: [String] { leaves.map(\.name) }

    let bytes: [UInt8]
    let path: String?
    let schema: SchemaNode
    let leaves: [ParquetLeaf]
    let rowGroups: [RowGroup]

    /// At most this many values in one column chunk: bounds memory on a corrupt count.
    static let maximumValuesPerChunk = 1 << 24

    struct RowGroup: Sendable {
        var rowCount: Int
        var chunks: [ColumnChunk]
    }

    struct ColumnChunk: Sendable {
        var codec: Int
        var valueCount: Int
        var start: Int
        var end: Int
    }

    /// Reads the footer of the file `bytes` (`path` names it in errors).
    public init(bytes: [UInt8], path: String?) throws(EvaluationDataError) {
        self.bytes = bytes
        self.path = path
        func fail(_ message: String) -> EvaluationDataError { EvaluationDataError(path: path, line: nil, message: "Parquet: " + message) }

        let magic: [UInt8] = Array("PAR1".utf8)
        guard bytes.count >= 12, bytes.starts(with: magic), Array(bytes.suffix(4)) == magic else {
            throw fail("no PAR1 magic at both ends (\(bytes.count) bytes)")
        }
        var footerLength = 0
        for i in 0..<4 { footerLength |= Int(bytes[bytes.count - 8 + i]) << (8 * i) }
        let footerStart = bytes.count - 8 - footerLength
        guard footerStart >= 4 else { throw fail("footer length \(footerLength) does not fit in \(bytes.count) bytes") }
        var reader = ThriftCompactReader(bytes: bytes, from: footerStart, to: bytes.count - 8)
        let metadata: ThriftStruct
        do { metadata = try reader.readStruct() } catch { throw fail("footer: \(error.message)") }

        // The schema: a depth-first list, each group followed by its children.
        guard let elements = metadata.list(2), !elements.isEmpty else { throw fail("footer has no schema") }
        var index = 0, leaves: [ParquetLeaf] = []
        let root = try SchemaNode.build(elements, at: &index, leaves: &leaves, parent: nil, depth: 0, fail: fail)
        guard index == elements.count else { throw fail("schema has \(elements.count - index) elements after its root's children") }
        guard !root.children.isEmpty else { throw fail("schema has no columns") }
        schema = root
        self.leaves = leaves

        do { rowCount = try metadata.required(3, "num_rows", in: 0...Int64(Int32.max)) } catch { throw fail("footer: " + error.message) }
        var groups: [RowGroup] = []
        var rows = 0
        for (g, value) in (metadata.list(4) ?? []).enumerated() {
            guard case .structure(let group) = value, let columns = group.list(1) else { throw fail("row group \(g) has no columns") }
            let groupRows: Int
            do { groupRows = try group.required(3, "num_rows", in: 0...Int64(Int32.max)) } catch { throw fail("row group \(g): " + error.message) }
            guard columns.count == leaves.count else {
                throw fail("row group \(g) has \(columns.count) column chunks for \(leaves.count) columns")
            }
            var chunks: [ColumnChunk] = []
            for (leaf, value) in zip(leaves, columns) {
                func chunkFail(_ message: String) -> EvaluationDataError { fail("row group \(g), column \(leaf.name): " + message) }
                guard case .structure(let chunk) = value else { throw chunkFail("no column chunk") }
                guard chunk.binary(1) == nil else { throw chunkFail("stored in another file, which is not supported") }
                guard let meta = chunk.structure(3) else { throw chunkFail("no column metadata") }
                let codec: Int, valueCount: Int, dataOffset: Int, size: Int, type: Int
                do {
                    type = try meta.required(1, "type")
                    codec = try meta.required(4, "codec")
                    valueCount = try meta.required(5, "num_values", in: 0...Int64(Self.maximumValuesPerChunk))
                    size = try meta.required(7, "total_compressed_size", in: 0...Int64(bytes.count))
                    dataOffset = try meta.required(9, "data_page_offset", in: 0...Int64(bytes.count))
                } catch {
                    throw chunkFail(error.message)
                }
                guard type == leaf.physicalType.rawValue else {
                    throw chunkFail("chunk type \(type) differs from the schema's \(leaf.physicalType)")
                }
                if let names = meta.list(3) {
                    let chunkPath = names.map { value -> String in
                        if case .binary(let name) = value { return String(decoding: name, as: UTF8.self) }
                        return "?"
                    }
                    guard chunkPath == leaf.path else { throw chunkFail("chunk path \(chunkPath.joined(separator: ".")) differs from the schema") }
                }
                guard (0...2).contains(codec) else {
                    let names = [3: "LZO", 4: "BROTLI", 5: "LZ4", 6: "ZSTD", 7: "LZ4_RAW"]
                    throw chunkFail("compressed with \(names[codec] ?? "codec \(codec)"), which is not supported (only UNCOMPRESSED, SNAPPY and GZIP)")
                }
                var start = dataOffset
                if let dictionary = meta.int(11), dictionary > 0, dictionary < dataOffset { start = Int(dictionary) }
                guard start >= 4, size <= footerStart - start else {
                    throw chunkFail("\(size) bytes at byte \(start) are not within the file's data")
                }
                chunks.append(ColumnChunk(codec: codec, valueCount: valueCount, start: start, end: start + size))
            }
            rows += groupRows
            groups.append(RowGroup(rowCount: groupRows, chunks: chunks))
        }
        guard rows == rowCount else { throw fail("row groups hold \(rows) rows, the footer says \(rowCount)") }
        rowGroups = groups
    }

    /// Every row, a JSON object with a member for each top-level field (null when absent).
    public func rows() throws(EvaluationDataError) -> [JSONObject] {
        var rows: [JSONObject] = []
        rows.reserveCapacity(rowCount)
        for (g, group) in rowGroups.enumerated() {
            var columns: [ColumnData] = []
            for (leaf, chunk) in zip(leaves, group.chunks) {
                do {
                    columns.append(try ColumnReader(bytes: bytes, leaf: leaf, chunk: chunk).read())
                } catch {
                    throw EvaluationDataError(path: path, line: nil, message: "Parquet: row group \(g), column \(leaf.name): " + error.message)
                }
            }
            var assembler = RowAssembler(leaves: leaves, columns: columns)
            do throws(EvaluationDataError) {
                let groupRows = try assembler.rows(of: schema)
                guard groupRows.count == group.rowCount else {
                    throw EvaluationDataError(path: nil, line: nil, message: "\(groupRows.count) rows, the footer says \(group.rowCount)")
                }
                rows += groupRows
            } catch {
                throw EvaluationDataError(path: path, line: nil, message: "Parquet: row group \(g): " + error.message)
            }
        }
        return rows
    }
}

/// Parquet's physical types.
enum ParquetType: Int, Sendable, CustomStringConvertible {
    case boolean = 0, int32, int64, int96, float, double, byteArray, fixedLengthByteArray

    var description: String {
        ["BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"][rawValue]
    }
}

/// A column (a leaf of the schema) and how its values read as JSON.
struct ParquetLeaf: Sendable {
    enum Rendering: Sendable {
        case plain
        case unsigned
        /// A decimal stored as an integer, with this many digits after the point.
        case decimal(scale: Int)
    }

    var path: [String]
    var physicalType: ParquetType
    /// FIXED_LEN_BYTE_ARRAY's byte width.
    var typeLength: Int
    var maxDefinition: Int
    var maxRepetition: Int
    var rendering: Rendering

    var name: String { path.joined(separator: ".") }
}

/// A node of the schema tree: a group or a column, with the levels that reach it.
struct SchemaNode: Sendable {
    enum Repetition: Int, Sendable { case required = 0, optional, repeated }

    var name: String
    var repetition: Repetition
    var children: [SchemaNode]
    /// The columns under this node (this one's alone for a column), as indices into the leaves.
    var leaves: Range<Int>
    var maxDefinition: Int
    var maxRepetition: Int
    /// A LIST-annotated group (converted type or logical type).
    var isList: Bool

    var isLeaf: Bool { children.isEmpty }

    static let maximumDepth = 32

    /// The node at `elements[index]` with its descendants, advancing `index` past them.
    static func build(_ elements: [ThriftValue], at index: inout Int, leaves: inout [ParquetLeaf], parent: SchemaNode?, depth: Int,
                      path: [String] = [], fail: (String) -> EvaluationDataError) throws(EvaluationDataError) -> SchemaNode {
        guard depth <= maximumDepth else { throw fail("schema nested more than \(maximumDepth) deep") }
        guard index < elements.count, case .structure(let element) = elements[index] else {
            throw fail("schema element \(index) is missing or not a struct")
        }
        let position = index
        index += 1
        guard let rawName = element.binary(4), let name = JSONParser.validUTF8(Array(rawName)) else {
            throw fail("schema element \(position) has no name")
        }
        let repetition: Repetition
        if parent == nil {
            repetition = .required
        } else {
            guard let raw = element.int(3), let value = Repetition(rawValue: Int(clamping: raw)) else {
                throw fail("schema element \(name) has no valid repetition")
            }
            repetition = value
        }
        let nodePath = parent == nil ? [] : path + [name]
        let maxDefinition = (parent?.maxDefinition ?? 0) + (repetition == .required ? 0 : 1)
        let maxRepetition = (parent?.maxRepetition ?? 0) + (repetition == .repeated ? 1 : 0)
        let converted = element.int(6)
        let logical = element.structure(10)
        var node = SchemaNode(name: name, repetition: repetition, children: [], leaves: leaves.count..<leaves.count,
                              maxDefinition: maxDefinition, maxRepetition: maxRepetition,
                              isList: converted == 3 || logical?.structure(3) != nil)
        let childCount = element.int(5) ?? 0
        if childCount > 0 || parent == nil {
            guard (0...Int64(elements.count - index)).contains(childCount) else { throw fail("schema group \(name) claims \(childCount) children") }
            for _ in 0..<Int(childCount) {
                node.children.append(try build(elements, at: &index, leaves: &leaves, parent: node, depth: depth + 1, path: nodePath, fail: fail))
            }
            guard node.children.allSatisfy({ !$0.leaves.isEmpty }) else { throw fail("schema group \(name) has a group without columns") }
        } else {
            guard let rawType = element.int(1), let type = ParquetType(rawValue: Int(clamping: rawType)) else {
                throw fail("schema element \(name) is neither a group nor a column of a known type")
            }
            let column = nodePath.joined(separator: ".")
            let typeLength = Int(clamping: element.int(2) ?? 0)
            guard type != .fixedLengthByteArray || (0...(1 << 20)).contains(typeLength) else {
                throw fail("column \(column): FIXED_LEN_BYTE_ARRAY of length \(typeLength)")
            }
            guard type != .int96 else { throw fail("column \(column): INT96 (legacy timestamps) is not supported") }
            var rendering = ParquetLeaf.Rendering.plain
            let integer = logical?.structure(10)
            if [11, 12, 13, 14].contains(converted) || integer?.bool(2) == false { rendering = .unsigned }
            if converted == 5 || logical?.structure(5) != nil {
                let scale = Int(clamping: logical?.structure(5)?.int(1) ?? element.int(7) ?? 0)
                guard type == .int32 || type == .int64, (0...38).contains(scale) else {
                    throw fail("column \(column): decimals stored as \(type) are not supported")
                }
                rendering = .decimal(scale: scale)
            }
            leaves.append(ParquetLeaf(path: nodePath, physicalType: type, typeLength: typeLength, maxDefinition: maxDefinition,
                                      maxRepetition: maxRepetition, rendering: rendering))
        }
        node.leaves = node.leaves.lowerBound..<leaves.count
        return node
    }
}

/// Builds rows from the columns' levels and values (record assembly): a node's first column tells
/// where it is null or empty and where its list goes on; a null or empty node takes one entry
/// from each of its columns.
struct RowAssembler {
    let leaves: [ParquetLeaf]
    let columns: [ColumnData]
    private var level: [Int]
    private var value: [Int]

    init(leaves: [ParquetLeaf], columns: [ColumnData]) {
        self.leaves = leaves
        self.columns = columns
        level = Array(repeating: 0, count: columns.count)
        value = Array(repeating: 0, count: columns.count)
    }

    private func error(_ message: String) -> EvaluationDataError { EvaluationDataError(path: nil, line: nil, message: message) }

    mutating func rows(of root: SchemaNode) throws(EvaluationDataError) -> [JSONObject] {
        var rows: [JSONObject] = []
        while level[0] < columns[0].definitions.count {
            guard columns[0].repetitions.isEmpty || columns[0].repetitions[level[0]] == 0 else {
                throw error("row \(rows.count + 1) starts inside a list in column \(leaves[0].name)")
            }
            rows.append(try object(root))
        }
        for (c, column) in columns.enumerated() where level[c] != column.definitions.count || value[c] != column.values.count {
            throw error("column \(leaves[c].name) has entries left over after \(rows.count) rows")
        }
        return rows
    }

    private func definition(_ column: Int) throws(EvaluationDataError) -> Int {
        guard level[column] < columns[column].definitions.count else {
            throw error("column \(leaves[column].name) ends before the others")
        }
        return Int(columns[column].definitions[level[column]])
    }

    /// The repetition level of the next entry of `column`, nil at its end.
    private func nextRepetition(_ column: Int) -> Int? {
        guard level[column] < columns[column].definitions.count else { return nil }
        return columns[column].repetitions.isEmpty ? 0 : Int(columns[column].repetitions[level[column]])
    }

    /// Takes one entry from each column under `node` (a null or empty node).
    private mutating func skip(_ node: SchemaNode) throws(EvaluationDataError) {
        for column in node.leaves {
            if try definition(column) == leaves[column].maxDefinition { value[column] += 1 }
            level[column] += 1
        }
    }

    private mutating func object(_ node: SchemaNode) throws(EvaluationDataError) -> JSONObject {
        var object = JSONObject()
        for child in node.children {
            guard object.insert(child.name, try read(child)) else { throw error("field \(child.name) appears twice in a group") }
        }
        return object
    }

    /// `node`'s value: an array when it is repeated.
    private mutating func read(_ node: SchemaNode) throws(EvaluationDataError) -> JSONValue {
        node.repetition == .repeated ? try elements(node, unwrap: false) : try single(node)
    }

    /// One instance of `node`, whatever its repetition: null, a column's value, a list or an object.
    private mutating func single(_ node: SchemaNode) throws(EvaluationDataError) -> JSONValue {
        let first = node.leaves.lowerBound
        if try definition(first) < node.maxDefinition {
            try skip(node)
            return .null
        }
        if node.isLeaf {
            guard value[first] < columns[first].values.count else { throw error("column \(leaves[first].name) has fewer values than levels say") }
            defer {
                value[first] += 1
                level[first] += 1
            }
            return columns[first].values[value[first]]
        }
        if node.isList, node.children.count == 1, node.children[0].repetition == .repeated {
            // The spec's rules for lists: the repeated field is the element unless it is a group
            // of one field not named "array" or "<list>_tuple" (then that field is the element).
            let repeated = node.children[0]
            let unwrap = repeated.children.count == 1 && repeated.name != "array" && repeated.name != node.name + "_tuple"
            return try elements(repeated, unwrap: unwrap)
        }
        return .object(try object(node))
    }

    /// The elements of repeated `node` at this position; with `unwrap`, each is its one child's value.
    private mutating func elements(_ node: SchemaNode, unwrap: Bool) throws(EvaluationDataError) -> JSONValue {
        let first = node.leaves.lowerBound
        if try definition(first) < node.maxDefinition {
            try skip(node)
            return .array([])
        }
        var elements: [JSONValue] = []
        repeat {
            elements.append(unwrap ? try read(node.children[0]) : try single(node))
        } while nextRepetition(first) == node.maxRepetition
        return .array(elements)
    }
}
