import LocoSupport

/// One column chunk's entries: a definition level for each (all 0 when the column cannot be
/// null), a repetition level for each when the column is repeated (else none), and the values of
/// the entries that are not null.
struct ColumnData: Sendable {
    var repetitions: [UInt8] = []
    var definitions: [UInt8] = []
    var values: [JSONValue] = []
}

/// Reads a column chunk's pages: its dictionary page, then DATA_PAGE and DATA_PAGE_V2 pages until
/// the chunk's count of values is reached. Errors name the page and what was wrong; the caller
/// adds the file, row group and column.
struct ColumnReader {
    let bytes: [UInt8]
    let leaf: ParquetLeaf
    let chunk: ParquetFile.ColumnChunk

    private static let encodingNames = [0: "PLAIN", 2: "PLAIN_DICTIONARY", 3: "RLE", 4: "BIT_PACKED", 5: "DELTA_BINARY_PACKED",
                                        6: "DELTA_LENGTH_BYTE_ARRAY", 7: "DELTA_BYTE_ARRAY", 8: "RLE_DICTIONARY", 9: "BYTE_STREAM_SPLIT"]

    private func error(_ message: String) -> EvaluationDataError { EvaluationDataError(path: nil, line: nil, message: message) }

    private func unsupported(_ encoding: Int, for what: String) -> EvaluationDataError {
        error("\(what) encoded as \(Self.encodingNames[encoding] ?? "encoding \(encoding)"), which is not supported")
    }

    func read() throws(EvaluationDataError) -> ColumnData {
        var data = ColumnData()
        var dictionary: [JSONValue]?
        var position = chunk.start, page = 0
        while data.definitions.count < chunk.valueCount {
            guard position < chunk.end else {
                throw error("the chunk ends after \(data.definitions.count) of its \(chunk.valueCount) values")
            }
            let pageStart = position
            do throws(EvaluationDataError) {
                var reader = ThriftCompactReader(bytes: bytes, from: position, to: chunk.end)
                let header = try reader.readStruct()
                position = reader.position
                let type = try header.required(1, "page type")
                let uncompressedSize = try header.required(2, "uncompressed_page_size")
                let compressedSize = try header.required(3, "compressed_page_size")
                guard compressedSize <= chunk.end - position else { throw error("\(compressedSize) bytes run past the chunk") }
                let body = bytes[position..<(position + compressedSize)]
                position += compressedSize
                switch type {
                case 2: dictionary = try readDictionary(header, body, uncompressedSize)
                case 0: try readDataPage(header, body, uncompressedSize, dictionary, into: &data)
                case 3: try readDataPageV2(header, body, uncompressedSize, dictionary, into: &data)
                default: break  // index pages: nothing to read
                }
            } catch {
                throw self.error("page \(page) at byte \(pageStart): " + error.message)
            }
            page += 1
        }
        return data
    }

    private func decompress(_ body: ArraySlice<UInt8>, size: Int) throws(EvaluationDataError) -> ArraySlice<UInt8> {
        switch chunk.codec {
        case 1: try Snappy.decompress(body, expectedCount: size)[...]
        case 2: try Inflate.decompress(body, expectedCount: size)[...]
        default: body
        }
    }

    private func readDictionary(_ header: ThriftStruct, _ body: ArraySlice<UInt8>, _ size: Int) throws(EvaluationDataError) -> [JSONValue] {
        guard let dictionary = header.structure(7) else { throw error("DICTIONARY_PAGE without its header") }
        let count = try dictionary.required(1, "num_values", in: 0...Int64(ParquetFile.maximumValuesPerChunk))
        let encoding = try dictionary.required(2, "encoding")
        guard encoding == 0 || encoding == 2 else { throw unsupported(encoding, for: "dictionary") }
        var values: [JSONValue] = []
        try plain(try decompress(body, size: size), count: count, into: &values)
        return values
    }

