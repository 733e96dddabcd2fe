import FlexSupport
import Foundation
import TestSupport
import Testing

@Suite struct TimeCodecTests {
    @Test func parsesTheFormsServersWrite() {
        #expect(ISO8601.parseSeconds("1970-01-01T00:00:00Z") == 0)
        #expect(ISO8601.parseSeconds("1970-01-01T01:00:00+01:00") == 0)
        #expect(ISO8601.parseSeconds("1970-01-01T00:00:00-0130") == 5400)
        #expect(ISO8601.parseSeconds("1970-01-01T00:00:00.25Z") == 0.25)
        #expect(ISO8601.parseSeconds("2024-02-29 12:00:00Z") == 1_709_208_000)
        // No zone: refused by default (a signal's `until` must say), read as UTC when asked.
        #expect(ISO8601.parseSeconds("2024-02-29T12:00:00") == nil)
        #expect(ISO8601.parseSeconds("2024-02-29T12:00:00", noZone: .utc) == 1_709_208_000)
        #expect(ISO8601.parseSeconds("2024-02-29 12:00", noZone: .utc) == 1_709_208_000)
    }

    @Test func refusesWhatIsNotADateTime() {
        for bad in [
            "2024-13-01T00:00Z", "2024-06-01", "2024-06-01T25:00Z", "2024-06-01T00:00:00X", "junk", "",
            "0000-01-01T00:00:00Z", "99999-01-01T00:00:00Z", "2024-06-01T00:00:00.Z", "2024-06-01T00:00:00+2",
        ] {
            #expect(ISO8601.parseSeconds(bad, noZone: .utc) == nil, "\(bad)")
        }
    }

    @Test func formatRoundTrips() {
        let d = Date(timeIntervalSince1970: 1_709_208_000.125)
        #expect(ISO8601.format(d) == "2024-02-29T12:00:00.125Z")
        #expect(ISO8601.parse(ISO8601.format(d))?.timeIntervalSince1970 == 1_709_208_000.125)
        #expect(ISO8601.formatLocal(1_709_208_000) == "2024-02-29T12:00:00")
        #expect(ISO8601.format(Date(timeIntervalSince1970: .infinity)) == "invalid-date")
        for days in [-719_468, -1, 0, 1, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = ISO8601.civilFromDays(days)
            #expect(ISO8601.daysFromCivil(y, m, d) == days)
        }
    }
}

