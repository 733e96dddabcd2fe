import FakeVTN2b
import FlexSupport
import Foundation
import OpenADR

// `flexminer-fakevtn2b [--port N] [--admin-port N] [--poll-frequency PT1S] [--state FILE]
//  [--tls-cert PEM --tls-key PEM --client-ca PEM]`: the project's fake OpenADR 2.0b VTN (simple HTTP, pull)
// for drills and the README's walk-through. Prints the VTN's base URL on the first line of stdout and its
// admin URL on the second, then serves until killed.
// With --tls-cert/--tls-key/--client-ca it serves HTTPS on --port requiring a client certificate that chains
// to --client-ca, signs every answer (XML signature with the TLS key, by the xmlsec1 CLI) and checks the
// signature of every VEN request against --client-ca (the stats count them).
// With --state FILE it keeps its VENs, events and counters there (0600, rewritten within 0.1 s of a change)
// and takes them up again when started with the same file, as a real VTN's database would.
// The admin endpoint (loopback only) is how a drill plays the utility:
//   POST ADMIN/event?id=ID&lead=SECONDS&seconds=SECONDS&level=0..3[&modification=N]  publish or replace an event
//   POST ADMIN/remove?id=ID                                                            cancel it (it disappears)
//   GET  ADMIN/stats   {"vens":[…],"opt_ins":[…],"update_reports":N,"requests":N,"polls":{venID:N},
//                       "signatures_verified":N,"signatures_refused":N}
var port = 0
var adminPort = 0
var pollFrequency = "PT1S"
var statePath: String?
var tlsCert: String?
var tlsKey: String?
var clientCA: String?
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--port": port = number(args.next(), "--port", in: 0...65_535)
    case "--admin-port": adminPort = number(args.next(), "--admin-port", in: 0...65_535)
    case "--poll-frequency": pollFrequency = args.next() ?? pollFrequency
    case "--state": statePath = text(args.next())
    case "--tls-cert": tlsCert = text(args.next())
    case "--tls-key": tlsKey = text(args.next())
    case "--client-ca": clientCA = text(args.next())
    default: usage()
    }
}

/// An option's value, or the usage error when it is missing.
func text(_ value: String?) -> String {
    guard let value else { usage() }
    return value
}

func usage() -> Never {
    FileHandle.standardError.write(
        Data(
            ("usage: flexminer-fakevtn2b [--port N] [--admin-port N] [--poll-frequency PT1S] [--state FILE] "
                + "[--tls-cert PEM --tls-key PEM --client-ca PEM]\n").utf8))
    exit(2)
}

/// A whole number in `range`, or the usage error naming `what` (never a trap on bad input).
func number(_ text: String?, _ what: String, in range: ClosedRange<Int>) -> Int {
    guard let text, let n = Int(text), range.contains(n) else {
        FileHandle.standardError.write(
            Data("flexminer-fakevtn2b: \(what) must be \(range), got \(text ?? "nothing")\n".utf8))
        exit(2)
    }
    return n
}

