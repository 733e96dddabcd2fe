import CFlexThreads
import Chain
import DemandResponse
import FlexSupport
import Foundation
import MiningKernels
import SHA256
import Synchronization

// The workers' side of the engine: the loop each worker thread runs (control, job pick-up, hashing a
// batch), solution checks, and the hand-over to the next job. Kept apart from the control surface so that
// each file holds one concept; it reads the engine's state, which is why those members are internal.
extension MiningEngine {
    func workerLoop(_ w: WorkerState) {
        liveThreads.add(1, ordering: .sequentiallyConsistent)
        defer { liveThreads.subtract(1, ordering: .sequentiallyConsistent) }
        w.threadID.store(fm_gettid(), ordering: .sequentiallyConsistent)
        priority.applyToCurrentThread()
        if !cpus.isEmpty { CPUAffinity.pinCurrentThread(to: cpus[w.index % cpus.count]) }
        let out = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: Int(batchSize) + 64)
        defer { out.deallocate() }
        var job: JobState? = nil
        var seenGeneration: UInt64 = .max
        var dutyPeriodStart = ContinuousClock.now
        while !control.stopping.load(ordering: .relaxed) {
            guard mayHash(w, dutyPeriodStart: &dutyPeriodStart) else { continue }
            // Job: pick up a new one as soon as it is published.
            let generation = control.jobGeneration.load(ordering: .acquiring)
            if generation != seenGeneration {
                job = current.withLock { $0 }
                seenGeneration = generation
            }
            guard let state = job else {
                w.parkedAt.store(offset(.now), ordering: .relaxed)
                control.park { [control] in
                    control.jobGeneration.load(ordering: .relaxed) != seenGeneration
                        || control.stopping.load(ordering: .relaxed)
                }
                settle(w)
                continue
            }
            state.inFlight.add(1, ordering: .sequentiallyConsistent)
            let start = state.next.add(UInt64(batchSize), ordering: .relaxed).oldValue
            guard start < state.end else {
                state.passedEnd.store(true, ordering: .sequentiallyConsistent)
                state.inFlight.subtract(1, ordering: .sequentiallyConsistent)
                exhausted(state)
                settle(w)  // a boost must not outlive a halt on this path either (it loops without hashing)
                continue
            }
            hashBatch(state, from: start, worker: w, out: out)
            settle(w)
            if state.inFlight.subtract(1, ordering: .sequentiallyConsistent).newValue == 0
                && state.passedEnd.load(ordering: .sequentiallyConsistent)
            {
                reportExhaustedIfFinished(state)
            }
        }
    }

    /// Control: whether this worker may hash now. When it may not, it has parked (halted, or the off part
    /// of a duty cycle) and the caller goes round again. Inlined: it runs once per batch.
    @inline(__always)
    private func mayHash(_ w: WorkerState, dutyPeriodStart: inout ContinuousClock.Instant) -> Bool {
        switch control.mode(for: w.index, workers: threadCount) {
        case .park:
            // One clock read per park (never per batch): the halt trace's acknowledgement time. The
            // two other parks record theirs too.
            w.parkedAt.store(offset(.now), ordering: .relaxed)
            control.park { [control, threadCount] in
                control.mode(for: w.index, workers: threadCount) != .park
                    || control.stopping.load(ordering: .relaxed)
            }
            settle(w)
            dutyPeriodStart = .now
            return false
        case .duty(let percent):
            let period = Duration.milliseconds(100)
            let elapsed = ContinuousClock.now - dutyPeriodStart
            if elapsed >= period {
                dutyPeriodStart = .now
            } else if elapsed >= period * Double(percent) / 100 {
                w.parkedAt.store(offset(.now), ordering: .relaxed)
                control.sleep(until: dutyPeriodStart + period)
                settle(w)
                return false
            }
            return true
        case .run:
            return true
        }
    }

    /// Hashes one batch of `state`'s nonces from `start`, verifying every candidate the kernel reports,
    /// and counts the hashes. Inlined: the hot path.
    @inline(__always)
    private func hashBatch(
        _ state: JobState, from start: UInt64, worker w: WorkerState, out: UnsafeMutableBufferPointer<UInt32>
    ) {
        let count = Swift.min(UInt64(batchSize), state.end - start)
        var first = UInt32(truncatingIfNeeded: start)
        var remaining = count
        while remaining > 0 {
            let r = kernel.scan(state.scanJob, first: first, count: remaining, targetHigh: state.targetHigh, out: out)
            for i in 0..<r.candidates { verify(out[i], state: state, worker: w.index) }
            remaining -= r.scanned
            first &+= UInt32(truncatingIfNeeded: r.scanned)
            if r.scanned == 0 { break }
        }
        w.hashes.add(count, ordering: .relaxed)
    }

    func verify(_ nonce: UInt32, state: JobState, worker: Int) {
        let digest = state.scanJob.referenceHash(nonce: nonce)
        let value = UInt256(digest: digest)
        guard value <= state.job.reportTarget else { return }
        var header = state.job.header
        header.nonce = nonce
        // Stale: the job was replaced from outside (a new tip), not merely rolled to fresh nonces.
        let stale = currentLineage.load(ordering: .sequentiallyConsistent) != state.lineage
        continuation.yield(
            .solution(
                MiningSolution(
                    jobID: state.job.id, nonce: nonce, header: header, hash: digest,
                    isBlock: value <= state.job.blockTarget, isStale: stale, worker: worker)))
    }

    /// The first worker to run past the end of a job asks the source for the next one right away, so
    /// no worker waits for the batches still in flight; the others find the replacement installed (or,
    /// with no successor, park until `setJob`).
    func exhausted(_ state: JobState) {
        let replaced: Bool = current.withLock { cur in
            guard cur === state, !state.rolled.exchange(true, ordering: .sequentiallyConsistent) else { return false }
            let next = source?.nextJob(after: state.job)
            cur = next.map { JobState($0, lineage: state.lineage) }
            if next == nil { state.noSuccessor.store(true, ordering: .sequentiallyConsistent) }
            return true
        }
        guard replaced else { return }
        if !state.noSuccessor.load(ordering: .sequentiallyConsistent) { jobsStarted.add(1, ordering: .relaxed) }
        control.jobGeneration.add(1, ordering: .sequentiallyConsistent)
        control.wakeAll()
        if state.inFlight.load(ordering: .sequentiallyConsistent) == 0 { reportExhaustedIfFinished(state) }
    }

    /// Reports `.exhausted` once, after the last in-flight batch of a job with no successor, so that
    /// every solution of the job is on the stream before it.
    func reportExhaustedIfFinished(_ state: JobState) {
        guard state.noSuccessor.load(ordering: .sequentiallyConsistent),
            !state.exhaustReported.exchange(true, ordering: .sequentiallyConsistent)
        else { return }
        continuation.yield(.exhausted(jobID: state.job.id))
    }
}

