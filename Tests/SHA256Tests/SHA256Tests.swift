import OpenSSLSHA256
import SHA256
import TestSupport
import Testing

@Suite("SHA-256 reference")
struct SHA256ReferenceTests {
    /// FIPS 180-4 / NIST CAVP examples.
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
        (
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        ),
    ])
    func knownAnswers(message: String, expected: String) {
        #expect(SHA256.hash(Array(message.utf8)).hex == expected)
        #expect(Hex.encode(OpenSSLSHA256.hash(Array(message.utf8))) == expected)
    }

    @Test func oneMillionA() {
        var hasher = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { chunk.withUnsafeBytes { hasher.update($0) } }
        #expect(hasher.finalize().hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Streaming with arbitrary splits equals OpenSSL's one-shot digest for every length up to 300.
    @Test func streamingMatchesOpenSSL() {
        var rng = SeededRNG()
        for length in 0...300 {
            let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var hasher = SHA256()
            var rest = message[...]
            while !rest.isEmpty {
                let n = Int.random(in: 1...max(1, rest.count), using: &rng)
                if Bool.random(using: &rng) {
                    hasher.update(rest.prefix(n))
                } else {
                    Array(rest.prefix(n)).withUnsafeBytes { hasher.update($0) }
                }
                rest = rest.dropFirst(n)
            }
            #expect(hasher.finalize().bytes == OpenSSLSHA256.hash(message), "length \(length)")
        }
    }

    @Test(arguments: HeaderFixture.all)
    func realBlockHeaders(_ fixture: HeaderFixture) throws {
        let header = try Hex.decode(fixture.header)
        #expect(SHA256.hashTwice(header).reversedHex == fixture.hash)
        #expect(Hex.encode(OpenSSLSHA256.hashTwice(header).reversed()) == fixture.hash)
        let job = try HeaderScanJob(header: header)
        let nonce = header[76...].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        #expect(job.referenceHash(nonce: nonce).reversedHex == fixture.hash)
    }

    @Test func digestRoundTrip() throws {
        let d = SHA256.hash(Array("abc".utf8))
        #expect(try SHA256Digest(bytes: d.bytes) == d)
        #expect(d.reversedHex == Hex.encode(d.bytes.reversed()))
    }

    @Test func midstateEqualsFirstChunkCompression() throws {
        let header = try Hex.decode(HeaderFixture.all[0].header)
        let job = try HeaderScanJob(header: header)
        var hasher = SHA256()
        hasher.update(header[0..<64])
        #expect(job.midstate == hasher.state)
    }
}

@Suite("Bad input")
struct SHA256BadInputTests {
    @Test func headerMustBe80Bytes() {
        for n in [0, 79, 81, 160] {
            #expect(throws: SHA256Error.self) { try HeaderScanJob(header: [UInt8](repeating: 0, count: n)) }
        }
        do {
            _ = try HeaderScanJob(header: [UInt8](repeating: 0, count: 79))
            Issue.record("a 79-byte header was accepted")
        } catch {
            #expect(error.code == .badLength)
            #expect(error.message.contains("80 bytes, got 79"))
        }
    }

    @Test func hexErrorsNameTheInputAndPosition() {
        #expect(throws: SHA256Error(.badHex, "--header: odd number of hex digits (3)")) {
            try Hex.decode("abc", name: "--header")
        }
        #expect(throws: SHA256Error(.badHex, "--header: character 3 is not a hex digit")) {
            try Hex.decode("00zz", name: "--header")
        }
        #expect(throws: SHA256Error.self) { try HeaderScanJob(headerHex: String(repeating: "g", count: 160)) }
        #expect(throws: SHA256Error.self) { try SHA256Digest(bytes: [1, 2, 3]) }
        #expect((try? Hex.decode("00FFab")) == [0, 255, 0xab])
    }

    @Test func compressionRejectsWrongSizes() throws {
        var state = SHA256State.initial
        #expect(throws: SHA256Error.self) { try SHA256.compress(&state, words: [1, 2, 3]) }
        #expect(throws: SHA256Error.self) {
            try [UInt8](repeating: 0, count: 63).withUnsafeBytes { try SHA256.compress(&state, block: $0) }
        }
        #expect(state == .initial)
        // One block of the padded empty message gives the empty-string digest.
        try SHA256.compress(&state, words: [0x8000_0000] + Array(repeating: 0, count: 15))
        #expect(SHA256Digest(state: state).hex == SHA256.hash([]).hex)
    }
}
