import Chain
import FlexSupport
import SHA256
import TestSupport
import Testing

@Suite("Compact targets (Bitcoin Core SetCompact/GetCompact)")
struct CompactTargetTests {
    /// Core's arith_uint256 "bignum_SetCompact" cases: bits, decoded value (hex), negative, overflow,
    /// and what GetCompact gives back.
    @Test(arguments: [
        (UInt32(0x0000_0000), "0", false, false, UInt32(0)),
        (0x0012_3456, "0", false, false, 0),
        (0x0100_3456, "0", false, false, 0),
        (0x0200_0056, "0", false, false, 0),
        (0x0300_0000, "0", false, false, 0),
        (0x0400_0000, "0", false, false, 0),
        (0x0092_3456, "0", false, false, 0),
        (0x0180_3456, "0", false, false, 0),
        (0x0280_0056, "0", false, false, 0),
        (0x0380_0000, "0", false, false, 0),
        (0x0480_0000, "0", false, false, 0),
        (0x0112_3456, "12", false, false, 0x0112_0000),
        (0x01fe_dcba, "7e", true, false, 0x01fe_0000),
        (0x0212_3456, "1234", false, false, 0x0212_3400),
        (0x0312_3456, "123456", false, false, 0x0312_3456),
        (0x0412_3456, "12345600", false, false, 0x0412_3456),
        (0x0492_3456, "12345600", true, false, 0x0492_3456),
        (0x0500_9234, "92340000", false, false, 0x0500_9234),
        (0x2012_3456, "1234560000000000000000000000000000000000000000000000000000000000", false, false, 0x2012_3456),
    ])
    func setCompactMatchesCore(bits: UInt32, value: String, negative: Bool, overflow: Bool, roundTrip: UInt32) {
        let d = CompactTarget(bits: bits).decoded
        let hex = String(d.target.hex.drop { $0 == "0" })
        #expect((hex.isEmpty ? "0" : hex) == value)
        #expect(d.negative == negative)
        #expect(d.overflow == overflow)
        #expect(CompactTarget(target: d.target, negative: d.negative).bits == roundTrip)
    }

    @Test func overflowAndInvalidTargetsAreRejected() {
        #expect(CompactTarget(bits: 0xff12_3456).decoded.overflow)
        #expect(throws: ChainError.self) { try CompactTarget(bits: 0xff12_3456).target() }
        #expect(throws: ChainError.self) { try CompactTarget(bits: 0x0492_3456).target() }
        #expect(throws: ChainError.self) { try CompactTarget(bits: 0).target() }
        #expect(throws: ChainError.self) { try CompactTarget(hex: "1d00ff") }
        #expect(throws: ChainError.self) { try CompactTarget(hex: "zz00ffff") }
    }

    @Test func knownNetworkTargets() throws {
        let mainnet = try CompactTarget(hex: "1d00ffff").target()
        #expect(mainnet.hex == "00000000ffff0000000000000000000000000000000000000000000000000000")
        #expect(mainnet == CompactTarget.difficultyOneTarget)
        let regtest = try CompactTarget(hex: "207fffff").target()
        #expect(regtest.hex == "7fffff0000000000000000000000000000000000000000000000000000000000")
        #expect(CompactTarget(target: regtest).bits == 0x207f_ffff)
        // Mainnet block 413567.
        let b = try CompactTarget(bits: 0x1805_8436).target()
        #expect(b.hex == "0000000000000000058436000000000000000000000000000000000000000000")
        #expect(CompactTarget(target: b).bits == 0x1805_8436)
    }

    @Test func difficultyLikeGetDifficulty() throws {
        #expect(CompactTarget(bits: 0x1d00_ffff).difficulty == 1)
        #expect(abs(CompactTarget(bits: 0x207f_ffff).difficulty - 4.656542373906925e-10) < 1e-22)
        #expect(abs(CompactTarget(bits: 0x1805_8436).difficulty - 199_312_067_531.243) < 0.01)
    }

    @Test func shareTargets() throws {
        #expect(try CompactTarget.target(forDifficulty: 1) == CompactTarget.difficultyOneTarget)
        #expect(try CompactTarget.target(forDifficulty: 2) == CompactTarget.difficultyOneTarget >> 1)
        #expect(try CompactTarget.target(forDifficulty: 0.5) == CompactTarget.difficultyOneTarget << 1)
        #expect(try CompactTarget.target(forDifficulty: 65536) == CompactTarget.difficultyOneTarget >> 16)
        #expect(throws: ChainError.self) { try CompactTarget.target(forDifficulty: 0) }
        #expect(throws: ChainError.self) { try CompactTarget.target(forDifficulty: .nan) }
        #expect(throws: ChainError.self) { try CompactTarget.target(forDifficulty: -1) }
    }
}

@Suite("Block headers")
struct BlockHeaderTests {
    @Test(arguments: HeaderFixture.all)
    func parseSerializeAndHash(_ fixture: HeaderFixture) throws {
        let header = try BlockHeader(hex: fixture.header)
        #expect(header.hex == fixture.header)
        #expect(header.hash.reversedHex == fixture.hash)
        #expect(header.meets(try header.bits.target()))
    }