/// One job as the workers see it: the kernel's precomputation and the shared nonce cursor.
final class JobState: Sendable {
    let job: MiningJob
    let scanJob: HeaderScanJob
    let targetHigh: UInt32
    let next: Atomic<UInt64>
    let end: UInt64
    /// Jobs rolled from one `setJob` share a lineage; a solution is stale when the lineage changed.
    let lineage: UInt64
    /// Batches claimed and not yet finished.
    let inFlight = Atomic<Int>(0)
    let passedEnd = Atomic<Bool>(false)
    let rolled = Atomic<Bool>(false)
    let noSuccessor = Atomic<Bool>(false)
    let exhaustReported = Atomic<Bool>(false)

    private static let lineages = Atomic<UInt64>(0)

    init(_ job: MiningJob, lineage: UInt64? = nil) {
        self.lineage = lineage ?? JobState.lineages.add(1, ordering: .relaxed).newValue
        self.job = job
        scanJob = job.header.scanJob
        targetHigh = job.reportTarget.highWord
        next = Atomic(UInt64(job.firstNonce))
        end = UInt64(job.firstNonce) + job.nonceCount
    }
}

/// Per-worker counters, each in its own heap object so workers do not share cache lines.
final class WorkerState: Sendable {
    let index: Int
    let hashes = Atomic<UInt64>(0)
    let threadID = Atomic<Int32>(0)
    /// Given real-time priority by `halt()`; the worker undoes it before hashing again.
    let boosted = Atomic<Bool>(false)
    /// Nanoseconds from the engine's origin when it last counted itself parked (-1: never).
    let parkedAt = Atomic<Int64>(-1)
    init(index: Int) { self.index = index }
}
