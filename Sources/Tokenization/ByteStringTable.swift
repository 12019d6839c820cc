/// A hash map from byte strings to `Int32`, with every key in one byte arena.
///
/// The vocabulary, the BPE symbol space and the word cache all map byte strings to ids; keeping the
/// keys in one buffer (instead of `[[UInt8]: Int32]`, one allocation per key) makes a lookup one
/// hash of the probe bytes and, usually, one comparison, with no allocation. Open addressing with
/// linear probing, load factor at most 1/2; each slot keeps its key's hash, so a probe touches the
/// key bytes only when the hashes agree. A value type: copies share storage until one is written.
struct ByteStringTable: Sendable {
    private var storage: Storage

    init(capacity: Int = 16) { storage = Storage(capacity: capacity) }

    var count: Int { storage.count }

    /// The value for `key`, or -1.
    func value(for key: UnsafeRawBufferPointer) -> Int32 {
        let entry = storage.find(key, hash: ByteStringTable.hash(key))
        return entry < 0 ? -1 : storage.values[entry]
    }

    func value(for key: [UInt8]) -> Int32 { key.withUnsafeBytes { value(for: $0) } }

    /// Calls `body` with the key bytes of entry `index` (entries are numbered in insertion order).
    func withKey<T>(at index: Int, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        let start = Int(storage.starts[index]), end = Int(storage.starts[index + 1])
        return body(UnsafeRawBufferPointer(start: storage.arena + start, count: end - start))
    }

    /// Inserts `key` with `value` unless the key is present. Returns the entry's value afterwards
    /// (the old one when the key was there).
    @discardableResult
    mutating func insert(_ key: UnsafeRawBufferPointer, value: Int32) -> Int32 {
        let hash = ByteStringTable.hash(key)
        let entry = storage.find(key, hash: hash)
        if entry >= 0 { return storage.values[entry] }
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        storage.append(key, value: value, hash: hash)
        return value
    }

    @discardableResult
    mutating func insert(_ key: [UInt8], value: Int32) -> Int32 { key.withUnsafeBytes { insert($0, value: value) } }

    /// A fast non-cryptographic hash: eight bytes at a time, multiply-xorshift mixing.
    @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(key.count)
        var i = 0
        let n = key.count
        while i + 8 <= n {
            let word = key.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ word) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(key[i]) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tail) &* 0x94D0_49BB_1331_11EB
        }
        h ^= h >> 29
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 32
        return UInt32(truncatingIfNeeded: h)
    }

    /// The buffers, written only while uniquely referenced (copy-on-write).
    private final class Storage: @unchecked Sendable {
        private(set) var arena: UnsafeMutablePointer<UInt8>
        private var arenaCapacity: Int
        private var arenaCount = 0
        /// Start of each entry's key in `arena`; entry `i` ends where entry `i + 1` starts.
        private(set) var starts: UnsafeMutablePointer<Int32>
        private(set) var values: UnsafeMutablePointer<Int32>
        private var entryCapacity: Int
        private(set) var count = 0
        /// Per slot `hash << 32 | (entry index + 1)`; 0 is empty.
        private var slots: UnsafeMutablePointer<UInt64>
        private var mask: Int

        init(capacity: Int) {
            var size = 16
            while size < capacity * 2 { size <<= 1 }
            entryCapacity = max(capacity, 8)
            arenaCapacity = entryCapacity * 8
            arena = .allocate(capacity: arenaCapacity)
            starts = .allocate(capacity: entryCapacity + 1)
            starts[0] = 0
            values = .allocate(capacity: entryCapacity)
            slots = .allocate(capacity: size)
            slots.initialize(repeating: 0, count: size)
            mask = size - 1
        }

        deinit {
            arena.deallocate()
            starts.deallocate()
            values.deallocate()
            slots.deallocate()
        }

        func copy() -> Storage {
            let other = Storage(capacity: entryCapacity)
            other.arena.deallocate()
            other.arena = .allocate(capacity: arenaCapacity)
            other.arenaCapacity = arenaCapacity
            other.arena.update(from: arena, count: arenaCount)
            other.arenaCount = arenaCount
            other.starts.update(from: starts, count: count + 1)
            other.values.update(from: values, count: count)
            other.count = count
            other.slots.deallocate()
            other.slots = .allocate(capacity: mask + 1)
            other.slots.update(from: slots, count: mask + 1)
            other.mask = mask
            return other
        }

        func find(_ key: UnsafeRawBufferPointer, hash: UInt32) -> Int {
            let tag = UInt64(hash) << 32
            var slot = Int(hash) & mask
            while true {
                let stored = slots[slot]
                if stored == 0 { return -1 }
                if stored & 0xFFFF_FFFF_0000_0000 == tag {
                    let entry = Int(truncatingIfNeeded: stored & 0xFFFF_FFFF) - 1
                    let start = Int(starts[entry])
                    if Int(starts[entry + 1]) - start == key.count && Storage.equal(arena + start, key) { return entry }
                }
                slot = (slot + 1) & mask
            }
        }

        func append(_ key: UnsafeRawBufferPointer, value: Int32, hash: UInt32) {
            if (count + 1) * 2 > mask + 1 { growSlots() }
            if count == entryCapacity {
                entryCapacity *= 2
                starts = Storage.reallocate(starts, count: count + 1, capacity: entryCapacity + 1)
                values = Storage.reallocate(values, count: count, capacity: entryCapacity)
            }
            if arenaCount + key.count > arenaCapacity {
                arenaCapacity = max(arenaCapacity * 2, arenaCount + key.count)
                arena = Storage.reallocate(arena, count: arenaCount, capacity: arenaCapacity)
            }
            if let base = key.baseAddress { (arena + arenaCount).update(from: base.assumingMemoryBound(to: UInt8.self), count: key.count) }
            arenaCount += key.count
            values[count] = value
            count += 1
            starts[count] = Int32(arenaCount)
            place(UInt64(hash) << 32 | UInt64(count))
        }

        private func place(_ stored: UInt64) {
            var slot = Int(truncatingIfNeeded: stored >> 32) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = stored
        }

        private func growSlots() {
            let old = slots, oldSize = mask + 1
            slots = .allocate(capacity: oldSize * 2)
            slots.initialize(repeating: 0, count: oldSize * 2)
            mask = oldSize * 2 - 1
            for i in 0..<oldSize where old[i] != 0 { place(old[i]) }
            old.deallocate()
        }

        private static func reallocate<T>(_ buffer: UnsafeMutablePointer<T>, count: Int, capacity: Int) -> UnsafeMutablePointer<T> {
            let bigger = UnsafeMutablePointer<T>.allocate(capacity: capacity)
            bigger.moveInitialize(from: buffer, count: count)
            buffer.deallocate()
            return bigger
        }

        /// Byte equality, eight bytes at a time (keys are short: a call to `memcmp` costs more).
        @inline(__always)
        private static func equal(_ a: UnsafePointer<UInt8>, _ key: UnsafeRawBufferPointer) -> Bool {
            guard let b = key.baseAddress else { return true }
            let a = UnsafeRawPointer(a)
            let n = key.count
            var i = 0
            while i + 8 <= n {
                if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
                i += 8
            }
            while i < n {
                if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
                i += 1
            }
            return true
        }
    }
}
