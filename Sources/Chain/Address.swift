/// The Bitcoin networks an address can belong to.
package enum Network: String, Sendable, CaseIterable, Hashable {
    case main, test, signet, regtest

    var base58PubkeyHash: UInt8 { self == .main ? 0x00 : 0x6f }
    var base58ScriptHash: UInt8 { self == .main ? 0x05 : 0xc4 }
    var bech32HRP: String {
        switch self {
        case .main: "bc"
        case .test, .signet: "tb"
        case .regtest: "bcrt"
        }
    }
}

/// A payout destination: an address decoded to the scriptPubKey it pays, with the networks it is
/// valid on (testnet and signet share their formats).
package struct PayoutAddress: Hashable, Sendable {
    package let text: String
    package let scriptPubKey: [UInt8]
    package let networks: Set<Network>

    /// Decodes base58 P2PKH/P2SH, bech32 (witness v0) and bech32m (v1+, e.g. P2TR) addresses.
    /// - Throws: `ChainError` saying why `text` is not a valid address.
    package init(_ text: String) throws(ChainError) {
        self.text = text
        if let (hrp, data, variant) = Bech32.decode(text) {
            let nets = Set(Network.allCases.filter { $0.bech32HRP == hrp })
            guard !nets.isEmpty else { throw ChainError(.badField, "address \(text): unknown prefix \"\(hrp)\"") }
            guard let version = data.first, version <= 16 else {
                throw ChainError(.badField, "address \(text): missing or invalid witness version")
            }
            guard let program = Bech32.convertBits(Array(data.dropFirst()), from: 5, to: 8, pad: false),
                (2...40).contains(program.count)
            else { throw ChainError(.badField, "address \(text): invalid witness program") }
            guard (version == 0) == (variant == .bech32) else {
                throw ChainError(
                    .badField, "address \(text): witness v\(version) needs \(version == 0 ? "bech32" : "bech32m")")
            }
            if version == 0 && program.count != 20 && program.count != 32 {
                throw ChainError(.badField, "address \(text): a v0 witness program is 20 or 32 bytes")
            }
            scriptPubKey = [version == 0 ? 0 : 0x50 + version, UInt8(program.count)] + program
            networks = nets
            return
        }
        guard let payload = Base58.decodeCheck(text), payload.count == 21 else {
            throw ChainError(.badField, "address \(text): not a valid base58check or bech32/bech32m address")
        }
        let hash = Array(payload.dropFirst())
        if let nets = Optional(Set(Network.allCases.filter { $0.base58PubkeyHash == payload[0] })), !nets.isEmpty {
            scriptPubKey = [0x76, 0xa9, 0x14] + hash + [0x88, 0xac]
            networks = nets
        } else if let nets = Optional(Set(Network.allCases.filter { $0.base58ScriptHash == payload[0] })),
            !nets.isEmpty
        {
            scriptPubKey = [0xa9, 0x14] + hash + [0x87]
            networks = nets
        } else {
            throw ChainError(.badField, "address \(text): unknown version byte \(payload[0])")
        }
    }

    /// Decodes `text` and requires it to be valid on `network`.
    /// - Throws: `ChainError` when it is invalid or for another network.
    package init(_ text: String, network: Network) throws(ChainError) {
        try self.init(text)
        guard networks.contains(network) else {
            let names = networks.map(\.rawValue).sorted().joined(separator: "/")
            throw ChainError(.badField, "address \(text) is for \(names), but the work is for \(network.rawValue)")
        }
    }
}
