import Foundation
import StratumTestPool

// `flexminer-testpool [--port P] [--difficulty D[,D2,...]] [--job-interval-ms N] [--bits HEX] [--shares-file PATH]
//                     [--height N] [--journal-check PATH] [--new-tip-delay-ms N]`:
// the test suite's stratum pool as a process, for scripts/test and the README's example (`--bits 207fffff`
// makes every share a block; `--journal-check` refuses a block the miner's journal does not hold yet; a block on
// the tip moves the pool's chain on, with a clean job on the new tip after `--new-tip-delay-ms`). Prints
// "listening on 127.0.0.1:PORT"; every accepted share goes to --shares-file as a JSON line; runs until
// killed.
func options(_ arguments: [String]) -> (TestPool.Config, Int) {
    var config = TestPool.Config()
    var port = 0
    var args = arguments[...]
    func fail(_ text: String) -> Never {
        FileHandle.standardError.write(Data("flexminer-testpool: \(text)\n".utf8))
        exit(2)
    }
    while let flag = args.popFirst() {
        guard let v = args.popFirst() else { fail("\(flag) needs a value") }
        switch flag {
        case "--port": port = Int(v) ?? 0
        case "--difficulty": config.difficulties = v.split(separator: ",").compactMap { Double($0) }
        case "--job-interval-ms": config.jobInterval = .milliseconds(Int(v) ?? 500)
        case "--bits": config.bits = UInt32(v, radix: 16) ?? config.bits
        case "--shares-file": config.sharesFile = v
        case "--height":
            guard let h = Int(v), (0...0x7f_ffff).contains(h) else { fail("--height must be 0...8388607") }
            config.height = h
        case "--journal-check": config.journalToCheck = v
        case "--new-tip-delay-ms":
            guard let ms = Int(v), (0...60_000).contains(ms) else { fail("--new-tip-delay-ms must be 0...60000") }
            config.newTipDelay = .milliseconds(ms)
        default: fail("unknown flag \(flag)")
        }
    }
    if config.difficulties.isEmpty { fail("--difficulty needs positive numbers") }
    return (config, port)
}

let (config, port) = options(Array(CommandLine.arguments.dropFirst()))
let pool = try await TestPool.start(config: config, port: port)
// Unbuffered: scripts wait for this line.
FileHandle.standardOutput.write(Data("listening on 127.0.0.1:\(pool.port)\n".utf8))
while true { try await Task.sleep(for: .seconds(3600)) }
