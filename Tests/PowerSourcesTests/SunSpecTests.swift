import Foundation
import PowerSources
import SunSpecTestMeter
import Synchronization
import TestSupport
import Testing

@Suite struct SunSpecMapTests {
    @Test func theTestMetersTranscriptionHasTheSpecsLengths() {
        // The spec's lengths (L): common 66, ac_meter 105. A point dropped or doubled breaks the offsets.
        #expect(SunSpecModels.length(SunSpecModels.common) == 66)
        #expect(SunSpecModels.length(SunSpecModels.meter) == 105)
    }

    @Test func theClientsOffsetsAgreeWithTheModelDefinition() {
        // The test meter's offsets are summed from the point list; the client's are constants.
        let o = SunSpecModels.offsets(SunSpecModels.meter)
        #expect(o["W"] == SunSpecMap.Meter.w && o["W_SF"] == SunSpecMap.Meter.wSF)
        #expect(o["TotWhImp"] == SunSpecMap.Meter.totWhImp && o["TotWh_SF"] == SunSpecMap.Meter.totWhSF)
    }

    func block(w: UInt16, wsf: Int16, wh: UInt32, whsf: Int16) -> [UInt16] {
        var r = [UInt16](repeating: 0x8000, count: SunSpecMap.Meter.span)
        r[0] = w
        r[SunSpecMap.Meter.wSF - SunSpecMap.Meter.w] = UInt16(bitPattern: wsf)
        r[SunSpecMap.Meter.totWhImp - SunSpecMap.Meter.w] = UInt16(wh >> 16)
        r[SunSpecMap.Meter.totWhImp - SunSpecMap.Meter.w + 1] = UInt16(wh & 0xFFFF)
        r[SunSpecMap.Meter.totWhSF - SunSpecMap.Meter.w] = UInt16(bitPattern: whsf)
        return r
    }

