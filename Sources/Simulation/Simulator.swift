import DemandResponse
import FlexSupport
import Foundation

/// The site's economics for a simulation.
public struct SiteModel: Sendable {
    /// Power draw at full capacity (W); it scales with capacity.
    public var powerWatts: Double
    /// Hash rate at full capacity (H/s), when revenue is priced per hash.
    public var hashRate: Double?
    /// Revenue per hash (USD), from a hashprice or network terms. Without it, revenue is valued at the
    /// break-even price per MWh used (the definition of break-even).
    public var usdPerHash: Double?
    /// A curtailment is met when the miner is at or below the required capacity within this time.
    public var responseDeadlineSeconds: Double = 1

    public init(powerWatts: Double, hashRate: Double? = nil, usdPerHash: Double? = nil) {
        self.powerWatts = powerWatts
        self.hashRate = hashRate
        self.usdPerHash = usdPerHash
    }
}

/// What `--live` plugs in: a real miner, commanded through the same `LoadActuator.apply` as the live
/// controller, with time compressed.
public protocol LiveLoad: AnyObject {
    /// The miner the simulated decisions command.
    var load: any LoadActuator { get }
    /// Called at the start of every interval: sleeps until that interval's turn on the compressed clock.
    func pace(interval index: Int)
}

/// How one curtailment event went.
public struct EventOutcome: Sendable {
    public let id: String?
    public let time: Double
    public let level: Double
    public let requiredCapacity: Double
    public let capacityAfter: Double
    /// Time for real workers to reach the state (live mode); 0 in model mode, where decisions act at once.
    public let responseSeconds: Double
    public let met: Bool
    /// How far past the deadline the response was (0 when met in time).
    public let lateBySeconds: Double
    public let line: Int
    /// When the curtailment ended (its `until`, a matching `release`, or the end of the series), in
    /// price-file time.
    public var end: Double
}

/// Totals of a simulation, checkable by hand: energy = Σ power × capacity × time, cost = Σ energy × price,
/// revenue = Σ hash rate × capacity × time × USD per hash (or energy × break-even).
public struct SimulationTotals: Sendable {
    public var intervals = 0
    public var simulatedSeconds = 0.0
    public var secondsMined = 0.0
    public var fullCapacitySeconds = 0.0
    public var secondsCurtailedByPrice = 0.0
    public var secondsCurtailedByEvents = 0.0
    public var secondsCurtailedByFailSafe = 0.0
    public var energyKWh = 0.0
    public var energyCostUSD = 0.0
    public var revenueUSD = 0.0
    public var transitions = 0
    public var capacityChanges = 0
    public var gapSeconds = 0.0
}

/// A stretch of constant capacity (for the chart).
public struct CapacitySpan: Sendable {
    public let start: Double
    public let end: Double
    public let capacity: Double
}

public struct SimulationResult: Sendable {
    public let totals: SimulationTotals
    public let events: [EventOutcome]
    /// Events before the first or after the last price interval (not simulated), by line.
    public let eventsOutsideSeries: [Int]
    /// Where the miner ran, in real (price-file) time.
    public let spans: [CapacitySpan]
    public let haltLatencies: [Duration]
    public let resumeLatencies: [Duration]
}

/// Replays a price series (and curtailment events) through `Policy.step` — the same code `flexminer run`
/// uses — on a virtual clock.
///
/// Each price row is a `price` signal at the start of its interval; between rows the policy is ticked at
/// exactly the times something can change (a dwell ends, a curtailment's `until`, a ramp step, a
/// fail-safe deadline), so results do not depend on a tick rate. Prices hold on half-open intervals
/// [start, next start): anything due exactly at a row's start is decided with that row's price, not the
/// one that has just ended. A row's price stays fresh for its interval: the fail-safe can fire only
/// across gaps in the data. Time in gaps is not counted (there is no price for it) and is reported.
public enum Simulator {
    public static func run(
        series: PriceSeries, events: [CurtailmentEvent] = [], config baseConfig: PolicyConfig, site: SiteModel,
        live: (any LiveLoad)? = nil, meter: TariffMeter? = nil, progress: ((Double) -> Void)? = nil
    ) -> SimulationResult {
        var config = baseConfig
        config.staleAfterSeconds = baseConfig.staleAfterSeconds + series.intervalSeconds
        var replay = PolicyReplay(
            clock: VirtualClock(series), events: events, config: config, site: site, live: live, meter: meter)
        let rows = series.points
        let step = max(1, rows.count / 100)
        for i in rows.indices {
            replay.interval(i)
            if let progress, i % step == 0 { progress(Double(i) / Double(rows.count)) }
        }
        progress?(1)
        return replay.result
    }
}
