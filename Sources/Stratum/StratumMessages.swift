import FlexSupport
import Foundation
import SHA256

/// Why a pool connection ended or a pool message was refused. `code` lets callers branch (retry,
/// fail over, give up); the message names the field of the pool's message that was wrong.
package typealias StratumError = CodedError<StratumErrorCode>

/// What kind of failure a `StratumError` is.
package enum StratumErrorCode: String, Sendable, Hashable {
    /// A pool URL given by the operator is wrong.
    case input
    /// The pool sent something that is not stratum v1 as we know it (wrong types, bad hex, sizes out
    /// of range, a line over the cap, malformed JSON).
    case malformed
    /// Connecting, reading or writing failed, or the pool closed the connection.
    case connection
    /// No data from the pool for the idle timeout, or no reply to a request in time.
    case timeout
    /// The pool refused the worker (`mining.authorize` answered false or with an error).
    case unauthorized
}

/// `stratum+tcp://HOST:PORT`, as `--pool` takes it.
package struct StratumURL: Sendable, Hashable, CustomStringConvertible {
    package let host: String
    package let port: Int

    /// - Throws: `StratumError.input` naming what is wrong (the caller adds the flag).
    package init(_ text: String) throws(StratumError) {
        let scheme = "stratum+tcp://"
        guard text.hasPrefix(scheme) else {
            throw StratumError(.input, "\"\(text.prefix(60))\": a pool URL is stratum+tcp://HOST:PORT")
        }
        var rest = String(text.dropFirst(scheme.count))
        if rest.hasSuffix("/") { rest.removeLast() }
        // Credentials never go in URLs: they would end up in logs and /status.
        guard !rest.contains("@"), !rest.contains("/") else {
            throw StratumError(.input, "\"\(text.prefix(60))\": give only HOST:PORT (the user goes in --user)")
        }
        do throws(InputError) {
            let hp = try HostPort(rest)
            guard hp.port > 0 else { throw InputError("port must be 1...65535") }
            self.init(host: hp.host, port: hp.port)
        } catch { throw StratumError(.input, "\"\(text.prefix(60))\": \(error.message)") }
    }

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    package var description: String { "stratum+tcp://\(HostPort(host: host, port: port))" }
}

/// One `mining.notify`: the pool's work, as sent (hex decoded, no byte order changed).
package struct StratumJob: Sendable, Hashable {
    package let jobID: String
    /// 32 bytes as sent: the previous block hash in internal order with each 4-byte word byte-swapped.
    package let previousHashWords: [UInt8]
    package let coinbase1: [UInt8]
    package let coinbase2: [UInt8]
    /// Merkle branch hashes, internal byte order, bottom up.
    package let merkleBranch: [[UInt8]]
    package let version: UInt32
    package let bits: UInt32
    package let time: UInt32
    /// Drop all older jobs now (a new block on the network).
    package let cleanJobs: Bool

    package init(
        jobID: String, previousHashWords: [UInt8], coinbase1: [UInt8], coinbase2: [UInt8], merkleBranch: [[UInt8]],
        version: UInt32, bits: UInt32, time: UInt32, cleanJobs: Bool
    ) {
        self.jobID = jobID
        self.previousHashWords = previousHashWords
        self.coinbase1 = coinbase1
        self.coinbase2 = coinbase2
        self.merkleBranch = merkleBranch
        self.version = version
        self.bits = bits
        self.time = time
        self.cleanJobs = cleanJobs
    }

    /// Reads `mining.notify`'s params: job_id, prevhash, coinb1, coinb2, merkle_branch, version, nbits,
    /// ntime, clean_jobs.
    /// - Throws: `StratumError.malformed` naming the parameter.
    package init(params: [Any]) throws(StratumError) {
        let p = StratumParams(params, method: "mining.notify")
        guard params.count >= 9 else { throw p.error("expected 9 params, got \(params.count)") }
        jobID = try p.string(0, "job_id", maxLength: 128)
        previousHashWords = try p.hex(1, "prevhash", bytes: 32...32)
        coinbase1 = try p.hex(2, "coinb1", bytes: 0...StratumParams.maxCoinbasePart)
        coinbase2 = try p.hex(3, "coinb2", bytes: 0...StratumParams.maxCoinbasePart)
        let branch = try p.array(4, "merkle_branch")
        guard branch.count <= 32 else { throw p.error("merkle_branch: at most 32 hashes, got \(branch.count)") }
        let b = StratumParams(branch, method: "mining.notify merkle_branch")
        merkleBranch = try (0..<branch.count).map { i throws(StratumError) in try b.hex(i, "hash", bytes: 32...32) }
        version = try p.word(5, "version")
        bits = try p.word(6, "nbits")
        time = try p.word(7, "ntime")
        cleanJobs = try p.bool(8, "clean_jobs")
    }
}