    @Test func decodingAppliesScaleFactorsAndRefusesNotImplemented() throws {
        let v = try SunSpecMap.decode(block(w: 4125, wsf: -1, wh: 123_456, whsf: 1)).get()
        #expect(v.watts == 412.5 && v.importedWh == 1_234_560)
        let negative = try SunSpecMap.decode(block(w: UInt16(bitPattern: -300), wsf: 0, wh: 5, whsf: 0)).get()
        #expect(negative.watts == -300)
        // W not implemented, W_SF not implemented: errors. TotWhImp or its SF not implemented: no energy.
        for bad in [
            block(w: 0x8000, wsf: 0, wh: 5, whsf: 0), block(w: 10, wsf: Int16(bitPattern: 0x8000), wh: 5, whsf: 0),
        ] {
            guard case .failure(let e) = SunSpecMap.decode(bad) else {
                Issue.record("a not-implemented point was read as a value")
                continue
            }
            #expect(e.reason == "not implemented")
        }
        #expect(try SunSpecMap.decode(block(w: 10, wsf: 0, wh: 0, whsf: 0)).get().importedWh == nil)
        #expect(
            try SunSpecMap.decode(block(w: 10, wsf: 0, wh: 9, whsf: Int16(bitPattern: 0x8000))).get().importedWh == nil)
        guard case .failure(let e) = SunSpecMap.decode(block(w: 10, wsf: 11, wh: 9, whsf: 0)) else {
            Issue.record("a scale factor outside -10...10 was applied")
            return
        }
        #expect(e.reason == "protocol")
    }

    @Test func theChainWalkEndsOrLoopsBounded() {
        #expect(SunSpecMap.step(header: [1, 66], address: 40002, walked: 0) == .readHeader(address: 40070))
        #expect(
            SunSpecMap.step(header: [203, 105], address: 40070, walked: 1)
                == .found(SunSpecMap.Model(id: 203, length: 105, address: 40070)))
        guard case .failed(let end) = SunSpecMap.step(header: [0xFFFF, 0], address: 40100, walked: 2) else {
            Issue.record("the end marker did not end the walk")
            return
        }
        #expect(end.reason == "not implemented")
        guard case .failed = SunSpecMap.step(header: [7, 0], address: 100, walked: SunSpecMap.maxModels - 1) else {
            Issue.record("the walk is unbounded")
            return
        }
        guard case .failed(let short) = SunSpecMap.step(header: [201, 10], address: 100, walked: 1) else {
            Issue.record("a meter model too short for TotWh_SF was accepted")
            return
        }
        #expect(short.message.contains("too short"))
        // The model after the marker must be common (1), even when it is a meter model.
        guard case .failed(let first) = SunSpecMap.step(header: [203, 105], address: 40002, walked: 0) else {
            Issue.record("a map whose first model is not common was walked")
            return
        }
        #expect(first.reason == "protocol" && first.message.contains("expected 1"))
    }

    @Test func framesAreChecked() throws {
        #expect(
            ModbusFrame.readHoldingRegisters(transaction: 0x0102, unit: 7, address: 40000, count: 2) == [
                1, 2, 0, 0, 0, 6, 7, 3, 0x9C, 0x40, 0, 2,
            ])
        #expect(try ModbusFrame.bodyLength(header: [1, 2, 0, 0, 0, 7, 7], transaction: 0x0102, unit: 7).get() == 6)
        for (h, why) in [
            ([1, 3, 0, 0, 0, 7, 7], "transaction"), ([1, 2, 0, 1, 0, 7, 7], "protocol id"),
            ([1, 2, 0, 0, 0, 7, 8], "unit"),
            ([1, 2, 0, 0, 1, 7, 7], "length"),
        ] as [([UInt8], String)] {
            guard case .failure(let e) = ModbusFrame.bodyLength(header: h, transaction: 0x0102, unit: 7) else {
                Issue.record("a header with a wrong \(why) was accepted")
                continue
            }
            #expect(e.message.contains(why))
        }
        #expect(try ModbusFrame.registers(pdu: [3, 4, 0x53, 0x75, 0x6E, 0x53], count: 2).get() == SunSpecMap.marker)
        guard case .failure(let x) = ModbusFrame.registers(pdu: [0x83, 2], count: 2) else {
            Issue.record("an exception was read as registers")
            return
        }
        #expect(x.reason == "exception 2" && x.message.contains("illegal data address"))
        // Every code a meter may send maps to one of ten reasons (the nine standard codes, typed here from
        // the Modbus application protocol, and "exception other"); the code itself stays in the message.
        let standard: [UInt8: String] = [
            1: "exception 1", 2: "exception 2", 3: "exception 3", 4: "exception 4", 5: "exception 5",
            6: "exception 6", 8: "exception 8", 10: "exception 10", 11: "exception 11",
        ]
        var seen: Set<String> = []
        for code in UInt8.min...UInt8.max {
            guard case .failure(let e) = ModbusFrame.registers(pdu: [0x83, code], count: 2) else {
                Issue.record("exception \(code) was read as registers")
                continue
            }
            #expect(e.reason == (standard[code] ?? "exception other"), "code \(code)")
            #expect(e.message.contains("exception \(code) "), "code \(code): \(e.message)")
            #expect(PowerError.label(e.reason) == e.reason)
            seen.insert(e.reason)
        }
        #expect(seen.count == 10)
        #expect(PowerError.label("exception 200") == "other" && PowerError.label("timeout") == "timeout")
        guard case .failure = ModbusFrame.registers(pdu: [3, 2, 0, 1], count: 2) else {
            Issue.record("a short reply was accepted")
            return
        }
    }
}

@Suite(.serialized) struct SunSpecPowerTests {
    @Test(arguments: [40000, 0, 50000], [UInt16(201), 203, 204])
    func readsTheMeterWhereverTheMapStarts(base: Int, model: UInt16) throws {
        let meter = try SunSpecTestMeter(base: base, model: model) { 412.5 }
        defer { meter.stop() }
        let source = SunSpecPower(host: "127.0.0.1", port: meter.port, unit: 1, timeout: 1)
        defer { source.close() }
        let r = try source.sample(at: 1).get()
        #expect(r.watts == 412.5)
        #expect(r.energyJoules == 0)
        #expect(source.meterModel?.id == model && source.meterModel?.address == meter.meterAddress)
    }