    private func readDataPage(_ header: ThriftStruct, _ body: ArraySlice<UInt8>, _ size: Int, _ dictionary: [JSONValue]?,
                              into data: inout ColumnData) throws(EvaluationDataError) {
        guard let page = header.structure(5) else { throw error("DATA_PAGE without its header") }
        let count = try page.required(1, "num_values", in: 0...Int64(chunk.valueCount - data.definitions.count))
        let encoding = try page.required(2, "encoding")
        let content = try decompress(body, size: size)
        var offset = content.startIndex
        // Version 1 keeps each level stream behind its 4-byte length, repetition levels first.
        func levels(_ encoding: Int, max: Int, into out: inout [UInt8]) throws(EvaluationDataError) {
            guard encoding == 3 else { throw unsupported(encoding, for: "levels") }
            let length = try Self.length(content, at: offset)
            offset += 4
            try Self.appendLevels(content[offset..<(offset + length)], max: max, count: count, into: &out)
            offset += length
        }
        if leaf.maxRepetition > 0 { try levels(try page.required(4, "repetition_level_encoding"), max: leaf.maxRepetition, into: &data.repetitions) }
        let before = data.definitions.count
        if leaf.maxDefinition > 0 {
            try levels(try page.required(3, "definition_level_encoding"), max: leaf.maxDefinition, into: &data.definitions)
        } else {
            data.definitions += repeatElement(0, count: count)
        }
        try values(content[offset...], encoding: encoding, count: present(data.definitions[before...]), dictionary, into: &data.values)
    }

    private func readDataPageV2(_ header: ThriftStruct, _ body: ArraySlice<UInt8>, _ size: Int, _ dictionary: [JSONValue]?,
                                into data: inout ColumnData) throws(EvaluationDataError) {
        guard let page = header.structure(8) else { throw error("DATA_PAGE_V2 without its header") }
        let count = try page.required(1, "num_values", in: 0...Int64(chunk.valueCount - data.definitions.count))
        let encoding = try page.required(4, "encoding")
        let definitionBytes = try page.required(5, "definition_levels_byte_length")
        let repetitionBytes = try page.required(6, "repetition_levels_byte_length")
        guard repetitionBytes + definitionBytes <= body.count, repetitionBytes + definitionBytes <= size else {
            throw error("levels of \(repetitionBytes) + \(definitionBytes) bytes do not fit in the page")
        }
        // Version 2 keeps the levels uncompressed and without length prefixes, before the values.
        let start = body.startIndex
        if leaf.maxRepetition > 0 {
            try Self.appendLevels(body[start..<(start + repetitionBytes)], max: leaf.maxRepetition, count: count, into: &data.repetitions)
        }
        let before = data.definitions.count
        if leaf.maxDefinition > 0 {
            let from = start + repetitionBytes
            try Self.appendLevels(body[from..<(from + definitionBytes)], max: leaf.maxDefinition, count: count, into: &data.definitions)
        } else {
            data.definitions += repeatElement(0, count: count)
        }
        var content = body[(start + repetitionBytes + definitionBytes)...]
        if page.bool(7) ?? true { content = try decompress(content, size: size - repetitionBytes - definitionBytes) }
        try values(content, encoding: encoding, count: present(data.definitions[before...]), dictionary, into: &data.values)
    }

    /// How many of `definitions` are values, not nulls.
    private func present(_ definitions: ArraySlice<UInt8>) -> Int {
        definitions.reduce(0) { $0 + (Int($1) == leaf.maxDefinition ? 1 : 0) }
    }

