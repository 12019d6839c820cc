import LocoSupport
import Testing

@Suite struct JSONTests {
    @Test func roundTripKeepsOrderAndNumberText() throws {
        let text = #"{"b": 1, "a": [1.50, true, null, "x\"y"], "c": {"n": -2e3}}"#
        let value = try JSONParser.parse(Array(text.utf8))
        guard case .object(let object) = value else { Issue.record("not an object"); return }
        #expect(object.keys == ["b", "a", "c"])
        #expect(JSONWriter.encode(value, pretty: false) == #"{"b":1,"a":[1.50,true,null,"x\"y"],"c":{"n":-2e3}}"#)
        #expect(try JSONParser.parse(Array(JSONWriter.encode(value, pretty: true).utf8)) == value)
    }

    @Test func duplicateKeysAndTrailingGarbageAreRefused() {
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array(#"{"a": 1, "a": 2}"#.utf8)) }
        #expect(throws: JSONSyntaxError.self) { try JSONParser.parse(Array("[1] x".utf8)) }
    }
}

@Suite struct ContentHashTests {
    // FIPS 180-2 vectors; lengths around the padding boundary checked with Python's hashlib.
    @Test func sha256KnownVectors() {
        #expect(ContentHash.sha256([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(ContentHash.sha256(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(ContentHash.sha256(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        // Lengths around the padding boundary (checked with Python's hashlib).
        let x = UInt8(ascii: "x")
        #expect(ContentHash.sha256([UInt8](repeating: x, count: 55)) == "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072")
        #expect(ContentHash.sha256([UInt8](repeating: x, count: 64)) == "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c")
        #expect(ContentHash.sha256([UInt8](repeating: x, count: 119)) == "000b48d4edf0fa7bee3c6236ecd2785baa5db4eeb8bb54341b029e0d9fa5fb0c")
        #expect(ContentHash.sha256([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
