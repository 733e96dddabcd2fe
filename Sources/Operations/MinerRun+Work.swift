import FlexSupport
import Foundation
import Mining
import MiningKernels
import NodeRPC
import Stratum
import WorkSources

extension MinerRun {
    /// The work source the settings name.
    func makeWorkSource() throws -> any WorkSource {
        let s = settings
        switch s.work {
        case .benchmark:
            return BenchmarkWork(seed: UInt64(Date().timeIntervalSince1970))
        case .template(let path):
            do {
                let work = try TemplateFileWork.load(
                    path: path, payout: s.payout ?? "", network: s.network, message: s.coinbaseMessage)
                return TemplateFileWork(
                    work: work, origin: "template \(path)", blocks: s.blocks ?? 1, out: s.out, afterLimit: .keepHashing,
                    logger: logger)
            } catch { throw ConfigError(error.message) }
        case .node(let url, let credentials):
            let client: NodeRPCClient
            do { client = try NodeRPCClient(url: url, credentials: credentials) } catch {
                throw ConfigError(error.message)
            }
            var options = NodeWork.Options(payout: s.payout ?? "")
            options.blocks = s.blocks ?? Int.max
            options.coinbaseMessage = Array(s.coinbaseMessage.utf8)
            return NodeWork(client: client, journal: BlockJournal(path: s.journal), options: options, logger: logger)
        case .pool(let urls, let user, let password):
            var options = PoolWork.Options(pools: [], user: user)
            do { options.pools = try urls.map { u throws(StratumError) in try StratumURL(u) } } catch {
                throw ConfigError("--pool \(error.message)")
            }
            options.password = password
            options.userAgent = "flexminer/\(version)"
            options.blocks = s.blocks
            options.suggestDifficulty = s.suggestDifficulty
            options.allowRedirect = s.allowRedirect
            return PoolWork(options: options, journal: BlockJournal(path: s.journal), logger: logger)
        }
    }

    /// Halts boost the workers to finish their batch at once; reports whether this process may.
    func reportWorkerBoost(_ engine: MiningEngine) async {
        var probe: Bool? = nil
        for _ in 0..<50 where probe == nil {
            probe = engine.probeWorkerBoost()
            if probe == nil { try? await Task.sleep(for: .milliseconds(2)) }
        }
        if probe == false {
            note(
                "halts cannot boost the workers (needs CAP_SYS_NICE, or RLIMIT_NICE 20 for idle-priority workers): on a host whose CPUs are busy with other processes, a halt waits for them"
            )
        }
    }

    /// Measures the engine's hash rate for a hashprice-based break-even (2 s on an unsolvable job).
    func probe(_ engine: MiningEngine) async -> Double {
        logger.info("measuring the hash rate for the break-even price (2 s)")
        engine.setJob(MiningJob.unsolvable(seed: 1))
        try? await Task.sleep(for: .milliseconds(250))
        let a = engine.snapshot().totalHashes
        let t0 = ContinuousClock.now
        try? await Task.sleep(for: .seconds(2))
        let rate = Double(engine.snapshot().totalHashes - a) / (ContinuousClock.now - t0).seconds
        engine.clearJob()
        return rate
    }
}
