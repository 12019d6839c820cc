import Foundation
import LocoSupport

/// One share of a run split across processes or machines: shard `index` of `count` (from 0).
///
/// Work is split into units (a suite's multiple-choice items one by one and its generation
/// batches, a sweep's variants, a selection's candidates), each named by a key. The keys are
/// ranked by their SHA-256 and dealt round-robin, so the split depends only on the set of keys,
/// not on the order they are listed in, and the shards differ in size by at most one unit.
/// Every shard writes a partial results folder; ``ShardMerge`` puts them together into exactly
/// what the unsharded run writes.
public struct Shard: Sendable, Hashable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws(ShardError) {
        guard count >= 1 else { throw ShardError("a shard count must be at least 1, not \(count)") }
        guard (0..<count).contains(index) else { throw ShardError("shard \(index) is not among 0..<\(count) (shards count from 0)") }
        self.index = index
        self.count = count
    }

    /// Parses `I/N`, as `--shard` takes it.
    public init(parsing text: String) throws(ShardError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw ShardError("'\(text)' is not a shard: write I/N, shard I (from 0) of N")
        }
        try self.init(index: index, count: count)
    }

    /// The shard a Slurm job-array task runs: `SLURM_ARRAY_TASK_ID` less `SLURM_ARRAY_TASK_MIN`
    /// (0 when unset) of `SLURM_ARRAY_TASK_COUNT`; nil outside a job array.
    public static func fromSlurm(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(ShardError) -> Shard? {
        guard let idText = environment["SLURM_ARRAY_TASK_ID"], let countText = environment["SLURM_ARRAY_TASK_COUNT"] else { return nil }
        guard let id = Int(idText), let count = Int(countText) else {
            throw ShardError("SLURM_ARRAY_TASK_ID '\(idText)' and SLURM_ARRAY_TASK_COUNT '\(countText)' are not numbers")
        }
        let minimum = environment["SLURM_ARRAY_TASK_MIN"].flatMap { Int($0) } ?? 0
        return try Shard(index: id - minimum, count: count)
    }

    public var description: String { "\(index)/\(count)" }

    /// The keys this shard owns (in their given order). Keys must be unique.
    public func owned(_ keys: [String]) -> Set<String> {
        let ranked = keys.map { (hash: ContentHash.sha256(Array($0.utf8)), key: $0) }.sorted { ($0.hash, $0.key) < ($1.hash, $1.key) }
        return Set(ranked.enumerated().filter { $0.offset % count == index }.map(\.element.key))
    }

    /// The units this shard owns, in their given order.
    public func select<Unit>(_ units: [Unit], key: (Unit) -> String) -> [Unit] {
        let mine = owned(units.map(key))
        return units.filter { mine.contains(key($0)) }
    }
}

/// A shard that cannot be parsed, or shards that do not add up to one run.
public struct ShardError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// What a shard's partial results folder says of itself (`shard.json`): which run it is part of,
/// which shard, every unit of the whole run in order, and whether it finished.
public struct ShardManifest: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case run, sweep, select
    }

    public static let fileName = "shard.json"

    public var kind: Kind
    public var index: Int
    public var count: Int
    /// What every shard of the run must share (the run's settings, as JSON text).
    public var run: String
    /// Every unit key of the whole run, in the unsharded order (items for `run`, variant
    /// types for `sweep`, candidate names for `select`).
    public var units: [String]
    /// The unit keys this shard covers.
    public var owned: [String]
    /// Written once the shard's results are complete.
    public var complete: Bool
    /// `run`: the suite's name.
    public var suite: String?

    public init(kind: Kind, shard: Shard, run: String, units: [String], owned: [String], complete: Bool) {
        self.kind = kind
        self.index = shard.index
        self.count = shard.count
        self.run = run
        self.units = units
        self.owned = owned
        self.complete = complete
    }

    public func write(to folder: String) throws {
        try AtomicFile.write(Array(String(decoding: try JSONEncoder.sortedKeys.encode(self), as: UTF8.self).utf8) + [0x0A],
                             to: folder + "/" + Self.fileName)
    }

    public static func read(from folder: String) throws -> ShardManifest {
        let path = folder + "/" + fileName
        guard FileSystem.exists(path) else {
            throw ShardError("\(folder) holds no \(fileName): it is not the folder of a sharded run (--shard I/N --out DIR)")
        }
        do {
            return try JSONDecoder().decode(ShardManifest.self, from: Data(try FileSystem.read(path, limit: 64 << 20)))
        } catch let error as DecodingError {
            throw ShardError("\(path) is damaged: \(error)")
        }
    }
}
