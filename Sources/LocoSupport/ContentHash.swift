import Crypto

/// SHA-256 over content, as lowercase hex: base-model fingerprints, dataset and file identities.
/// The digest is swift-crypto's; this type only fixes how the SDK feeds it and prints it.
public struct ContentHash {
    private var hasher = SHA256()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public mutating func update(_ text: String.UTF8View) { update(Array(text)) }

    /// The digest as 64 lowercase hex digits.
    public func hex() -> String {
        hasher.finalize().map { byte in
            let digits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "a", "b", "c", "d", "e", "f"]
            return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
        }.joined()
    }

    /// SHA-256 of `bytes` as hex.
    public static func sha256(_ bytes: [UInt8]) -> String {
        var hash = ContentHash()
        hash.update(bytes)
        return hash.hex()
    }
}