@Suite struct JSONFieldsTests {
    @Test func namesTheFieldInEveryError() throws {
        let f = try JSONFields(json: Data(#"{"a":"x","b":true,"n":1e300,"i":2.5,"o":{"k":"v"},"s":[1]}"#.utf8))
        #expect(throws: InputError("field \"a\" must be a number")) { try f.number("a") }
        #expect(throws: InputError("field \"b\" must be a number")) { try f.number("b") }
        #expect(throws: InputError("field \"a\" must be true or false")) { try f.bool("a") }
        #expect(throws: InputError("field \"n\" must be 0...10, got 1e+300")) { try f.integer("n", in: 0...10) }
        #expect(throws: InputError("field \"i\" must be a whole number")) { try f.integer("i", in: 0...10) }
        #expect(throws: InputError("field \"o.k\" must be a number")) { try f.fields("o")?.number("k") }
        #expect(throws: InputError("field \"s\" must be an array of strings")) { try f.strings("s") }
        #expect(throws: InputError("missing field \"zz\"")) { try f.requiredString("zz") }
        #expect(throws: InputError("unknown key \"b\"")) { try f.onlyKeys(["a", "i", "n", "o", "s"]) }
        #expect(try f.bool("b") == true)
        #expect(try f.number("missing") == nil)
    }

    /// A range that ends at Int.max: 2^63 passes a comparison with Double(Int.max) but is one past it.
    @Test func integersAtTheEdgeOfIntAreRefusedNotTrapped() throws {
        let f = try JSONFields(json: Data(#"{"a":9223372036854775807,"b":9.3e18,"c":-9.3e18}"#.utf8))
        #expect(throws: InputError.self) { try f.integer("a", in: 0...Int.max) }  // reads as 2^63
        #expect(throws: InputError.self) { try f.integer("b", in: 0...Int.max) }
        #expect(throws: InputError.self) { try f.integer("c", in: Int.min...0) }
    }

    @Test func oneConversionOfOutsideNumbersToInt() {
        #expect(JSONScalar.integer(NSNumber(value: 42.0), in: 0...100) == 42)
        #expect(JSONScalar.integer(NSNumber(value: 42.5), in: 0...100) == nil)
        #expect(JSONScalar.integer(NSNumber(value: true), in: 0...100) == nil)
        #expect(JSONScalar.integer("42", in: 0...100) == nil)
        #expect(JSONScalar.integer(exactly: 1e300, in: 0...Int.max) == nil)
        #expect(JSONScalar.integer(exactly: 9_223_372_036_854_775_807, in: 0...Int.max) == nil)  // 2^63
        #expect(JSONScalar.integer(exactly: .nan, in: 0...1) == nil)
        #expect(JSONScalar.integer(exactly: -.infinity, in: Int.min...0) == nil)
    }

    @Test func refusesWhatIsNotAnObject() {
        #expect(throws: InputError("malformed JSON")) { try JSONFields(json: Data("{".utf8)) }
        #expect(throws: InputError("input must be a JSON object")) { try JSONFields(json: Data("[1]".utf8)) }
    }
}

@Suite struct AddressTests {
    @Test func loopbackIsDecidedOnTheParsedAddress() {
        for host in ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1", "localhost", "0:0:0:0:0:0:0:1"] {
            #expect(Loopback.contains(host: host), "\(host)")
        }
        for host in ["127.example.com", "128.0.0.1", "0.0.0.0", "::", "::2", "::ffff:10.0.0.1", "", "1227.0.0.1"] {
            #expect(!Loopback.contains(host: host), "\(host)")
        }
    }

    @Test func hostPort() throws {
        #expect(try HostPort("127.0.0.1:9105") == HostPort(host: "127.0.0.1", port: 9105))
        #expect(try HostPort("[::1]:80").host == "::1")
        #expect(try HostPort("[::1]:80").description == "[::1]:80")
        for bad in ["9105", ":80", "h:", "h:65536", "h:-1", "h:x"] {
            #expect(throws: InputError.self, "\(bad)") { try HostPort(bad) }
        }
    }

    @Test func constantTimeCompare() {
        #expect(ConstantTime.equal("secret-token-123", "secret-token-123"))
        #expect(!ConstantTime.equal("secret-token-12", "secret-token-123"))
        #expect(!ConstantTime.equal("secret-token-1234", "secret-token-123"))
        #expect(!ConstantTime.equal(nil, "x"))
        #expect(!ConstantTime.equal("", "x"))
    }

    @Test func durations() {
        #expect(DurationText.seconds("1h30m") == 5400)
        #expect(DurationText.seconds("250ms") == 0.25)
        #expect(DurationText.seconds("300") == 300)
        #expect(DurationText.seconds("1e30") == nil)
        #expect(DurationText.seconds("5x") == nil)
        #expect(Duration.checked(seconds: 1e30) == nil)
        #expect(Duration.checked(seconds: -1) == nil)
        #expect(Duration.checked(seconds: .nan) == nil)
        #expect(Duration.checked(seconds: 1.5) == .milliseconds(1500))
        #expect(Duration.milliseconds(1500).seconds == 1.5)
        #expect(ThreadCount.problem(0) == "--threads must be 1...1024, got 0")
        #expect(ThreadCount.problem(2) == nil)
    }
}

@Suite struct InputFileTests {
    @Test func onlyBoundedRegularFiles() throws {
        #expect(throws: InputError("/dev/zero: not a regular file")) { try InputFile.data("/dev/zero") }
        #expect(throws: InputError("/tmp: not a regular file")) { try InputFile.data("/tmp") }
        #expect(throws: InputError.self) { try InputFile.data("/nonexistent/flexminer") }
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/f.json"
        try Data(repeating: 0x20, count: 100).write(to: URL(fileURLWithPath: path))
        #expect(try InputFile.data(path, limit: 100).count == 100)
        #expect(throws: InputError("\(path): 100 bytes is more than the limit of 99")) {
            try InputFile.data(path, limit: 99)
        }
    }
}

@Suite struct BackoffTests {
    @Test func doublesFromStartToMaxAndStaysThere() {
        var b = Backoff(start: .milliseconds(250), max: .seconds(10))
        let delays = (0..<8).map { _ in b.next() }
        // 0.25, 0.5, 1, 2, 4, 8, then capped at 10 (not 16).
        let expected: [Duration] = [
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(10),
            .seconds(10),
        ]
        #expect(delays == expected)
        b.reset()
        #expect(b.next() == .milliseconds(250))
        b.saturate()
        #expect(b.next() == .seconds(10))
    }

    @Test func neverOverflowsNorTrapsOnOddSettings() {
        var huge = Backoff(start: .seconds(1), max: .seconds(Int64.max / 2))
        for _ in 0..<200 { #expect(huge.next() <= huge.max) }
        var inverted = Backoff(start: .seconds(5), max: .seconds(1))
        #expect(inverted.next() == .seconds(5))  // max is raised to start
        var zero = Backoff(start: .zero, max: .zero, jitter: .nan)
        #expect(zero.next() == .zero && zero.jitter == 0)
        var fromSeconds = Backoff(startSeconds: .infinity, maxSeconds: -1)
        #expect(fromSeconds.next() == .zero)
    }

    @Test func skipCountsFailuresAsNextWould() {
        for n in [0, 1, 3, 7, 1_000_000, -5] {
            var skipped = Backoff(start: .milliseconds(500), max: .seconds(30))
            var stepped = skipped
            skipped.skip(n)
            for _ in 0..<min(max(n, 0), 64) { _ = stepped.next() }
            #expect(skipped.current == stepped.current, "n = \(n)")
        }
    }

    @Test func jitterStaysWithinItsBand() {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("BackoffTests.jitterStaysWithinItsBand seed \(seed)")
        var rng = SplitMix64(seed: seed)
        var seen = Set<Duration>()
        for _ in 0..<500 {
            var b = Backoff(start: .seconds(2), max: .seconds(30), jitter: 0.25)
            let d = b.next(using: &rng)
            #expect(d >= .milliseconds(1500) && d <= .milliseconds(2500), "\(d)")
            seen.insert(d)
        }
        #expect(seen.count > 100)  // it does vary: hosts do not retry in step
    }
}