/// What `mining.subscribe` answered: the session to resume later and the extranonce layout.
package struct StratumSubscription: Sendable, Hashable {
    /// The subscription id (`mining.notify`'s), sent back in `mining.subscribe` to resume the session.
    package let sessionID: String?
    package let extranonce1: [UInt8]
    package let extranonce2Size: Int

    /// Extranonce2 sizes FlexMiner accepts (pools use 2 to 8).
    package static let extranonce2Sizes = 1...16

    package init(sessionID: String?, extranonce1: [UInt8], extranonce2Size: Int) {
        self.sessionID = sessionID
        self.extranonce1 = extranonce1
        self.extranonce2Size = extranonce2Size
    }

    /// Reads the result `[[["mining.notify", id], ...], extranonce1, extranonce2_size]`.
    /// - Throws: `StratumError.malformed` naming the field.
    package init(result: Any?) throws(StratumError) {
        guard let r = result as? [Any] else {
            throw StratumError(.malformed, "mining.subscribe result: expected an array")
        }
        let p = StratumParams(r, method: "mining.subscribe result")
        guard r.count >= 3 else { throw p.error("expected 3 elements, got \(r.count)") }
        var session: String? = nil
        if let subs = r[0] as? [Any] {
            for case let pair as [Any] in subs where pair.count >= 2 {
                if pair[0] as? String == "mining.notify", let id = pair[1] as? String, id.utf8.count <= 128 {
                    session = id
                }
            }
            // Some pools send one flat pair instead of a list of pairs.
            if session == nil, subs.count >= 2, subs[0] as? String == "mining.notify", let id = subs[1] as? String,
                id.utf8.count <= 128
            {
                session = id
            }
        }
        sessionID = session
        extranonce1 = try p.hex(1, "extranonce1", bytes: 0...32)
        extranonce2Size = try p.int(2, "extranonce2_size", in: Self.extranonce2Sizes)
    }
}