    private func values(_ content: ArraySlice<UInt8>, encoding: Int, count: Int, _ dictionary: [JSONValue]?,
                        into out: inout [JSONValue]) throws(EvaluationDataError) {
        switch encoding {
        case 0:
            try plain(content, count: count, into: &out)
        case 2, 8:
            guard count > 0 else { return }
            guard let dictionary else { throw error("dictionary-encoded values without a dictionary page") }
            guard let width = content.first, width <= 32 else { throw error("dictionary index width missing or over 32 bits") }
            for index in try Self.hybrid(content.dropFirst(), bitWidth: Int(width), count: count) {
                guard Int(index) < dictionary.count else { throw error("dictionary index \(index) of \(dictionary.count) entries") }
                out.append(dictionary[Int(index)])
            }
        case 3 where leaf.physicalType == .boolean:
            let length = try Self.length(content, at: content.startIndex)
            let start = content.startIndex + 4
            out += try Self.hybrid(content[start..<(start + length)], bitWidth: 1, count: count).map { .bool($0 == 1) }
        default:
            throw unsupported(encoding, for: "values")
        }
    }

    /// `count` PLAIN-encoded values of the column's type.
    private func plain(_ content: ArraySlice<UInt8>, count: Int, into out: inout [JSONValue]) throws(EvaluationDataError) {
        let start = content.startIndex
        func fixed(_ width: Int) throws(EvaluationDataError) {
            guard count * width <= content.count else {
                throw error("\(count) values of \(width) bytes need \(count * width) bytes, the page has \(content.count)")
            }
        }
        func word(_ at: Int, _ width: Int) -> UInt64 {
            var value: UInt64 = 0
            for i in 0..<width { value |= UInt64(content[at + i]) << UInt64(8 * i) }
            return value
        }
        out.reserveCapacity(out.count + count)
        switch leaf.physicalType {
        case .boolean:
            guard (count + 7) / 8 <= content.count else { throw error("\(count) booleans need \((count + 7) / 8) bytes, the page has \(content.count)") }
            for i in 0..<count { out.append(.bool((content[start + i / 8] >> (i % 8)) & 1 == 1)) }
        case .int32:
            try fixed(4)
            for i in 0..<count { out.append(integer(Int64(Int32(truncatingIfNeeded: word(start + 4 * i, 4))), unsigned: word(start + 4 * i, 4))) }
        case .int64:
            try fixed(8)
            for i in 0..<count {
                let raw = word(start + 8 * i, 8)
                out.append(integer(Int64(bitPattern: raw), unsigned: raw))
            }
        case .float:
            try fixed(4)
            for i in 0..<count { out.append(Self.number(Float(bitPattern: UInt32(word(start + 4 * i, 4))))) }
        case .double:
            try fixed(8)
            for i in 0..<count { out.append(Self.number(Double(bitPattern: word(start + 8 * i, 8)))) }
        case .byteArray:
            var offset = start
            for i in 0..<count {
                let length = try Self.length(content, at: offset)
                offset += 4
                out.append(try text(content[offset..<(offset + length)], index: i))
                offset += length
            }
        case .fixedLengthByteArray:
            try fixed(leaf.typeLength)
            for i in 0..<count {
                let from = start + i * leaf.typeLength
                out.append(try text(content[from..<(from + leaf.typeLength)], index: i))
            }
        case .int96:
            throw error("INT96 values are not supported")
        }
    }

