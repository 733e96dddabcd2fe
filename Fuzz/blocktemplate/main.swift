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
    _ = template.block(header: header, coinbase: coinbase)
    return 0
}
