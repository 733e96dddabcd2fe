import ArgumentParser
import Foundation
import Logging
import Mining
import Operations
import Synchronization

extension FlexLogHandler.Format: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Mine under the demand-response controller: prices and curtailments from sockets and files.",
        discussion: """
            Work comes from --rpc (a node), --template (a getblocktemplate file) or --benchmark-work (a synthetic \
            job hashed at full speed, for drills without a node). Signals (protocol v1, newline-delimited JSON) \
            come from every --signals source (optional: without one the miner mines at full capacity, the \
            fail-safe is unarmed, and --http still offers pause/resume): unix:PATH (a Unix socket, mode 0600), tcp:HOST:PORT (loopback \
            unless --allow-remote, which also requires a token), file:PATH (followed like tail -F). Every \
            signal and every action goes to --decision-log as JSON lines; with --state-file the active curtailments \
            survive a restart. --config FILE (JSON) can hold every \
            option (key = flag name with _ for -); flags override it. SIGINT/SIGTERM shut down gracefully (a \
            second one forces exit); --seconds stops after that long.
            """
    )

    @OptionGroup var options: RunOptions

    func run() async throws {
        let settings: RunSettings
        do throws(ConfigError) {
            settings = try RunSettings.resolve(options.flags, kernel: RunOptions.resolveKernel)
        } catch { throw ValidationError(error.message) }
        let logger = CommandLog.bootstrap(format: settings.logFormat, level: settings.logLevel)
        // The first SIGINT/SIGTERM starts the graceful shutdown (swift-service-lifecycle); a second one
        // ends the process at once. These sources live for the whole run: swift-service-lifecycle drops
        // its own after the first signal, which would leave the second to the default action.
        let received = Mutex(0)
        let force = ([SIGINT, SIGTERM] as [Int32]).map { sig in
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                if received.withLock({ n in
                    n += 1
                    return n
                }) >= 2 {
                    logger.warning("second signal during shutdown: exiting now")
                    Foundation.exit(130)
                }
            }
            source.resume()
            return source
        }
        defer { force.forEach { $0.cancel() } }
        // Under systemd (Type=notify): READY=1, STATUS=, STOPPING=1 and the watchdog. A variable that is set
        // but unusable is reported and the run goes on: systemd then acts on what it does not hear.
        var notifier: SystemdNotifier? = nil
        do { notifier = try SystemdNotifier.fromEnvironment() } catch {
            logger.error("\(error.message): no notifications to systemd")
        }
        let summary: RunSummary
        do {
            summary = try await MinerRun(
                settings: settings, version: FlexMiner.version, logger: logger, notifier: notifier
            ).run()
        } catch let error as ConfigError {
            throw ValidationError(error.message)
        }
        print(options.json ? summary.json : summary.text)
    }
}
