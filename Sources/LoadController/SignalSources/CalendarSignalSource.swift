import ServiceLifecycle

/// `tariff:PATH` and `schedule:PATH` (one source for both): the `CalendarSource` timer from start to
/// shutdown. Made from the run's calendar settings, not from a `SignalSourceSpec`: the two texts are read
/// together into one `CalendarSignals`.
package struct CalendarSignalSource: SignalSource {
    package let source: CalendarSource
    let note: @Sendable (String) -> Void

    package init(source: CalendarSource, note: @escaping @Sendable (String) -> Void) {
        self.source = source
        self.note = note
    }

    /// "tariff" or "schedule" (the first of the two when both are given).
    package var scheme: String { String(source.name.prefix { $0 != ":" }) }
    package var name: String { source.name }

    package func run() async throws {
        note("following \(source.name) (prices at local hour boundaries, windows as they open)")
        if let tariff = source.tariff { note("tariff (\(tariff.clock.identifier)): \(tariff.tariff.summary)") }
        try? await cancelWhenGracefulShutdown { await source.run() }
    }
}
