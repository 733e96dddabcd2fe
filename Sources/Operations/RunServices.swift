import FlexSupport
import Foundation
import LoadController
import Logging
import Mining
import NIOCore
import ServiceLifecycle
import WorkSources

/// Waits for the graceful shutdown, then does `body` (halting the engine, closing the decision log).
struct AfterShutdown: Service {
    let body: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await body()
    }
}

/// Calls `body` every `interval` until the graceful shutdown (the controller's clock: expiring
/// curtailments, dwell, ramps, stale signals; metrics).
struct Periodic: Service {
    let interval: Duration
    let body: @Sendable (Int) -> Void

    init(every interval: Duration, body: @escaping @Sendable (Int) -> Void) {
        self.interval = interval
        self.body = body
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var n = 0
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                n += 1
                body(n)
            }
        }
    }
}

/// Ends the run after `--seconds`.
struct Timer: Service {
    let seconds: Double

    func run() async throws {
        guard let d = Duration.checked(seconds: seconds) else { return }
        try? await cancelWhenGracefulShutdown { try await Task.sleep(for: d) }
    }
}

/// Runs the work source until the shutdown. If it fails for good, the workers are halted (no hashing
/// of stale work) and the reason goes to `/status`.
struct WorkService: Service {
    let source: any WorkSource
    let engine: MiningEngine
    let logger: Logger
    let onBlock: @Sendable (SolvedBlock) -> Void
    let onFailure: @Sendable (String) -> Void

    init(
        source: any WorkSource, engine: MiningEngine, logger: Logger,
        onBlock: @escaping @Sendable (SolvedBlock) -> Void, onFailure: @escaping @Sendable (String) -> Void
    ) {
        self.source = source
        self.engine = engine
        self.logger = logger
        self.onBlock = onBlock
        self.onFailure = onFailure
    }

    func run() async throws {
        let source = self.source
        let engine = self.engine
        let onBlock = self.onBlock
        do {
            try await cancelWhenGracefulShutdown { () async throws in
                try await source.run(engine: engine, onBlock: onBlock)
            }
            if !Task.isCancelled && !Task.isShuttingDownGracefully {
                // Done what it was asked (a block limit): the workers idle rather than hash stale work.
                logger.notice("work source finished (\(source.origin)); workers idle until shutdown")
                engine.clearJob()
                onFailure("finished: the work source has done what it was asked (block limit reached)")
            }
        } catch let error as WorkError {
            logger.error("work source stopped: \(error.message); workers halted")
            engine.clearJob()
            _ = engine.halt()
            onFailure(error.message)
        } catch {}
        await source.shutdown()
        try? await gracefulShutdown()
    }
}

/// `GET /status`, `GET /metrics`, `POST /pause`, `POST /resume`.
struct HTTPService: Service {
    let address: HostPort
    let token: String?
    let group: any EventLoopGroup
    let note: @Sendable (String) -> Void
    let dashboard: DashboardRoutes
    let routes: StatusServer.Routes
    var maxConnections = StatusServer.maxConnections
    var listening: @Sendable (String) -> Void = { _ in }

    func run() async throws {
        let server = try await StatusServer.start(
            host: address.host, port: address.port, token: token, routes: routes, dashboard: dashboard, group: group,
            maxConnections: maxConnections)
        note("HTTP API on http://\(HostPort(host: address.host, port: server.port))/status, dashboard at /")
        listening("http")
        try? await gracefulShutdown()
        await server.close()
    }
}

/// A one-line status on the terminal, redrawn every second; log lines erase it before they print.
struct StatusLineService: Service {
    let sink: LogSink
    let line: @Sendable () -> String

    func run() async throws {
        let erase = Data("\r\u{1B}[K".utf8)
        sink.setBeforeWrite { FileHandle.standardOutput.write(erase) }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line()).utf8))
            }
        }
        sink.setBeforeWrite(nil)
        FileHandle.standardOutput.write(erase)
    }
}
