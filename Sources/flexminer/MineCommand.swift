import ArgumentParser
import Chain
import Foundation
import Mining
import MiningKernels
import SHA256

struct MineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mine",
        abstract: "Search one block header's nonces with the multithreaded engine and print the first solution.",
        discussion: """
            The header's own nonce field is ignored; the search covers --first-nonce ..< --first-nonce + --count. \
            Exits 0 with the solution, or 1 when the range (and any --roll-time) is exhausted.
            """
    )

    @Option(help: "The 80-byte block header, 160 hex digits (serialized byte order).")
    var header: String

    @Option(help: "Target as 64 hex digits, most significant first (like getblocktemplate's target).")
    var target: String?

    @Option(help: "Target as compact nBits, 8 hex digits (e.g. 1d00ffff, 207fffff).")
    var bits: String?

    @Option(help: "Worker threads (default: one per CPU).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Kernel: auto or a kernel name.")
    var kernel: KernelSelection = KernelSelection(argument: "auto")!

    @Option(help: "First nonce to try.")
    var firstNonce: UInt32 = 0

    @Option(help: "Nonces to try (default: all from --first-nonce to 0xffffffff).")
    var count: UInt64?

    @Option(
        help: "When the range is exhausted, add one second to the header time and search again, up to this many times.")
    var rollTime: UInt32 = 0

    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        guard (target == nil) != (bits == nil) else { throw ValidationError("give exactly one of --target or --bits") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024, got \(threads)") }
        if let c = count, c == 0 || c > (1 << 32) { throw ValidationError("--count must be 1...4294967296, got \(c)") }
    }

    func run() async throws {
        let parsedHeader: BlockHeader
        let blockTarget: UInt256
        do {
            parsedHeader = try BlockHeader(hex: header, name: "--header")
            if let t = target {
                let bytes: [UInt8]
                do { bytes = try Hex.decode(t, name: "--target") } catch { throw ValidationError(error.message) }
                guard bytes.count == 32 else {
                    throw ValidationError("--target: 64 hex digits expected, got \(t.utf8.count)")
                }
                blockTarget = try UInt256(bigEndianBytes: bytes)
            } else {
                blockTarget = try CompactTarget(hex: bits!, name: "--bits").target()
            }
        } catch let error as ChainError {
            throw ValidationError(error.message)
        }
        let chosen = try kernel.kernels(includeVariants: true)[0]
        let job = try MiningJob(
            id: 1, header: parsedHeader, blockTarget: blockTarget, firstNonce: firstNonce,
            nonceCount: count ?? (1 << 32) - UInt64(firstNonce))
        let engine = try MiningEngine(
            kernel: chosen, threads: threads,
            source: TimeRollingSource(baseTime: parsedHeader.time, maxTimeRoll: rollTime))
        let started = ContinuousClock.now
        engine.setJob(job)
        var result: MiningEvent?
        for await event in engine.events {
            if case .solution(let s) = event, !s.isBlock { continue }
            result = event
            break
        }
        engine.stop()
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let hashes = engine.snapshot().totalHashes
        switch result {
        case .solution(let s):
            if json {
                printJSON([
                    "found": true, "nonce": Int(s.nonce), "hash": s.hash.reversedHex, "header": s.header.hex,
                    "time": Int(s.header.time), "job_id": Int(s.jobID), "hashes": Int(hashes), "seconds": seconds,
                    "kernel": chosen.description, "threads": threads,
                ])
            } else {
                print("found nonce \(s.nonce) (0x\(String(s.nonce, radix: 16)))")
                print("hash   \(s.hash.reversedHex)")
                print("header \(s.header.hex)")
                print(
                    String(
                        format: "%llu hashes in %.3f s with %@ on %d thread(s)", hashes, seconds, chosen.description,
                        threads))
            }
        default:
            if json {
                printJSON([
                    "found": false, "exhausted": true, "hashes": Int(hashes), "seconds": seconds,
                    "kernel": chosen.description, "threads": threads,
                ])
            } else {
                print(
                    "nonce space exhausted: no nonce meets the target (\(hashes) hashes in \(String(format: "%.3f", seconds)) s)"
                )
            }
            throw ExitCode(1)
        }
    }
}

/// Prints a flat JSON object with sorted keys on one line.
func printJSON(_ object: [String: Any]) {
    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
        print(String(decoding: data, as: UTF8.self))
    }
}