    @Test func exceptionsAndNotImplementedAreErrorsAndTheValueComesBack() throws {
        let watts = Mutex(1500.0)
        let meter = try SunSpecTestMeter { watts.withLock { $0 } }
        defer { meter.stop() }
        let source = SunSpecPower(host: "127.0.0.1", port: meter.port, unit: 1, timeout: 1)
        defer { source.close() }
        #expect(try source.sample(at: 1).get().watts == 1500)
        meter.misbehaviour.withLock { $0.exception = 4 }
        #expect(source.sample(at: 2).failureReason == "exception 4")
        meter.misbehaviour.withLock {
            $0.exception = nil
            $0.notImplemented = true
        }
        #expect(source.sample(at: 3).failureReason == "not implemented")
        meter.misbehaviour.withLock { $0.notImplemented = false }
        watts.withLock { $0 = 40_000 }
        // 40 kW does not fit an int16 in W: the meter's scale factor moves to 1 and the client applies it.
        #expect(try source.sample(at: 4).get().watts == 40_000)
    }

    @Test func aSlowMeterTimesOutAndAMeterThatDisappearsIsRetriedWithBackoff() throws {
        let meter = try SunSpecTestMeter { 800 }
        defer { meter.stop() }
        let source = SunSpecPower(host: "127.0.0.1", port: meter.port, unit: 1, timeout: 0.3)
        defer { source.close() }
        #expect(try source.sample(at: 10).get().watts == 800)
        meter.misbehaviour.withLock { $0.delay = 1 }
        #expect(source.sample(at: 11).failureReason == "timeout")
        meter.misbehaviour.withLock { $0.delay = 0 }
        // Within the backoff (0.5 s after the first failure) no connection is attempted.
        let before = meter.requests.load(ordering: .relaxed)
        #expect(source.sample(at: 11.2).failureReason == "disconnected")
        #expect(meter.requests.load(ordering: .relaxed) == before)
        // After it, the client reconnects, walks the map again and reads.
        #expect(try source.sample(at: 12).get().watts == 800)
        meter.disconnect()
        usleep(50_000)
        #expect(source.sample(at: 13).failureReason == "disconnected")
        #expect(try source.sample(at: 14).get().watts == 800)
    }

    @Test func aMeterThatRefusesTheDiscoveryIsTriedAgainFromTheStart() throws {
        let meter = try SunSpecTestMeter { 640 }
        defer { meter.stop() }
        meter.misbehaviour.withLock { $0.exception = 4 }
        let source = SunSpecPower(host: "127.0.0.1", port: meter.port, unit: 1, timeout: 1)
        defer { source.close() }
        // Every base answers an exception: no marker anywhere.
        #expect(source.sample(at: 1).failureReason == "not implemented")
        meter.misbehaviour.withLock { $0.exception = nil }
        #expect(source.sample(at: 1.1).failureReason == "disconnected")  // within the backoff
        #expect(try source.sample(at: 2).get().watts == 640)
    }

    /// A meter that says nothing about an address outside its map: the client must not take the silence at
    /// 40000 (and 0) for a dead meter, but try the next base on a new connection.
    @Test(arguments: [0, 50000])
    func aMapFoundPastSilentBases(base: Int) throws {
        let meter = try SunSpecTestMeter(base: base, model: 201) { 950 }
        defer { meter.stop() }
        meter.misbehaviour.withLock { $0.silentOutsideMap = true }
        let source = SunSpecPower(host: "127.0.0.1", port: meter.port, unit: 1, timeout: 0.3, discoveryTimeout: 30)
        defer { source.close() }
        let r = source.sample(at: 1)
        #expect(r.failureReason == nil, "\(r)")
        #expect(try r.get().watts == 950)
        #expect(source.meterModel?.address == meter.meterAddress)
    }

    /// A meter that answers nothing at any base is a timeout, not a map without a marker.
    @Test func silenceAtEveryBaseIsATimeout() throws {
        let meter = try SunSpecTestMeter { 700 }
        defer { meter.stop() }
        meter.misbehaviour.withLock { $0.delay = 2 }
        let source = SunSpecPower(host: "127.0.0.1", port: meter.port, unit: 1, timeout: 0.2, discoveryTimeout: 30)
        defer { source.close() }
        #expect(source.sample(at: 1).failureReason == "timeout")
    }

    /// Every reply is well within the per-request timeout, but the discovery as a whole (marker, common,
    /// the vendor model, the meter: four replies of at least 0.25 s) cannot end within 0.6 s.
    @Test func theDiscoveryHasOneDeadline() throws {
        let meter = try SunSpecTestMeter { 700 }
        defer { meter.stop() }
        meter.misbehaviour.withLock { $0.delay = 0.25 }
        let source = SunSpecPower(host: "127.0.0.1", port: meter.port, unit: 1, timeout: 5, discoveryTimeout: 0.6)
        defer { source.close() }
        guard case .failure(let e) = source.sample(at: 1) else {
            Issue.record("a discovery past its deadline succeeded")
            return
        }
        #expect(e.reason == "timeout" && e.message.contains("discovery"), "\(e.message)")
    }

