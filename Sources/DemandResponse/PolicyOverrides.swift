import FlexSupport

/// Policy settings given on a command line or in `run`'s config, laid over a policy file: the one path by
/// which `run` and `simulate` override a policy, with the file's own bounds (`PolicyFile.Bounds`). A flag
/// wins over the file; a break-even replaces a hashprice and the other way round.
public struct PolicyOverrides: Sendable {
    public var powerWatts: Double?
    public var breakeven: Double?
    public var hashprice: Double?
    public var hashrate: Double?
    public var hysteresis: Double?
    public var minOnSeconds: Double?
    public var minOffSeconds: Double?
    public var hardPrice: Double?

    public init(breakeven: Double? = nil) { self.breakeven = breakeven }

    /// `file` with the overrides applied.
    /// - Throws: `InputError` naming the flag whose value is out of its bound.
    public func apply(to file: PolicyFile) throws(InputError) -> PolicyFile {
        typealias B = PolicyFile.Bounds
        let checks: [(String, Double?, ClosedRange<Double>, String)] = [
            ("--power-watts", powerWatts, B.positive, "positive watts (at most 1e15)"),
            ("--breakeven", breakeven, B.price, "a finite number of USD/MWh within ±1e9"),
            ("--hashprice", hashprice, B.price, "a finite number of USD/PH/day within ±1e9"),
            ("--hashrate", hashrate, B.positive, "positive H/s (at most 1e15)"),
            ("--hysteresis", hysteresis, B.hysteresis, "USD/MWh in [0, 1e9]"),
            ("--min-on", minOnSeconds, B.seconds, "at most a year"),
            ("--min-off", minOffSeconds, B.seconds, "at most a year"),
            ("--hard-price", hardPrice, B.price, "a finite number of USD/MWh within ±1e9"),
        ]
        for (flag, value, range, what) in checks {
            if let v = value, !range.contains(v) { throw InputError("\(flag) must be \(what), got \(v)") }
        }
        var file = file
        if let w = powerWatts { file.powerWatts = w }
        if let b = breakeven {
            file.breakEvenUSDPerMWh = b
            file.hashpriceUSDPerPHDay = nil
            file.btcUSD = nil
        }
        if let h = hashprice {
            file.hashpriceUSDPerPHDay = h
            file.breakEvenUSDPerMWh = nil
            file.btcUSD = nil
        }
        if let h = hashrate { file.hashrateHS = h }
        if let h = hysteresis { file.config.hysteresisUSDPerMWh = h }
        if let m = minOnSeconds { file.config.minOnSeconds = m }
        if let m = minOffSeconds { file.config.minOffSeconds = m }
        if let h = hardPrice { file.config.hardPriceUSDPerMWh = h }
        return file
    }
}