/// The admin requests: a query number within `range`, else a 400 naming the field.
func admin(_ vtn: FakeVTN2b, _ r: TinyHTTPServer.Request) -> TinyHTTPServer.Response {
    func value(_ key: String, _ range: ClosedRange<Double>, default d: Double? = nil) -> Double? {
        guard let text = r.query[key] else { return d }
        guard let v = Double(text), v.isFinite, range.contains(v) else { return nil }
        return v
    }
    switch (r.method, r.path) {
    case ("POST", "/admin/event"):
        guard let id = r.query["id"], !id.isEmpty, id.utf8.count <= 128 else {
            return .problem(400, "id: 1...128 bytes")
        }
        guard let lead = value("lead", -86_400...86_400, default: 0) else { return .problem(400, "lead: seconds") }
        guard let seconds = value("seconds", 1...86_400, default: 20) else {
            return .problem(400, "seconds: 1...86400")
        }
        guard let level = value("level", 0...3, default: 3) else { return .problem(400, "level: 0...3") }
        guard let modification = value("modification", 0...1e6, default: 0) else {
            return .problem(400, "modification: 0...1000000")
        }
        let start = Date().addingTimeInterval(lead)
        vtn.setEvent(
            id: id, modification: Int(modification), start: start, seconds: Int(seconds), level: Int(level))
        return .json(200, ["id": id, "start": ISO8601.format(start), "seconds": Int(seconds), "level": Int(level)])
    case ("POST", "/admin/remove"):
        guard let id = r.query["id"] else { return .problem(400, "id missing") }
        vtn.removeEvent(id: id)
        return .json(200, ["id": id])
    case ("GET", "/admin/stats"):
        return .json(
            200,
            [
                "vens": vtn.venIDs.sorted(), "opt_ins": vtn.optIns, "update_reports": vtn.updateReports,
                "requests": vtn.requests.count, "polls": vtn.polls,
                "signatures_verified": vtn.signatures.verified,
                "signatures_refused": vtn.signatures.refused,
            ] as [String: Any])
    default:
        return .problem(404, "POST /admin/event, POST /admin/remove or GET /admin/stats")
    }
}

/// The TLS settings from the three flags (all or none), or the usage error.
func tlsSettings(_ cert: String?, _ key: String?, _ ca: String?) -> FakeVTN2b.TLSSettings? {
    switch (cert, key, ca) {
    case (nil, nil, nil): return nil
    case (let cert?, let key?, let ca?):
        guard FakeVTN2b.canSign else { fail("--tls-cert signs answers with the xmlsec1 CLI, which is not installed") }
        return .init(certificatePath: cert, keyPath: key, clientCAPath: ca)
    default: fail("--tls-cert, --tls-key and --client-ca go together")
    }
}

func fail(_ text: String) -> Never {
    FileHandle.standardError.write(Data("flexminer-fakevtn2b: \(text)\n".utf8))
    exit(2)
}

/// The saved state in `path`, if the file exists; an unreadable one is an error naming it (never ignored:
/// a drill restarting the VTN must get its VENs and events back).
func loadState(_ path: String) throws -> FakeVTN2b.Saved? {
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    return try JSONDecoder().decode(FakeVTN2b.Saved.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Writes `saved` to `path` (0600) through a temporary file and a rename, so a kill leaves the old or the new.
func writeState(_ saved: FakeVTN2b.Saved, _ path: String) {
    let tmp = path + ".tmp"
    guard let data = try? JSONEncoder().encode(saved),
        FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600])
    else {
        FileHandle.standardError.write(Data("flexminer-fakevtn2b: cannot write --state \(path)\n".utf8))
        return
    }
    _ = rename(tmp, path)
}

do {
    let tls = tlsSettings(tlsCert, tlsKey, clientCA)
    // With TLS, --port is the HTTPS one and the plain side behind it takes any free port.
    let vtn = try await FakeVTN2b.start(
        port: tls == nil ? port : 0, pollFrequency: pollFrequency, tls: tls, tlsPort: port)
    if tls != nil { vtn.setSigning(.sign) }
    if let statePath {
        do {
            if let saved = try loadState(statePath) { vtn.restore(saved) }
        } catch {
            fail("--state \(statePath): \(error)")
        }
    }
    let server = try await TinyHTTPServer.start(host: "127.0.0.1", port: adminPort, maxConnections: 16) { [vtn] in
        admin(vtn, $0)
    }
    // Unbuffered, so a script reading the first lines gets them at once.
    FileHandle.standardOutput.write(Data("\(vtn.baseURL)\nhttp://127.0.0.1:\(server.port)/admin\n".utf8))
    var written: FakeVTN2b.Saved?
    while true {
        if let statePath, case let now = vtn.saved, now != written {
            writeState(now, statePath)
            written = now
        }
        try await Task.sleep(for: statePath == nil ? .seconds(3600) : .milliseconds(100))
    }
} catch {
    FileHandle.standardError.write(Data("flexminer-fakevtn2b: \(error)\n".utf8))
    exit(1)
}