/// One line from a pool, read: a notification (a method, its params, and an id when it wants an answer)
/// or the reply to one of our requests. Pure, so that it can be fuzzed without a connection.
package enum StratumInbound {
    case notification(method: String, params: [Any], id: Any?)
    case reply(id: Int, result: Any?, error: String?)

    /// - Throws: `StratumError.malformed` naming what is wrong.
    package static func parse(_ line: some Collection<UInt8>) throws(StratumError) -> StratumInbound {
        let f: JSONFields
        do { f = try JSONFields(json: Array(line), what: "a pool message") } catch {
            throw StratumError(.malformed, "pool message: \(error.message)")
        }
        let method: String?
        do { method = try f.string("method") } catch {
            throw StratumError(.malformed, "pool message: \(error.message)")
        }
        if let method {
            guard method.utf8.count <= 128 else {
                throw StratumError(.malformed, "pool message: method name over 128 bytes")
            }
            let params: [Any]
            do { params = try f.array("params") ?? [] } catch {
                throw StratumError(.malformed, "\(method): \(error.message)")
            }
            return .notification(method: method, params: params, id: f.object["id"])
        }
        guard let id = requestID(f.object["id"]) else {
            throw StratumError(.malformed, "pool message: a reply needs a numeric \"id\"")
        }
        return .reply(id: id, result: f.object["result"], error: reason(f.object["error"]))
    }

    /// The event a notification carries; nil for a method that is answered (`mining.ping`,
    /// `client.get_version`) or not known. `requestedMask` is the version-rolling mask asked for: a
    /// pool's mask is ANDed with it.
    /// - Throws: `StratumError.malformed` naming the parameter.
    package static func event(method: String, params: [Any], requestedMask: UInt32) throws(StratumError)
        -> StratumEvent?
    {
        let p = StratumParams(params, method: method)
        switch method {
        case "mining.notify":
            return .job(try StratumJob(params: params))
        case "mining.set_difficulty":
            let d = try p.number(0, "difficulty")
            guard d > 0 else { throw p.error("param 0 (difficulty) must be positive, got \(d)") }
            return .difficulty(d)
        case "mining.set_version_mask":
            return .versionMask(try p.word(0, "mask") & requestedMask)
        case "mining.set_extranonce":
            let e1 = try p.hex(0, "extranonce1", bytes: 0...32)
            let size = try p.int(1, "extranonce2_size", in: StratumSubscription.extranonce2Sizes)
            return .extranonce(extranonce1: e1, extranonce2Size: size)
        case "client.reconnect":
            let host = params.count > 0 ? params[0] as? String : nil
            if let h = host, h.utf8.count > 253 { throw p.error("param 0 (host): longer than a host name can be") }
            var port: Int? = nil
            // The port as a number or a string (pools send both); anything but 1...65535 is refused, not
            // wrapped into another port.
            if params.count > 1, !(params[1] is NSNull), !((params[1] as? String)?.isEmpty ?? false) {
                let value = (params[1] as? String).flatMap { Int($0) } ?? JSONScalar.integer(params[1], in: 1...65535)
                guard let v = value, (1...65535).contains(v) else {
                    throw p.error("param 1 (port) must be 1...65535, got \(String(describing: params[1]).prefix(40))")
                }
                port = v
            }
            let wait = params.count > 2 ? min(max(JSONScalar.number(params[2]) ?? 0, 0), 600) : 0
            return .reconnect(host: host?.isEmpty == true ? nil : host, port: port, waitSeconds: wait)
        case "client.show_message":
            return .message(String((params.first as? String ?? "").prefix(500)))
        default:
            return nil
        }
    }

    package static func requestID(_ value: Any?) -> Int? {
        if let v = value, let n = JSONScalar.integer(v, in: -999_999_999_999_999...999_999_999_999_999) { return n }
        if let s = value as? String { return Int(s) }
        return nil
    }

    /// A JSON-RPC error as text: `[code, "message", data]`, `{"code","message"}` or a string.
    package static func reason(_ error: Any?) -> String? {
        guard let error, !(error is NSNull) else { return nil }
        var text: String
        if let a = error as? [Any], a.count >= 2, let m = a[1] as? String {
            text = m
        } else if let o = error as? [String: Any], let m = o["message"] as? String {
            text = m
        } else if let s = error as? String {
            text = s
        } else {
            text = "error"
        }
        if text.utf8.count > 200 { text = String(text.prefix(200)) }
        return text
    }

}

/// What the pool told the miner, in the order it arrived.
package enum StratumEvent: Sendable, Hashable {
    /// The reply to `mining.subscribe`.
    case subscribed(StratumSubscription)
    /// The version bits the miner may roll now (the pool's mask ANDed with the requested one; 0: none).
    case versionMask(UInt32)
    /// `mining.authorize` succeeded.
    case authorized
    /// `mining.set_difficulty` (positive, finite).
    case difficulty(Double)
    /// `mining.notify`.
    case job(StratumJob)
    /// `mining.set_extranonce`.
    case extranonce(extranonce1: [UInt8], extranonce2Size: Int)
    /// `client.reconnect`: host and port nil mean the same pool; wait in seconds before reconnecting.
    case reconnect(host: String?, port: Int?, waitSeconds: Double)
    /// `client.show_message`.
    case message(String)
}

