import FlexSupport
import Foundation
import Synchronization
import Testing

/// What a writer's sink was told, in order.
private final class Recorder: Sendable {
    let lines = Mutex<[String]>([])
    let dropped = Mutex<[Int]>([])
    let finishes = Atomic<Int>(0)

    var sink: BoundedLineWriter.Sink {
        BoundedLineWriter.Sink(
            write: { [self] line in lines.withLock { $0.append(String(decoding: line, as: UTF8.self)) } },
            dropped: { [self] n in dropped.withLock { $0.append(n) } },
            finish: { [self] in finishes.add(1, ordering: .relaxed) })
    }
}

private func line(_ i: Int) -> [UInt8] { Array("line \(i)\n".utf8) }

@Suite struct BoundedLineWriterTests {
    /// Lines queued before the writer runs (a disk that has not kept up): past the bound the oldest go,
    /// each one counted, and the sink hears the count once, before the survivors in their order.
    @Test(arguments: [
        (limit: 4, queued: 3, dropped: 0),
        (limit: 4, queued: 4, dropped: 0),
        (limit: 4, queued: 5, dropped: 1),
        (limit: 4, queued: 300, dropped: 296),
        (limit: 1, queued: 3, dropped: 2),
        (limit: 0, queued: 2, dropped: 1),  // a limit below 1 holds one line
    ])
    func boundDropsTheOldestAndCountsThem(limit: Int, queued: Int, dropped: Int) throws {
        let writer = BoundedLineWriter(limit: limit)
        for i in 0..<queued { writer.enqueue(line(i)) }
        #expect(writer.dropped == dropped)
        let recorder = Recorder()
        try writer.start(name: "test-writer", recorder.sink)
        #expect(writer.close(timeout: .seconds(10)) == nil)
        #expect(recorder.lines.withLock { $0 } == (dropped..<queued).map { "line \($0)\n" })
        #expect(recorder.dropped.withLock { $0 } == (dropped > 0 ? [dropped] : []))
        #expect(recorder.finishes.load(ordering: .relaxed) == 1)
    }

    /// `close` writes everything queued before it, then finishes once; later lines and closes are ignored.
    @Test func closeWritesWhatIsQueuedThenFinishesOnce() throws {
        let writer = BoundedLineWriter(limit: 1000)
        let recorder = Recorder()
        try writer.start(name: "test-writer", recorder.sink)
        for i in 0..<500 { writer.enqueue(line(i)) }
        #expect(writer.close(timeout: .seconds(10)) == nil)
        writer.enqueue(line(500))
        #expect(writer.close(timeout: .seconds(10)) == nil)
        #expect(recorder.lines.withLock { $0 } == (0..<500).map { "line \($0)\n" })
        #expect(recorder.finishes.load(ordering: .relaxed) == 1)
        #expect(writer.dropped == 0)
    }

    /// `flush` returns once the writer has written every line queued so far.
    @Test func flushWaitsForTheLinesQueued() throws {
        let writer = BoundedLineWriter(limit: 100)
        let recorder = Recorder()
        try writer.start(name: "test-writer", recorder.sink)
        for i in 0..<50 { writer.enqueue(line(i)) }
        #expect(writer.flush(timeout: .seconds(10)))
        #expect(recorder.lines.withLock { $0.count } == 50)
        #expect(recorder.finishes.load(ordering: .relaxed) == 0)
        _ = writer.close(timeout: .seconds(10))
    }

    /// A sink that never returns (a hung disk): `close` gives up after its timeout and says how many lines
    /// were not written, rather than waiting for ever.
    @Test func closeReportsWhatAStuckSinkLeft() throws {
        let writer = BoundedLineWriter(limit: 100)
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        try writer.start(
            name: "test-writer",
            BoundedLineWriter.Sink(write: { _ in
                entered.signal()
                release.wait()
            }))
        writer.enqueue(line(0))
        entered.wait()
        for i in 1...3 { writer.enqueue(line(i)) }
        #expect(writer.close(timeout: .milliseconds(50)) == 4)
        for _ in 0..<4 { release.signal() }
    }
}
