import SHA256

/// An 80-byte Bitcoin block header.
///
/// Hashes (`previousBlockHash`, `merkleRoot`) are stored in internal byte order (as serialized);
/// `hash` and the `…Hex` accessors use Bitcoin's reversed display order, as RPC and explorers do.
package struct BlockHeader: Hashable, Sendable {
    package var version: Int32
    /// 32 bytes, internal byte order. Set only through `init`, which checks the length: a header's
    /// `bytes` are 80 bytes whatever it came from, which `scanJob` relies on.
    package private(set) var previousBlockHash: [UInt8]
    /// 32 bytes, internal byte order (set only through `init`, like `previousBlockHash`).
    package private(set) var merkleRoot: [UInt8]
    package var time: UInt32
    package var bits: CompactTarget
    package var nonce: UInt32

    /// - Throws: `ChainError` unless both hashes are 32 bytes.
    package init(
        version: Int32, previousBlockHash: [UInt8], merkleRoot: [UInt8], time: UInt32, bits: CompactTarget,
        nonce: UInt32
    ) throws(ChainError) {
        guard previousBlockHash.count == 32 else {
            throw ChainError(.badLength, "previous block hash: 32 bytes expected, got \(previousBlockHash.count)")
        }
        guard merkleRoot.count == 32 else {
            throw ChainError(.badLength, "merkle root: 32 bytes expected, got \(merkleRoot.count)")
        }
        self.version = version
        self.previousBlockHash = previousBlockHash
        self.merkleRoot = merkleRoot
        self.time = time
        self.bits = bits
        self.nonce = nonce
    }

    /// Parses the 80-byte serialization.
    /// - Throws: `ChainError` unless `bytes` is exactly 80 bytes.
    package init(bytes: some Collection<UInt8>) throws(ChainError) {
        let b = Array(bytes)
        guard b.count == 80 else { throw ChainError(.badLength, "a block header is 80 bytes, got \(b.count)") }
        self.init(exactly80: b)
    }

    /// The header a scan job was made from. Cannot fail: a job's header is always 80 bytes (its only
    /// check), so both hashes are 32.
    package init(_ job: HeaderScanJob) { self.init(exactly80: job.header) }

    /// Parses a serialization already known to be 80 bytes: its hash fields are 32 bytes each.
    private init(exactly80 b: [UInt8]) {
        func u32(_ i: Int) -> UInt32 { b[i..<i + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        version = Int32(bitPattern: u32(0))
        previousBlockHash = Array(b[4..<36])
        merkleRoot = Array(b[36..<68])
        time = u32(68)
        bits = CompactTarget(bits: u32(72))
        nonce = u32(76)
    }

    /// Parses 160 hex digits.
    /// - Throws: `ChainError` naming `name` when `hex` is not an 80-byte header in hex.
    package init(hex: String, name: String = "header") throws(ChainError) {
        let bytes: [UInt8]
        do { bytes = try Hex.decode(hex, name: name) } catch { throw ChainError(.badHex, error.message) }
        guard bytes.count == 80 else {
            throw ChainError(
                .badLength, "\(name): a block header is 80 bytes (160 hex digits), got \(bytes.count) bytes")
        }
        try self.init(bytes: bytes)
    }

    /// The exact 80-byte serialization (little-endian integers).
    package var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(80)
        func put(_ v: UInt32) {
            for s in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) }
        }
        put(UInt32(bitPattern: version))
        out += previousBlockHash
        out += merkleRoot
        put(time)
        put(bits.bits)
        put(nonce)
        return out
    }

    package var hex: String { Hex.encode(bytes) }

    /// The kernels' view of this header (midstate and tail words). Cannot fail: `bytes` is always 80
    /// bytes, the one thing `HeaderScanJob` checks, because the hashes are checked in `init` and
    /// cannot be replaced afterwards.
    package var scanJob: HeaderScanJob { HeaderScanJob(exactly80: bytes) }

    /// SHA-256d of the header (reference implementation).
    package var hash: SHA256Digest { SHA256.hashTwice(bytes) }

    /// The header hash as a 256-bit number (Bitcoin reads the digest little-endian).
    package var hashValue256: UInt256 { UInt256(digest: hash) }

    /// Whether the header hash is at or below `target`.
    package func meets(_ target: UInt256) -> Bool { target.isMet(by: hash) }
}