/// Typed access to a JSON-RPC params array, with errors that name the method and the parameter.
struct StratumParams {
    let values: [Any]
    let method: String

    /// Coinbase halves bigger than this are refused (a block's coinbase is far smaller).
    static let maxCoinbasePart = 64 * 1024

    init(_ values: [Any], method: String) {
        self.values = values
        self.method = method
    }

    func error(_ text: String) -> StratumError { StratumError(.malformed, "\(method): \(text)") }

    func value(_ i: Int, _ name: String) throws(StratumError) -> Any {
        guard i < values.count, !(values[i] is NSNull) else { throw error("missing param \(i) (\(name))") }
        return values[i]
    }

    func string(_ i: Int, _ name: String, maxLength: Int = 4096) throws(StratumError) -> String {
        guard let s = try value(i, name) as? String else { throw error("param \(i) (\(name)) must be a string") }
        guard s.utf8.count <= maxLength else { throw error("param \(i) (\(name)) is over \(maxLength) bytes") }
        return s
    }

    func hex(_ i: Int, _ name: String, bytes range: ClosedRange<Int>) throws(StratumError) -> [UInt8] {
        let s = try string(i, name, maxLength: range.upperBound * 2)
        let b: [UInt8]
        do { b = try Hex.decode(s, name: name) } catch { throw self.error("param \(i) (\(name)): not hex") }
        guard range.contains(b.count) else {
            throw self.error(
                "param \(i) (\(name)) must be \(range.lowerBound)...\(range.upperBound) bytes, got \(b.count)")
        }
        return b
    }

    /// Eight hex digits, most significant first (version, nbits, ntime).
    func word(_ i: Int, _ name: String) throws(StratumError) -> UInt32 {
        let s = try string(i, name, maxLength: 8)
        guard s.utf8.count == 8, let v = UInt32(s, radix: 16) else {
            throw error("param \(i) (\(name)) must be 8 hex digits")
        }
        return v
    }

    func bool(_ i: Int, _ name: String) throws(StratumError) -> Bool {
        guard let b = JSONScalar.bool(try value(i, name)) else {
            throw error("param \(i) (\(name)) must be true or false")
        }
        return b
    }

    func number(_ i: Int, _ name: String) throws(StratumError) -> Double {
        guard let d = JSONScalar.number(try value(i, name)), d.isFinite else {
            throw error("param \(i) (\(name)) must be a finite number")
        }
        return d
    }

    func int(_ i: Int, _ name: String, in range: ClosedRange<Int>) throws(StratumError) -> Int {
        let d = try number(i, name)
        guard let n = JSONScalar.integer(exactly: d, in: range) else {
            throw error("param \(i) (\(name)) must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return n
    }

    func array(_ i: Int, _ name: String) throws(StratumError) -> [Any] {
        guard let a = try value(i, name) as? [Any] else { throw error("param \(i) (\(name)) must be an array") }
        return a
    }
}

/// Stratum's hex conventions for the numbers a miner sends back.
package enum StratumHex {
    /// A 32-bit word as 8 hex digits, most significant first (ntime, nonce, version bits).
    package static func word(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 8 - s.count) + s
    }

    /// An extranonce2 counter as `size` bytes, most significant first.
    package static func extranonce2(_ value: UInt64, size: Int) -> [UInt8] {
        (0..<size).map { i in
            let shift = 8 * (size - 1 - i)
            return shift >= 64 ? 0 : UInt8(truncatingIfNeeded: value >> UInt64(shift))
        }
    }
}
