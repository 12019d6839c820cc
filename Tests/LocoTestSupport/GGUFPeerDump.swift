import Foundation
import GGUFFormat

/// gguf-py's reading of a GGUF file, as `scripts/gguf_peer.py dump` writes it: numbers as decimal
/// strings, floats as hex bit patterns, nested arrays flattened to their leaves.
public struct GGUFPeerDump: Decodable, Sendable {
    public struct Field: Decodable, Sendable {
        public var key: String
        public var types: [String]
        public var value: Leaf
    }

    public enum Leaf: Decodable, Sendable, Equatable {
        case text(String)
        case bool(Bool)
        case list([Leaf])

        public init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .bool(b) }
            else if let s = try? c.decode(String.self) { self = .text(s) }
            else { self = .list(try c.decode([Leaf].self)) }
        }
    }

    public struct Tensor: Decodable, Sendable {
        public var name: String
        public var shape: [Int]
        public var type: String
        public var type_id: UInt32
        public var offset: Int
        public var n_bytes: Int
        public var n_elements: Int
    }

    public var version: UInt32
    public var alignment: Int
    public var data_offset: Int
    public var fields: [Field]
    public var tensors: [Tensor]

    public init(json: Data) throws {
        self = try JSONDecoder().decode(GGUFPeerDump.self, from: json)
    }

    /// Asks gguf-py (through `scripts/gguf_peer.py`) for its reading of `path`.
    public static func fromPeer(path: String) throws -> GGUFPeerDump {
        let result = try run("python3", [Repository.path("scripts/gguf_peer.py"), "dump", path])
        guard result.status == 0 else {
            throw PeerError.failed("gguf_peer.py dump \(path) exited \(result.status): \(result.stderr)")
        }
        return try GGUFPeerDump(json: result.stdout)
    }

    /// Every difference between this reading and `file`, as readable lines (empty when they agree).
    public func differences(from file: GGUFFile) -> [String] {
        var out: [String] = []
        if version != file.version { out.append("version: peer \(version), ours \(file.version)") }
        if alignment != file.alignment { out.append("alignment: peer \(alignment), ours \(file.alignment)") }
        if data_offset != file.dataOffset { out.append("data offset: peer \(data_offset), ours \(file.dataOffset)") }
        if fields.map(\.key) != file.metadata.keys {
            out.append("keys: peer \(fields.map(\.key)), ours \(file.metadata.keys)")
        }
        for field in fields {
            guard let value = file.metadata[field.key] else { continue }
            let ours = GGUFPeerDump.typeChain(value)
            if ours != field.types { out.append("\(field.key): types peer \(field.types), ours \(ours)") }
            let leaves = GGUFPeerDump.leaf(value)
            if leaves != field.value { out.append("\(field.key): value peer \(field.value), ours \(leaves)") }
        }
        if tensors.count != file.tensors.count {
            out.append("tensor count: peer \(tensors.count), ours \(file.tensors.count)")
        }
        for (peer, ours) in zip(tensors, file.tensors) {
            let same = peer.name == ours.name && peer.shape == ours.shape && peer.type == ours.type.name
                && peer.type_id == ours.type.rawValue && peer.offset == ours.offset
                && peer.n_bytes == ours.byteCount && peer.n_elements == ours.elementCount
            if !same { out.append("tensor: peer \(peer), ours \(ours)") }
        }
        return out
    }

    /// gguf-py's type chain: the value's type, then for arrays the first element's chain (so an
    /// empty array shows no element type).
    static func typeChain(_ value: GGUFValue) -> [String] {
        guard case .array(let array) = value else { return [value.type.name] }
        if array.count == 0 { return ["ARRAY"] }
        if array.elementType == .array, let first = array.values.first {
            return ["ARRAY"] + typeChain(first)
        }
        return ["ARRAY", array.elementType.name]
    }

    static func leaf(_ value: GGUFValue) -> Leaf {
        if case .array = value { return .list(flatten(value)) }
        return scalar(value)
    }

    static func flatten(_ value: GGUFValue) -> [Leaf] {
        guard case .array(let array) = value else { return [scalar(value)] }
        return array.values.flatMap(flatten)
    }

    static func scalar(_ value: GGUFValue) -> Leaf {
        switch value {
        case .float32(let f): .text("0x" + hex(UInt64(f.bitPattern), digits: 8))
        case .float64(let d): .text("0x" + hex(d.bitPattern, digits: 16))
        case .bool(let b): .bool(b)
        case .string(let s): .text(s)
        case .uint64(let v): .text("\(v)")
        case .array: .list(flatten(value))
        default: .text("\(value.integerValue!)")
        }
    }

    static func hex(_ v: UInt64, digits: Int) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: max(0, digits - s.count)) + s
    }
}

public enum PeerError: Error, CustomStringConvertible {
    case failed(String)
    public var description: String {
        switch self { case .failed(let s): s }
    }
}
