import ArgumentParser
import Demo
import FlexSupport
import Foundation

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The whole product in under a minute, with no node and no network.",
        discussion: """
            Runs the self-test, a short benchmark against OpenSSL, mines a block from a bundled regtest \
            template, performs a live curtailment drill over a Unix socket (halt on curtail, resume on release, \
            latencies checked in /proc), and simulates a bundled day of real ERCOT prices, writing its chart. \
            Files go to --out.
            """
    )

    @Option(help: "Directory laid out like Tests/Fixtures, to use instead of the fixtures embedded in the binary.")
    var fixtures: String?

    @Option(help: "Directory for the demo's files (block, decision log, report, chart).")
    var out: String = "flexminer-demo"

    @Option(help: "Worker threads (default: one per CPU).")
    var threads: Int = ThreadCount.default

    @Option(help: "Curtail/release cycles in the drill.")
    var drillEvents: Int = 200

    func validate() throws {
        if let problem = ThreadCount.problem(threads) { throw ValidationError(problem) }
        guard (1...100_000).contains(drillEvents) else { throw ValidationError("--drill-events must be 1...100000") }
    }

    func run() throws {
        _ = CommandLog.bootstrap()
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            try Demo(out: out, fixtures: fixtures, threads: threads, drillEvents: drillEvents).run()
        } catch let failure as Demo.Failure {
            if failure.message.hasPrefix("demo FAILED") { throw ExitCode(1) }
            throw ValidationError(failure.message)
        }
    }
}
