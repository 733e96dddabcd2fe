import ArgumentParser
import FlexSupport
import Foundation
import Logging
import MiningKernels
import Operations
import Synchronization

/// The executable chooses the logging backend (libraries only log): FlexMiner's handler on stderr,
/// human-readable or JSON. Every command reports through it.
enum CommandLog {
    private static let booted = Mutex(false)

    /// Bootstraps swift-log once per process and returns the command's logger.
    static func bootstrap(format: FlexLogHandler.Format = .human, level: Logger.Level = .info) -> Logger {
        booted.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { FlexLogHandler(label: $0, format: format, level: level, output: .standardError) }
        }
        return Logger(label: "flexminer")
    }
}

extension KernelSelection {
    /// The one kernel a mining command uses: `auto` or a name; `all` or a list is refused (they name several).
    func single() throws -> Kernel {
        if case .all = choice { throw ValidationError("--kernel all names several kernels; give auto or one name") }
        if case .list = choice {
            throw ValidationError("--kernel: a list names several kernels; give auto or one name")
        }
        return try kernels(includeVariants: true)[0]
    }
}

/// Prints a flat JSON object with sorted keys on one line.
func printJSON(_ object: [String: Any]) {
    if let line = JSONLine.encoded(object) { print(line) }
}

/// `300`, `300s`, `5m`, `1h`, `1h30m`, `250ms` → seconds.
/// - Throws: `ValidationError` naming `flag`.
func parseDuration(_ text: String, flag: String) throws -> Double {
    guard let seconds = DurationText.seconds(text) else {
        throw ValidationError("\(flag): \"\(text)\" is not a duration (e.g. 300, 300s, 5m, 1h30m)")
    }
    return seconds
}
