import Chain
import FlexSupport
import Logging
import Mining
import SHA256
import Stratum

extension PoolSession {
    /// A `mining.notify`: the latest job; the engine's job now on `clean_jobs`, when it is idle, or when
    /// its job is from a session the pool no longer knows; otherwise at the next switch.
    mutating func newJob(_ job: StratumJob, engineJob: UInt64?) -> [Action] {
        let blockTarget: UInt256
        do { blockTarget = try CompactTarget(bits: job.bits).target() } catch {
            return [.dropConnection(StratumError(.malformed, "mining.notify: param 6 (nbits): \(error.message)"))]
        }
        let difficulty = self.difficulty ?? 1
        let shareTarget: UInt256
        do throws(ChainError) { shareTarget = try CompactTarget.target(forDifficulty: difficulty) } catch {
            return [.dropConnection(StratumError(.malformed, "mining.set_difficulty: \(error.message)"))]
        }
        latest = Template(
            job: job, difficulty: difficulty, shareTarget: shareTarget, blockTarget: blockTarget, session: session,
            extranonce2: nextExtranonce2[job.jobID] ?? 0)
        if job.cleanJobs {
            valid = []
            nextExtranonce2 = nextExtranonce2.filter { $0.key == job.jobID }
        }
        if !valid.contains(job.jobID) { valid.append(job.jobID) }
        if valid.count > Self.maxJobs { nextExtranonce2[valid.removeFirst()] = nil }
        gotJob = true
        let debug = Action.log(.debug, "pool \(url): job \(job.jobID)\(job.cleanJobs ? " (clean)" : "")")
        let current = engineJob.flatMap { contexts[$0] }
        guard job.cleanJobs || current == nil || current?.session != session else { return [debug] }
        let (engineJob, warning) = nextJob()
        return [warning, engineJob.map { .setEngineJob($0) }, debug].compactMap { $0 }
    }

    /// The next engine job from the latest stratum job: the next version roll, else the next extranonce2.
    /// Nil when there is no job yet or its extranonce2 space is used up (never reused on one job), with
    /// a warning for the latter.
    package mutating func nextJob() -> (job: MiningJob?, warning: Action?) {
        guard var t = latest, let e1 = extranonce1 else { return (nil, nil) }
        let maskBits = UInt64(mask.nonzeroBitCount)
        let versions = Swift.min(
            maskBits >= 63 ? .max : UInt64(1) << maskBits, options.versionRollsPerExtranonce ?? .max)
        if t.versionIndex >= versions {
            t.extranonce2 += 1
            t.versionIndex = 0
        }
        let size = extranonce2Size
        guard size >= 8 || t.extranonce2 < UInt64(1) << UInt64(8 * size) else {
            return (nil, .log(.warning, "pool job \(t.job.jobID): every extranonce2 used; waiting for the next job"))
        }
        let rolled = PoolWork.versionBits(index: t.versionIndex, mask: mask)
        t.versionIndex += 1
        latest = t
        nextExtranonce2[t.job.jobID] = t.extranonce2 + 1
        let version = (t.job.version & ~mask) | rolled
        let en2 = StratumHex.extranonce2(t.extranonce2, size: size)
        let coinbase = PoolWork.coinbase(job: t.job, extranonce1: e1, extranonce2: en2)
        guard let header = try? PoolWork.header(job: t.job, coinbase: coinbase, version: version, nonce: 0) else {
            return (nil, nil)
        }
        let id = nextEngineID
        nextEngineID += 1
        // The engine wants the share target at or above the block target; a share harder than a block
        // (regtest) is a block whenever it is a share.
        let blockTarget = Swift.min(t.blockTarget, t.shareTarget)
        guard
            let job = try? MiningJob(
                id: id, header: header, blockTarget: blockTarget,
                shareTarget: t.shareTarget > blockTarget ? t.shareTarget : nil, nonceCount: options.noncesPerJob)
        else { return (nil, nil) }
        contexts[id] = Context(
            jobID: t.job.jobID, extranonce2: en2, version: version, jobVersion: t.job.version, mask: mask,
            time: t.job.time, merkleRoot: header.merkleRoot, difficulty: t.difficulty, shareTarget: t.shareTarget,
            blockTarget: t.blockTarget, session: t.session, coinbase: coinbase, merkleBranch: t.job.merkleBranch,
            height: Coinbase.height(inSerialized: coinbase), parent: Hex.encode(header.previousBlockHash.reversed()))
        contextOrder.append(id)
        if contextOrder.count > Self.maxContexts { contexts[contextOrder.removeFirst()] = nil }
        return (job, nil)
    }
}
