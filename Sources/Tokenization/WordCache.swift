#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The tokens of words seen before, shared by every call of one tokenizer.
///
/// Natural text repeats its words, and a cached word costs one hash lookup instead of a merge
/// loop. A call takes a snapshot at its start (copy-on-write: no copy unless another thread
/// writes meanwhile), reads it without locking, collects its new words, and adds them at its
/// end: two lock acquisitions per call whatever its length. When full, the cache starts over.
final class WordCache: @unchecked Sendable {
    /// Words longer than this are not cached: they are rare and would crowd out the common ones.
    static let maximumWordLength = 48

    let capacity: Int
    private let lock = Lock()
    private var table: Table

    init(capacity: Int) {
        self.capacity = capacity
        table = Table(capacity: min(capacity, 1024))
    }

    func snapshot() -> Table { lock.withLock { table } }

    func add(_ additions: Table) {
        guard additions.count > 0 else { return }
        lock.withLock {
            if table.count + additions.count > capacity { table = Table(capacity: min(capacity, 1024)) }
            table.add(additions, limit: capacity)
        }
    }

    /// Words and their tokens.
    struct Table: Sendable {
        private var words: ByteStringTable
        private var tokenStarts: [Int32] = [0]
        private var tokens: [Int32] = []

        init(capacity: Int) { words = ByteStringTable(capacity: capacity) }

        var count: Int { words.count }

        /// Appends the cached tokens of `word` to `output`; false when the word is not cached.
        @inline(__always)
        func append(_ word: UnsafeRawBufferPointer, to output: inout [Int32]) -> Bool {
            let entry = words.value(for: word)
            guard entry >= 0 else { return false }
            let range = Int(tokenStarts[Int(entry)])..<Int(tokenStarts[Int(entry) + 1])
            tokens.withUnsafeBufferPointer { output.append(contentsOf: UnsafeBufferPointer(rebasing: $0[range])) }
            return true
        }

        mutating func insert(_ word: UnsafeRawBufferPointer, tokens wordTokens: ArraySlice<Int32>) {
            let entry = Int32(words.count)
            guard words.insert(word, value: entry) == entry else { return }
            tokens.append(contentsOf: wordTokens)
            tokenStarts.append(Int32(tokens.count))
        }

        mutating func add(_ other: Table, limit: Int) {
            for entry in 0..<other.count where count < limit {
                let slice = other.tokens[Int(other.tokenStarts[entry])..<Int(other.tokenStarts[entry + 1])]
                other.words.withKey(at: entry) { insert($0, tokens: slice) }
            }
        }
    }
}

/// A mutex (pthread), for the few places that share mutable state across threads.
final class Lock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
