/// The BPE merges: for a pair of symbol ids, the merge's rank (its line in
/// `tokenizer.ggml.merges`) and the id of the merged symbol. Open addressing on the packed pair.
struct MergeTable: Sendable {
    private var keys: [UInt64]
    /// `rank << 32 | result`.
    private var entries: [UInt64]
    private var mask: Int
    private(set) var count = 0

    private static let empty = UInt64.max

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = Array(repeating: MergeTable.empty, count: size)
        entries = Array(repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always)
    private static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// Adds a merge unless the pair has one already (the first line wins, as in llama.cpp).
    mutating func insert(left: Int32, right: Int32, rank: Int32, result: Int32) {
        if (count + 1) * 2 > keys.count { grow() }
        let key = MergeTable.key(left, right)
        var slot = MergeTable.slot(key, mask)
        while keys[slot] != MergeTable.empty {
            if keys[slot] == key { return }
            slot = (slot + 1) & mask
        }
        keys[slot] = key
        entries[slot] = UInt64(UInt32(rank)) << 32 | UInt64(UInt32(bitPattern: result))
        count += 1
    }

    /// The merge of `left` and `right` as `(rank, result)`, or nil.
    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> (rank: Int32, result: Int32)? {
        let key = MergeTable.key(left, right)
        return keys.withUnsafeBufferPointer { keys in
            var slot = MergeTable.slot(key, mask)
            while true {
                let stored = keys[slot]
                if stored == key {
                    let entry = entries[slot]
                    return (Int32(truncatingIfNeeded: entry >> 32), Int32(truncatingIfNeeded: entry))
                }
                if stored == MergeTable.empty { return nil }
                slot = (slot + 1) & mask
            }
        }
    }

    private mutating func grow() {
        let oldKeys = keys, oldEntries = entries
        keys = Array(repeating: MergeTable.empty, count: oldKeys.count * 2)
        entries = Array(repeating: 0, count: oldKeys.count * 2)
        mask = keys.count - 1
        for i in oldKeys.indices where oldKeys[i] != MergeTable.empty {
            var slot = MergeTable.slot(oldKeys[i], mask)
            while keys[slot] != MergeTable.empty { slot = (slot + 1) & mask }
            keys[slot] = oldKeys[i]
            entries[slot] = oldEntries[i]
        }
    }
}
