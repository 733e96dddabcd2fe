import FlexSupport
import LoadController
import OpenADR2b
import OpenADR2bSignals
import OpenADRSignals
import PowerSources

/// What a kind's factory gets: the parsed `--signals` text, what every source shares, and the run's
/// settings and power (for a source configured by flags of its own, as OpenADR 3 by `--openadr-*`).
struct SignalSourceRequest: Sendable {
    let spec: SignalSourceSpec
    let context: SignalSourceContext
    let settings: RunSettings
    let power: PowerRun
}

/// One kind of signal source: its scheme, how `run` serves it, and how it is made.
package struct SignalSourceKind: Sendable {
    /// The `--signals` scheme (`SignalSourceSpec.scheme`).
    package let scheme: String
    /// Served on an event loop thread of its own, real-time when permitted: a socket on the control path.
    package var controlThread = false
    /// Systemd's READY=1 waits until it listens; an outbound client (OpenADR) does not hold the start up.
    package var holdsReadiness = true
    /// Takes an equal share of the descriptor limit (it accepts connections, OpenADR's callback included).
    package var acceptsConnections = true
    /// Makes the source (opening nothing yet: it opens in its `run()`, and closes there).
    let make: @Sendable (SignalSourceRequest) throws(ConfigError) -> any SignalSource
}

/// Every kind of signal source `flexminer run` knows, in one place: adding one is its file and a line here.
package enum SignalSourceRegistry {
    package static let kinds: [SignalSourceKind] = [
        .init(scheme: "unix", controlThread: true) { r throws(ConfigError) in try socket(r) },
        .init(scheme: "tcp", controlThread: true) { r throws(ConfigError) in try socket(r) },
        .init(scheme: "file", acceptsConnections: false) { r throws(ConfigError) in try file(r) },
        .init(scheme: "openadr3", holdsReadiness: false) { r throws(ConfigError) in try openADR3(r) },
        .init(scheme: "openadr2b", holdsReadiness: false, acceptsConnections: false) { r throws(ConfigError) in
            try openADR2b(r)
        },
    ]

    /// The kind registered for `spec`'s scheme.
    /// - Throws: `ConfigError` naming the source when no kind serves it.
    package static func kind(of spec: SignalSourceSpec) throws(ConfigError) -> SignalSourceKind {
        guard let kind = kinds.first(where: { $0.scheme == spec.scheme }) else {
            throw ConfigError("--signals \(spec): no signal source of this kind in this build")
        }
        return kind
    }

    static func socket(_ r: SignalSourceRequest) throws(ConfigError) -> any SignalSource {
        do { return try SocketSignalSource(spec: r.spec, context: r.context) } catch {
            throw ConfigError(error.message)
        }
    }

    static func file(_ r: SignalSourceRequest) throws(ConfigError) -> any SignalSource {
        do { return try FileSignalSource(spec: r.spec, context: r.context) } catch {
            throw ConfigError(error.message)
        }
    }

    /// OpenADR 3: the settings' `--openadr-*` configuration; USAGE reports carry the measured energy when a
    /// meter or RAPL is configured. It schedules curtailments with the controller, never blocks it.
    static func openADR3(_ r: SignalSourceRequest) throws(ConfigError) -> any SignalSource {
        guard let configuration = r.settings.openADR else {
            throw ConfigError("--signals \(r.spec): no OpenADR 3 configuration")
        }
        let power = r.power
        do {
            let source = try OpenADRSource(
                configuration: configuration, controller: r.context.controller, note: r.context.note,
                alert: r.context.alert, measuredEnergy: { power.measuredEnergyJoules })
            return OpenADRService(source: source)
        } catch {
            throw ConfigError(error.message)
        }
    }

    /// OpenADR 2.0b: the settings' `--openadr-*` configuration; reports carry the measured power when a
    /// meter or RAPL is configured and fresh, else the model's (labelled as such). Reading the power takes
    /// the samplers' last values and never waits; the source schedules curtailments, never blocks them.
    static func openADR2b(_ r: SignalSourceRequest) throws(ConfigError) -> any SignalSource {
        guard let configuration = r.settings.openADR2b else {
            throw ConfigError("--signals \(r.spec): no OpenADR 2.0b configuration")
        }
        let power = r.power
        let controller = r.context.controller
        let source = OpenADR2bSource(
            configuration: configuration, controller: controller, note: r.context.note, alert: r.context.alert,
            reading: { powerReading(power.readings, curtailment: controller.curtailmentBrief.curtailment) })
        return OpenADR2bService(source: source)
    }

    /// The reading a 2.0b report sends: the fresh measured value first, else the model's; nil when neither
    /// is known. `online` says the load is not fully curtailed.
    static func powerReading(_ readings: [PowerSampler.Reading], curtailment: Double) -> OADRReport.Reading? {
        let fresh = readings.first { !$0.modelled && !$0.stale && $0.watts != nil } ?? readings.first { $0.modelled }
        guard let r = fresh, let watts = r.watts else { return nil }
        return OADRReport.Reading(watts: watts, measured: !r.modelled, online: curtailment < 1)
    }
}
