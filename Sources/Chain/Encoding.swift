import SHA256

/// Bitcoin's serialization primitives: little-endian integers and CompactSize lengths.
package struct ByteWriter: Sendable {
    package private(set) var bytes: [UInt8] = []

    package init() {}

    package mutating func append(_ b: some Sequence<UInt8>) { bytes.append(contentsOf: b) }

    package mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        for i in 0..<(T.bitWidth / 8) { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) }
    }

    /// CompactSize: 1, 3, 5 or 9 bytes.
    package mutating func appendCompactSize(_ n: UInt64) {
        switch n {
        case 0..<0xfd: bytes.append(UInt8(n))
        case 0xfd...0xffff:
            bytes.append(0xfd)
            appendLE(UInt16(n))
        case 0x1_0000...0xffff_ffff:
            bytes.append(0xfe)
            appendLE(UInt32(n))
        default:
            bytes.append(0xff)
            appendLE(n)
        }
    }

    /// A script push of `data` (direct push, PUSHDATA1/2 as needed).
    package mutating func appendPush(_ data: [UInt8]) {
        switch data.count {
        case 0..<0x4c: bytes.append(UInt8(data.count))
        case 0x4c...0xff: bytes += [0x4c, UInt8(data.count)]
        default:
            bytes.append(0x4d)
            appendLE(UInt16(data.count))
        }
        bytes += data
    }
}

/// SHA-256d, the hash of transactions, merkle nodes and headers.
@inline(__always)
func hash256(_ bytes: [UInt8]) -> [UInt8] { SHA256.hashTwice(bytes).bytes }

/// Bytes of a display-order hash hex (as RPC prints txids and block hashes) in internal order.
func internalBytes(displayHex hex: String, field: String) throws(ChainError) -> [UInt8] {
    let b = try decodeHex(hex, field: field)
    guard b.count == 32 else { throw ChainError(.badField, "\(field): a hash is 64 hex digits, got \(hex.utf8.count)") }
    return b.reversed()
}

/// Hex decoding with the chain layer's error type.
func decodeHex(_ hex: String, field: String) throws(ChainError) -> [UInt8] {
    do { return try Hex.decode(hex, name: field) } catch { throw ChainError(.badHex, error.message) }
}
