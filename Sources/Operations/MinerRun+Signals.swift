import FlexSupport
import Foundation
import LoadController
import Mining
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The run's event loops: one thread for the HTTP API (and the sources without a thread of their own),
/// and one for each source whose kind asks for a control thread.
struct RunEventLoops: Sendable {
    let http: MultiThreadedEventLoopGroup
    /// Aligned with `RunSettings.specs`: a group of its own for each control-thread source, nil for the others.
    let sources: [MultiThreadedEventLoopGroup?]
}

extension MinerRun {
    /// Opens the event loops (shut down when the run ends). Each socket source has a thread of its own on the
    /// control path, real-time when permitted (see `ControlThread`): a flood of clients on one source cannot
    /// delay a curtailment on another. HTTP (status, metrics, the dashboard, pause/resume) has its own thread
    /// at normal priority.
    /// - Throws: `ConfigError` when a `--signals` scheme has no registered kind.
    func openEventLoops(owned: RunCleanup) async throws(ConfigError) -> RunEventLoops {
        let kinds = try settings.specs.map { spec throws(ConfigError) in try SignalSourceRegistry.kind(of: spec) }
        let http = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        owned.owns { try? await http.shutdownGracefully() }
        var groups: [MultiThreadedEventLoopGroup?] = []
        for (spec, kind) in zip(settings.specs, kinds) {
            guard kind.controlThread else {
                groups.append(nil)
                continue
            }
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            owned.owns { try? await group.shutdownGracefully() }
            groups.append(group)
            await raiseControlThread(of: spec, on: group.next())
        }
        return RunEventLoops(http: http, sources: groups)
    }

    /// Raises the source's thread to SCHED_FIFO when permitted, and lowers it to normal priority while it
    /// uses over half a CPU (a flood of clients) until it calms down.
    func raiseControlThread(of spec: SignalSourceSpec, on loop: any EventLoop) async {
        let note = self.note
        let rc = (try? await loop.submit { ControlThread.raiseCurrent() }.get()) ?? -1
        if rc != 0 {
            note(
                "signal thread of \(spec) at normal priority (\(rc == EPERM ? "no permission" : "errno \(rc)")): grant CAP_SYS_NICE or LimitRTPRIO=1 for millisecond curtailments on a busy host"
            )
            return
        }
        note("signal thread of \(spec): SCHED_FIFO (served ahead of other processes' threads)")
        let budget = ControlThread.Budget()
        loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
            switch budget.check() {
            case .lowered(let share)?:
                note(
                    String(
                        format: "signal thread of %@ used %.0f%% of a CPU: at normal priority until it is quiet",
                        spec.description, share * 100))
            case .raised?: note("signal thread of \(spec): SCHED_FIFO again")
            case nil: break
            }
        }
    }

    /// Systemd's notifications when started by it: READY=1 waits for every source whose kind holds the
    /// readiness, and the HTTP API.
    func notifications() throws(ConfigError) -> ServiceNotifications? {
        guard let notifier else { return nil }
        let s = settings
        var names: [String] = []
        for spec in s.specs where try SignalSourceRegistry.kind(of: spec).holdsReadiness {
            names.append(spec.description)
        }
        return ServiceNotifications(notifier: notifier, sources: names + (s.http == nil ? [] : ["http"]))
    }

    /// The connections each listening source may hold: an equal share of the descriptors (idle clients of one
    /// cannot starve another); the soft limit is raised first.
    func connectionsPerSource() throws(ConfigError) -> Int {
        let s = settings
        var listening = s.http == nil ? 0 : 1
        for spec in s.specs where try SignalSourceRegistry.kind(of: spec).acceptsConnections { listening += 1 }
        let descriptors = DescriptorBudget.raiseLimit()
        let perSource = DescriptorBudget.perSource(limit: descriptors, sources: listening)
        if listening > 0 && perSource < SignalSocketServer.Limits.standard.maxConnections {
            note("descriptor limit \(descriptors): at most \(perSource) connections per source")
        }
        return perSource
    }

    /// Every signal source of the settings, made by its registered kind, and the calendar's timer. Nothing
    /// is open yet: each source opens in its `run()` and closes there.
    func signalSources(
        _ p: RunParts, loops: RunEventLoops, perSource: Int, listening: @escaping @Sendable (String) -> Void
    ) throws(ConfigError) -> [any SignalSource] {
        let s = settings
        let logger = self.logger
        var limits = SignalSocketServer.Limits.standard
        limits.maxConnections = perSource
        var made: [any SignalSource] = []
        for (spec, group) in zip(s.specs, loops.sources) {
            let context = SignalSourceContext(
                controller: p.controller, token: s.token, group: group ?? loops.http, limits: limits,
                groupAccess: s.socketGroupAccess, note: note, alert: { logger.error("\($0)") }, listening: listening)
            let kind = try SignalSourceRegistry.kind(of: spec)
            made.append(try kind.make(SignalSourceRequest(spec: spec, context: context, settings: s, power: p.power)))
        }
        if let calendar = s.calendar {
            // The tariff's and the schedule's timer: its own task, feeding the controller like any source.
            let source = CalendarSource(
                name: s.calendarName, signals: calendar, controller: p.controller, powerWatts: s.policy.powerWatts)
            made.append(CalendarSignalSource(source: source, note: note))
        }
        p.sources.withLock { $0 = made }
        return made
    }
}
