import Chain
import Foundation

// A getblocktemplate result comes from a node over the network. Parsing must give a template or a
// ChainError; an accepted template is then turned into a coinbase, a header and a block, which must not
// trap either (the template's own fields drive those sizes and values).
let payout: [UInt8] = [0x00, 0x14] + [UInt8](repeating: 0xAB, count: 20)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let template = try? BlockTemplate(json: Data(bytes: data, count: size)) else { return 0 }
    _ = template.impliedNetwork
    guard let coinbase = try? template.coinbase(payoutScript: payout, extranonce: 7, message: Array("fuzz".utf8))
    else { return 0 }
    let header = template.header(coinbase: coinbase, time: 0, nonce: 1)
    let block = template.block(header: header, coinbase: coinbase)
    // The block starts with the 80-byte header and carries every template transaction after the coinbase.
    guard Array(block.prefix(80)) == header.bytes, header.bits == template.bits,
        block.count >= 80 + coinbase.bytes.count + template.transactions.reduce(0, { $0 + $1.data.count })
    else { fatalError("the block does not hold the header and transactions") }
    return 0
}