    /// A request the meter will not answer for 10 s (the timeout is 20 s) is woken by interrupt(), as the
    /// sampler's stop() does, and later samples fail at once.
    @Test func interruptWakesABlockedRequest() throws {
        let meter = try SunSpecTestMeter { 700 }
        defer { meter.stop() }
        meter.misbehaviour.withLock { $0.delay = 10 }
        let source = SunSpecPower(host: "127.0.0.1", port: meter.port, unit: 1, timeout: 20)
        let result = Mutex<Result<PowerReading, PowerError>?>(nil)
        Thread.detachNewThread { [source] in
            let r = source.sample(at: 1)
            result.withLock { $0 = r }
        }
        #expect(eventually(within: 5) { meter.received.load(ordering: .relaxed) >= 1 })
        source.interrupt()
        #expect(eventually(within: 5) { result.withLock { $0 } != nil })
        #expect(result.withLock { $0 }?.failureReason == "disconnected")
        #expect(source.sample(at: 100).failureReason == "disconnected")
        source.close()
    }

    /// Maps and replies a client must refuse, never trap on or walk for ever: a vendor model whose length
    /// (65535) runs off the register space, more models before the meter than the walk allows (70; an
    /// unbounded walk would find the meter after them), replies to another transaction or from another unit.
    @Test func hostileMapsAndRepliesAreProtocolErrors() throws {
        let many = (0..<70).map { i in [UInt16(64001 + i), 0] }
        let cases: [(String, [[UInt16]], (inout SunSpecTestMeter.Misbehaviour) -> Void, String)] = [
            ("length 65535", [[64001, 65535]], { _ in }, "does not end"),
            ("70 vendor models", many, { _ in }, "does not end"),
            ("another transaction", SunSpecTestMeter.defaultVendorModels, { $0.transactionDelta = 1 }, "transaction"),
            ("another unit", SunSpecTestMeter.defaultVendorModels, { $0.replyUnit = 9 }, "unit"),
        ]
        for (what, vendor, misbehave, why) in cases {
            let meter = try SunSpecTestMeter(vendorModels: vendor) { 500 }
            defer { meter.stop() }
            meter.misbehaviour.withLock { misbehave(&$0) }
            let source = SunSpecPower(host: "127.0.0.1", port: meter.port, unit: 1, timeout: 1)
            defer { source.close() }
            guard case .failure(let e) = source.sample(at: 1) else {
                Issue.record("\(what): a hostile meter gave a reading")
                continue
            }
            #expect(e.reason == "protocol" && e.message.contains(why), "\(what): \(e.message)")
            #expect(source.meterModel == nil, "\(what)")
        }
    }

    @Test func nothingListeningIsAnErrorNotATrap() {
        let source = SunSpecPower(host: "127.0.0.1", port: 1, unit: 1, timeout: 0.3)
        #expect(source.sample(at: 1).failureReason == "disconnected")
    }

    @Test func energyCountsTheImportedWattHours() throws {
        let meter = try SunSpecTestMeter { 360_000 / 10 }
        defer { meter.stop() }
        let source = SunSpecPower(host: "127.0.0.1", port: meter.port, unit: 1, timeout: 1)
        defer { source.close() }
        let t0 = Monotonic.seconds()
        _ = try source.sample(at: 1).get()
        let t1 = Monotonic.seconds()
        usleep(1_200_000)
        let t2 = Monotonic.seconds()
        let e = try source.sample(at: 2).get().energyJoules ?? -1
        let t3 = Monotonic.seconds()
        // 36 kW is 10 J a millisecond. The meter counts whole Wh (3600 J) between the two requests, which
        // fall within [t0, t1] and [t2, t3].
        let least = 36_000 * (t2 - t1) - 3600
        let most = 36_000 * (t3 - t0) + 3600
        #expect(e >= least && e <= most, "\(e) J, expected \(least)...\(most)")
    }
}

extension Result where Failure == PowerError {
    var failureReason: String? {
        if case .failure(let e) = self { return e.reason }
        return nil
    }
}