    @Test func genesisFields() throws {
        let h = try BlockHeader(hex: HeaderFixture.all[0].header)
        #expect(h.version == 1)
        #expect(h.time == 1_231_006_505)
        #expect(h.bits.bits == 0x1d00_ffff)
        #expect(h.nonce == 2_083_236_893)
        #expect(
            Hex.encode(h.merkleRoot.reversed()) == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b")
    }

    /// The trap-free paths (a job's header back to a `BlockHeader`, a random job) give what the
    /// checked parse of the same bytes gives. Seeds 0…19, fixed.
    @Test func headerFromAScanJobEqualsTheCheckedParse() throws {
        for seed in UInt64(0)..<20 {
            var rng = SplitMix64(seed: seed)
            let job = HeaderScanJob.random(using: &rng)
            var again = SplitMix64(seed: seed)
            let bytes = (0..<80).map { _ in UInt8.random(in: 0...255, using: &again) }
            #expect(job.header == bytes, "seed \(seed): the same bytes as drawing 80 from the generator")
            let header = BlockHeader(job)
            #expect(header == (try BlockHeader(bytes: bytes)), "seed \(seed)")
            #expect(header.bytes == bytes, "seed \(seed)")
            #expect(header.scanJob == job, "seed \(seed)")
        }
        let genesis = try BlockHeader(hex: HeaderFixture.all[0].header)
        #expect(BlockHeader(genesis.scanJob) == genesis)
    }

    @Test func badHeadersAreRejectedWithTheReason() {
        #expect(throws: ChainError.self) { try BlockHeader(hex: "00") }
        #expect(throws: ChainError.self) { try BlockHeader(hex: String(repeating: "0", count: 158) + "zz") }
        #expect(throws: ChainError.self) { try BlockHeader(bytes: [UInt8](repeating: 0, count: 81)) }
        do {
            _ = try BlockHeader(hex: "abcd", name: "--header")
            Issue.record("accepted a 2-byte header")
        } catch {
            #expect(error.message == "--header: a block header is 80 bytes (160 hex digits), got 2 bytes")
        }
    }
}

@Suite("UInt256")
struct UInt256Tests {
    @Test func shiftsCompareAndDivide() throws {
        let one = UInt256(1)
        #expect((one << 255) >> 255 == one)
        #expect((one << 256).isZero)
        #expect((one << 64).limbs.1 == 1)
        #expect(UInt256(0, 1) > UInt256(.max))
        #expect((one << 200).bitWidth == 201)
        let (q, r) = try (UInt256(7) << 128).quotientAndRemainder(dividingBy: 7)
        #expect(q == one << 128 && r == 0)
        #expect(try UInt256(bigEndianBytes: (UInt256(12345) << 100).bigEndianBytes) == UInt256(12345) << 100)
        #expect(throws: ChainError.self) { try UInt256(bigEndianBytes: [1, 2]) }
        #expect(throws: ChainError.self) { try UInt256(1).quotientAndRemainder(dividingBy: 0) }
    }
}

@Suite("BIP34 height in a coinbase")
struct CoinbaseHeightTests {
    /// A real ckpool coinbase1 (regtest, ../shared/fixtures/stratum): scriptSig `01 6f` is height 111.
    @Test func fromARealPoolsCoinbase1() throws {
        let coinb1 = try Hex.decode(
            "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff2f016f00042ad60e6b04b6fece010c"
        )
        #expect(Coinbase.height(inSerialized: coinb1) == 111)
    }

    @Test(arguments: [0, 1, 16, 17, 127, 128, 255, 256, 32767, 32768, 840_000, 8_388_607, 8_388_608, 2_147_483_647])
    func roundTripsThroughTheCoinbaseWeBuild(height: Int) throws {
        let coinbase = try Coinbase(
            height: height, extranonce: 7, payoutScript: [0x51], value: 50, witnessCommitment: [0x6a, 0x24])
        #expect(Coinbase.height(inSerialized: coinbase.strippedBytes) == height)
        #expect(Coinbase.height(inSerialized: coinbase.bytes) == height)  // with the segwit marker
        // Only the scriptSig's start is needed (a pool's coinbase1 ends inside it).
        let prefix = Array(coinbase.strippedBytes.prefix(42 + Coinbase.heightPush(height).count))
        #expect(Coinbase.height(inSerialized: prefix) == height)
    }

    @Test func notAHeight() throws {
        let base = try Hex.decode("01000000" + "01" + String(repeating: "00", count: 32) + "ffffffff")
        #expect(Coinbase.height(inSerialized: []) == nil)
        #expect(Coinbase.height(inSerialized: base) == nil)  // no scriptSig
        #expect(Coinbase.height(inSerialized: base + [4, 3, 0x01, 0x02]) == nil)  // push cut short
        #expect(Coinbase.height(inSerialized: base + [4, 3, 0x01, 0x02, 0x80]) == nil)  // negative
        #expect(Coinbase.height(inSerialized: base + [4, 0x4c, 1, 5]) == nil)  // OP_PUSHDATA1: not minimal
        #expect(Coinbase.height(inSerialized: base + [0, 0x51]) == nil)  // empty scriptSig
        var twoInputs = base
        twoInputs[4] = 2
        #expect(Coinbase.height(inSerialized: twoInputs + [2, 0x51, 0]) == nil)
    }
}
