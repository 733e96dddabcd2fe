import COpenSSL

/// SHA-256 from OpenSSL's libcrypto: an independent implementation to check FlexMiner's kernels
/// against, and the baseline that `flexminer bench` compares them with. Not used for mining.
public enum OpenSSLSHA256 {
    /// The linked library's version string, e.g. "OpenSSL 3.0.19 ...".
    public static var version: String { String(cString: OpenSSL_version(OPENSSL_VERSION)) }

    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { _ = SHA256(input.baseAddress, input.count, $0.baseAddress) }
        }
        return out
    }

    public static func hashTwice(_ bytes: [UInt8]) -> [UInt8] { hash(hash(bytes)) }

    /// OpenSSL's SHA-256d per nonce of an 80-byte header, as a naive miner would call it.
    /// `mode` chooses between one-shot calls and reusing the first chunk's hashed state.
    public struct HeaderHasher: ~Copyable {
        public enum Mode: String, Sendable, CaseIterable {
            /// `SHA256(SHA256(header))` per nonce.
            case oneShot = "openssl"
            /// The fastest way to use libcrypto per nonce: the first 64 bytes hashed once; per nonce,
            /// copy that context, add the last 16 bytes, finish, then hash the digest — all with the
            /// low-level SHA256_Init/Update/Final calls (OpenSSL 3's one-shot `SHA256()` goes through
            /// a provider fetch on every call and does not scale across threads).
            case midstate = "openssl-midstate"
        }

        private var header: UnsafeMutablePointer<UInt8>
        private var context: UnsafeMutablePointer<SHA256_CTX>
        private var digest: UnsafeMutablePointer<UInt8>
        public let mode: Mode

        /// Nil unless `header` holds exactly 80 bytes.
        public init?(header bytes: [UInt8], mode: Mode) {
            guard bytes.count == 80 else { return nil }
            self.mode = mode
            header = .allocate(capacity: 80)
            header.initialize(from: bytes, count: 80)
            context = .allocate(capacity: 1)
            digest = .allocate(capacity: 64)
            SHA256_Init(context)
            SHA256_Update(context, header, 64)
        }

        deinit {
            header.deallocate()
            context.deallocate()
            digest.deallocate()
        }

        /// SHA-256d of the header with `nonce`; the digest is in `digestBytes` until the next call.
        @inline(__always)
        public mutating func hash(nonce: UInt32) {
            (header + 76).withMemoryRebound(to: UInt32.self, capacity: 1) { $0.pointee = nonce.littleEndian }
            switch mode {
            case .oneShot:
                SHA256(header, 80, digest)
                SHA256(digest, 32, digest + 32)
            case .midstate:
                var ctx = context.pointee
                SHA256_Update(&ctx, header + 64, 16)
                SHA256_Final(digest, &ctx)
                SHA256_Init(&ctx)
                SHA256_Update(&ctx, digest, 32)
                SHA256_Final(digest + 32, &ctx)
            }
        }

        /// The 32 bytes of the last `hash(nonce:)`.
        public var digestBytes: [UInt8] { Array(UnsafeBufferPointer(start: digest + 32, count: 32)) }

        /// The last digest's most significant word (bytes 28–31 little-endian), for early comparisons.
        public var mostSignificantWord: UInt32 {
            UnsafeRawPointer(digest + 60).loadUnaligned(as: UInt32.self).littleEndian
        }
    }
}
