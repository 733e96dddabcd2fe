import FakeVTN2b
import FlexSupport
import Foundation
import OpenADR

// `flexminer-fakevtn2b [--port N] [--admin-port N] [--poll-frequency PT1S]`: the project's fake OpenADR 2.0b VTN
// (simple HTTP, pull) for drills and the README's walk-through. Prints the VTN's base URL on the first line of
// stdout and its admin URL on the second, then serves until killed. The admin endpoint (loopback only) is how
// a drill plays the utility:
//   POST ADMIN/event?id=ID&lead=SECONDS&seconds=SECONDS&level=0..3[&modification=N]  publish or replace an event
//   POST ADMIN/remove?id=ID                                                            cancel it (it disappears)
//   GET  ADMIN/stats   {"vens":[…],"opt_ins":[…],"update_reports":N,"requests":N}
var port = 0
var adminPort = 0
var pollFrequency = "PT1S"
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--port": port = number(args.next(), "--port", in: 0...65_535)
    case "--admin-port": adminPort = number(args.next(), "--admin-port", in: 0...65_535)
    case "--poll-frequency": pollFrequency = args.next() ?? pollFrequency
    default: usage()
    }
}

func usage() -> Never {
    FileHandle.standardError.write(
        Data("usage: flexminer-fakevtn2b [--port N] [--admin-port N] [--poll-frequency PT1S]\n".utf8))
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
                "requests": vtn.requests.count,
            ] as [String: Any])
    default:
        return .problem(404, "POST /admin/event, POST /admin/remove or GET /admin/stats")
    }
}

do {
    let vtn = try await FakeVTN2b.start(port: port, pollFrequency: pollFrequency)
    let server = try await TinyHTTPServer.start(host: "127.0.0.1", port: adminPort, maxConnections: 16) { [vtn] in
        admin(vtn, $0)
    }
    // Unbuffered, so a script reading the first lines gets them at once.
    FileHandle.standardOutput.write(Data("\(vtn.baseURL)\nhttp://127.0.0.1:\(server.port)/admin\n".utf8))
    while true { try await Task.sleep(for: .seconds(3600)) }
} catch {
    FileHandle.standardError.write(Data("flexminer-fakevtn2b: \(error)\n".utf8))
    exit(1)
}