    private func integer(_ value: Int64, unsigned: UInt64) -> JSONValue {
        switch leaf.rendering {
        case .plain: return .number(String(value))
        case .unsigned: return .number(String(unsigned))
        case .decimal(let scale):
            var digits = String(value.magnitude)
            guard scale > 0 else { return .number((value < 0 ? "-" : "") + digits) }
            if digits.count <= scale { digits = String(repeating: "0", count: scale + 1 - digits.count) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
            return .number((value < 0 ? "-" : "") + digits)
        }
    }

    private func text(_ bytes: ArraySlice<UInt8>, index: Int) throws(EvaluationDataError) -> JSONValue {
        guard let string = JSONParser.validUTF8(Array(bytes)) else { throw error("value \(index) is not UTF-8 text (binary data is not supported)") }
        return .string(string)
    }

    /// A number as JSON writes it; NaN and the infinities, which JSON has not, as null.
    static func number<F: BinaryFloatingPoint & LosslessStringConvertible>(_ value: F) -> JSONValue {
        value.isFinite ? .number(value.description) : .null
    }

    /// A 4-byte little-endian length at `offset` whose bytes follow it within `content`.
    static func length(_ content: ArraySlice<UInt8>, at offset: Int) throws(EvaluationDataError) -> Int {
        guard offset >= content.startIndex, content.endIndex - offset >= 4 else {
            throw EvaluationDataError(path: nil, line: nil, message: "a length prefix runs past the end of the page")
        }
        var length = 0
        for i in 0..<4 { length |= Int(content[offset + i]) << (8 * i) }
        guard length <= content.endIndex - offset - 4 else {
            throw EvaluationDataError(path: nil, line: nil, message: "\(length) bytes run past the end of the page")
        }
        return length
    }

    /// Appends `count` levels (each at most `max`) from RLE/bit-packed hybrid data.
    static func appendLevels(_ data: ArraySlice<UInt8>, max: Int, count: Int, into out: inout [UInt8]) throws(EvaluationDataError) {
        let width = Int.bitWidth - max.leadingZeroBitCount
        for level in try hybrid(data, bitWidth: width, count: count) {
            guard level <= max else { throw EvaluationDataError(path: nil, line: nil, message: "level \(level) over the maximum \(max)") }
            out.append(UInt8(level))
        }
    }

    /// `count` values from the RLE/bit-packed hybrid encoding: runs, each a varint header whose low
    /// bit tells a bit-packed run (header >> 1 groups of 8 values, least significant bit first)
    /// from a repeated one (header >> 1 copies of one value in whole bytes, little-endian).
    static func hybrid(_ data: ArraySlice<UInt8>, bitWidth: Int, count: Int) throws(EvaluationDataError) -> [UInt32] {
        func error(_ message: String) -> EvaluationDataError { EvaluationDataError(path: nil, line: nil, message: message) }
        precondition((0...32).contains(bitWidth))
        var out: [UInt32] = []
        out.reserveCapacity(min(count, 4096 + 8 * data.count))
        let mask: UInt64 = (1 << UInt64(bitWidth)) - 1, byteWidth = (bitWidth + 7) / 8
        var position = data.startIndex
        while out.count < count {
            var header: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard position < data.endIndex else { throw error("RLE data ends after \(out.count) of \(count) values") }
                let b = data[position]
                position += 1
                guard shift < 63 else { throw error("RLE run header longer than 64 bits") }
                header |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
            }
            let wanted = count - out.count
            if header & 1 == 0 {
                guard byteWidth <= data.endIndex - position else { throw error("RLE run value runs past the end") }
                var value: UInt64 = 0
                for i in 0..<byteWidth { value |= UInt64(data[position + i]) << UInt64(8 * i) }
                position += byteWidth
                out += repeatElement(UInt32(truncatingIfNeeded: value & mask), count: Int(min(header >> 1, UInt64(wanted))))
            } else {
                // Only the values still wanted are read; the last run's padding may be cut short.
                let groups = Int(min(header >> 1, UInt64(wanted / 8 + 1)))
                let taken = min(groups * 8, wanted)
                guard (taken * bitWidth + 7) / 8 <= data.endIndex - position else { throw error("bit-packed run runs past the end") }
                var buffer: UInt64 = 0, bits = 0, at = position
                for _ in 0..<taken {
                    while bits < bitWidth {
                        buffer |= UInt64(data[at]) << UInt64(bits)
                        at += 1
                        bits += 8
                    }
                    out.append(UInt32(truncatingIfNeeded: buffer & mask))
                    buffer >>= UInt64(bitWidth)
                    bits -= bitWidth
                }
                position = min(data.endIndex, position + groups * bitWidth)
            }
        }
        return out
    }
}
