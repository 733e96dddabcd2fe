import Foundation
import MiningKernels
import Operations

/// `run`'s settings as a test resolves them: benchmark work, the flags `edit` sets, the config file
/// `json` when given, no environment, not a terminal, the scalar kernel.
func resolveRunSettings(file json: String? = nil, _ edit: (inout RunConfig) -> Void = { _ in }) throws -> RunSettings {
    var flags = RunFlags()
    flags.values.benchmarkWork = true
    edit(&flags.values)
    let file = try json.map { try RunConfig(json: Data($0.utf8)) }
    return try RunSettings.resolve(flags, file: file, environment: [:], isTerminal: false) { _ in
        try! Kernel.named(.scalar)
    }
}

/// The message a refused resolution gives, or "accepted".
func runSettingsRefusal(file json: String? = nil, _ edit: (inout RunConfig) -> Void = { _ in }) -> String {
    do {
        _ = try resolveRunSettings(file: json, edit)
        return "accepted"
    } catch let error as ConfigError { return error.message } catch { return "\(error)" }
}
