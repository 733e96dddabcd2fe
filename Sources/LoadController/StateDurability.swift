import NIOCore

/// What a reply that acknowledges a change of the kept curtailments (a `curtail`, a `release`) waits for
/// before it is sent: the state file holding that change (its generation, or a later one) written and
/// fsync'd. A client told "halted" is then told so about a curtailment a `kill -9` cannot lose. The halt
/// has happened before the reply waits (the control path never waits for the disk), and the wait is
/// asynchronous and bounded: a disk that does not answer within the bound gets the reply sent anyway,
/// with `"state_durable":false`.
package struct StateDurability: Sendable {
    package let file: CurtailmentStateFile
    /// The generation of the set that holds the change (`CurtailmentStateFile.save`).
    package let generation: UInt64

    /// How long a reply waits for the state file at most before it is sent saying `"state_durable":false`.
    package static let replyWait: Duration = .seconds(3)

    package init(file: CurtailmentStateFile, generation: UInt64) {
        self.file = file
        self.generation = generation
    }

    /// True once the change is on disk, false when its write failed, nil while it is queued or being written.
    package var settled: Bool? { file.settled(generation) }

    /// A future that succeeds with true once the change is on disk, and with false when its write failed or
    /// `timeout` passed first. Call it on `loop`; nothing blocks: the state file's thread completes it.
    package func settled(on loop: any EventLoop, within timeout: Duration) -> EventLoopFuture<Bool> {
        if let now = settled { return loop.makeSucceededFuture(now) }
        let promise = loop.makePromise(of: Bool.self)
        // Only touched on the loop: whichever of the write and the timer comes first answers.
        let answered = NIOLoopBoundBox(false, eventLoop: loop)
        let waiter = NIOLoopBoundBox<Int?>(nil, eventLoop: loop)
        let file = self.file
        let timer = loop.scheduleTask(in: TimeAmount(timeout)) {
            guard !answered.value else { return }
            answered.value = true
            // The table of waiters stays bounded by the replies really waiting.
            if let id = waiter.value { file.cancelWait(id) }
            promise.succeed(false)
        }
        waiter.value = file.whenSettled(generation) { ok in
            loop.execute {
                guard !answered.value else { return }
                answered.value = true
                timer.cancel()
                promise.succeed(ok)
            }
        }
        return promise.futureResult
    }
}
