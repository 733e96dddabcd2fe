import AsyncHTTPClient
import FakeVTN
import FlexSupport
import Foundation
import NIOCore
import OpenADR
import OpenADRSignals
import TestSupport
import Testing

/// A raw request to the fake VTN (no FlexMiner code involved): status and body text.
func raw(_ method: String, _ url: String, json: String? = nil) async throws -> (status: Int, body: String) {
    var request = HTTPClientRequest(url: url)
    request.method = .init(rawValue: method)
    if let json {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: json))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
}

/// The oracle first: the fake VTN refuses what the specification's OpenAPI documents refuse, with a
/// problem naming the parameter or field, as a conformant server does.
@Suite("The fake VTN holds requests to the OpenADR 3 specification")
struct FakeVTNConformanceTests {
    @Test func requestsOutsideTheDocumentAreRefusedNamingTheField() async throws {
        var o = FakeVTN.Options()
        o.clientID = nil
        let vtn = try await FakeVTN.start(options: o)
        defer { Task { await vtn.close() } }
        let root = "http://127.0.0.1:\(vtn.port)/openadr3"
        for version in ["3.0.1", "3.1.0"] {
            let tooMany = try await raw("GET", "\(root)/\(version)/programs?skip=0&limit=200")
            #expect(tooMany.status == 400)
            #expect(tooMany.body.contains("limit") && tooMany.body.contains("maximum 50"), "\(tooMany.body)")
            #expect(try await raw("GET", "\(root)/\(version)/programs?skip=0&limit=50").status == 200)
            #expect(try await raw("GET", "\(root)/\(version)/events?colour=red").status == 400)
            #expect(try await raw("GET", "\(root)/\(version)/events?skip=-1").status == 400)
            // The 3.0.0 words for operations.
            let old = try await raw(
                "POST", "\(root)/\(version)/subscriptions",
                json: #"{"clientName":"v","programID":"program-1","objectOperations":[{"objects":["EVENT"],"#
                    + #""operations":["POST","PUT","DELETE"],"callbackUrl":"http://127.0.0.1:9/cb"}]}"#)
            #expect(old.status == 400)
            #expect(old.body.contains("objectOperations[0].operations[0]"), "\(old.body)")
            let now = try await raw(
                "POST", "\(root)/\(version)/subscriptions",
                json: #"{"clientName":"v","programID":"program-1","objectOperations":[{"objects":["EVENT"],"#
                    + #""operations":["CREATE","UPDATE","DELETE"],"callbackUrl":"http://127.0.0.1:9/cb"}]}"#)
            #expect(now.status == 201, "\(now.body)")
            #expect(try await raw("PATCH", "\(root)/\(version)/programs").status == 405)
            #expect(try await raw("GET", "\(root)/\(version)/no-such-thing").status == 404)
        }
        // 3.0.1: a subscription names its program, and there is no /auth/server.
        let noProgram = try await raw(
            "POST", "\(root)/3.0.1/subscriptions",
            json: #"{"clientName":"v","objectOperations":[{"objects":["EVENT"],"operations":["CREATE"],"#
                + #""callbackUrl":"http://127.0.0.1:9/cb"}]}"#)
        #expect(noProgram.status == 400 && noProgram.body.contains("programID"), "\(noProgram.body)")
        #expect(try await raw("GET", "\(root)/3.0.1/auth/server").status == 404)
        // 3.1.0: a VEN registers with a VEN_VEN_REQUEST; a name is at most 128 characters.
        #expect(try await raw("POST", "\(root)/3.1.0/vens", json: #"{"venName":"a"}"#).status == 400)
        let long = String(repeating: "v", count: 129)
        let tooLong = try await raw(
            "POST", "\(root)/3.1.0/vens", json: #"{"objectType":"VEN_VEN_REQUEST","venName":"\#(long)"}"#)
        #expect(tooLong.status == 400 && tooLong.body.contains("longer than 128"), "\(tooLong.body)")
        #expect(vtn.responseViolations.isEmpty, "\(vtn.responseViolations)")
    }
}

/// Bad requests and what the fake must name in its refusal (3.1.0 unless said): a table, so that each
/// check the generated tables carry is seen to fail when it should.
let badRequests: [(method: String, path: String, body: String?, names: String)] = [
    ("GET", "/events?limit=51", nil, "query parameter \"limit\": 51 is above the maximum 50"),
    ("GET", "/vens?limit=x", nil, "query parameter \"limit\" must be an integer"),
    ("GET", "/events?programID=has%20space", nil, "does not match"),
    ("POST", "/reports", #"{"eventID":"e-1","clientName":"v"}"#, "body.resources is required"),
    (
        "POST", "/reports", #"{"eventID":"e-1","clientName":"v","resources":[{"resourceName":"r"}]}"#,
        "body.resources[0].intervals is required"
    ),
    (
        "POST", "/reports",
        #"{"eventID":"e-1","clientName":"v","resources":[],"payloadDescriptors":[{"payloadType":"USAGE"}]}"#,
        "body.payloadDescriptors[0].objectType is required"
    ),
    (
        "POST", "/subscriptions",
        #"{"clientName":"v","objectOperations":[{"objects":["EVNT"],"operations":["CREATE"],"callbackUrl":"http://h/c"}]}"#,
        "objectOperations[0].objects[0]"
    ),
    (
        "POST", "/subscriptions",
        #"{"clientName":"v","objectOperations":[{"objects":["EVENT"],"operations":["CREATE"],"callbackUrl":"not a uri"}]}"#,
        "callbackUrl"
    ),
    (
        "POST", "/events", #"{"programID":"p","intervalPeriod":{"start":"tomorrow"},"intervals":[]}"#,
        "body.intervalPeriod.start"
    ),
    (
        "POST", "/events", #"{"programID":"p","intervals":[{"id":1.5,"payloads":[]}]}"#,
        "body.intervals[0].id must be an integer"
    ),
    ("POST", "/vens", #"{"objectType":"VEN_VEN_REQUEST"}"#, "body.venName is required"),
    ("POST", "/vens", "not json", "not JSON"),
]

@Suite("The fake VTN names what it refuses")
struct FakeVTNRefusalTableTests {
    @Test(arguments: badRequests.indices)
    func refused(_ i: Int) async throws {
        let bad = badRequests[i]
        var o = FakeVTN.Options()
        o.clientID = nil
        let vtn = try await FakeVTN.start(options: o)
        defer { Task { await vtn.close() } }
        let reply = try await raw(bad.method, "http://127.0.0.1:\(vtn.port)/openadr3/3.1.0\(bad.path)", json: bad.body)
        #expect(reply.status == 400, "\(bad.path): \(reply.body)")
        let detail = (decode(reply.body)["detail"] as? String) ?? ""
        #expect(detail.contains(bad.names), "\(bad.path): \(detail)")
    }
}

/// Three hosts, each with its own credential, on a VTN that holds every request to the 3.1.0 document.
func fleet(_ vtn: FakeVTN, callback: Bool, names: [String]) async throws -> [Rig] {
    var rigs: [Rig] = []
    for name in names {
        rigs.append(
            try await makeRig(vtn: vtn, poll: 15, callback: callback) { c in
                let file = scratchDirectory() + "/secret"
                try? "secret-of-\(name)".write(toFile: file, atomically: true, encoding: .utf8)
                c.credentials = OpenADRCredentials(clientID: "client-\(name)", secretFile: file)
                c.venName = name
            })
    }
    return rigs
}

@Suite("OpenADR 3 enrols on a VTN that implements the specification", .serialized)
struct SpecificationVTNTests {
    func options(_ names: [String]) -> FakeVTN.Options {
        var o = FakeVTN.Options()
        for n in names { o.clients["client-\(n)"] = "secret-of-\(n)" }
        o.oneVENPerClient = true
        return o
    }

    @Test(arguments: [true, false])
    func threeHostsWithTheirOwnCredentialsHaltWithinASecondOfTheStart(callback: Bool) async throws {
        let names = ["host-a", "host-b", "host-c"]
        let vtn = try await FakeVTN.start(options: options(names))
        defer { Task { await vtn.close() } }
        let rigs = try await fleet(vtn, callback: callback, names: names)
        #expect(
            await waitUntil(within: 20, every: .milliseconds(20)) {
                rigs.allSatisfy { $0.source.counters.polls >= 1 } && (!callback || vtn.subscriptionCount == 3)
            })
        for rig in rigs {
            let status = rig.source.status
            #expect(status.mode == (callback ? "webhook" : "poll"))
            #expect(status.version == "3.1.0" && status.state == "enrolled" && status.error == nil)
            #expect(callback || status.pollSeconds <= 2)
        }
        #expect(vtn.venNames.sorted() == names)
        // Each subscription in the 3.1.0 words, made with its host's own credential.
        let subscriptions = vtn.subscriptionsJSON.map(decode)
        #expect(Set(subscriptions.compactMap { $0["clientID"] as? String }).count == (callback ? 3 : 0))
        for s in subscriptions {
            let ops = (s["objectOperations"] as? [[String: Any]])?.first?["operations"] as? [String]
            #expect(ops == ["CREATE", "UPDATE", "DELETE"])
        }
        // Published 5 s before its start.
        let start = Date().addingTimeInterval(5)
        vtn.createEvent(simpleEvent([3, 0], start: 5, duration: 2))
        var halted: [Int: Date] = [:]
        let deadline = Date().addingTimeInterval(10)
        while halted.count < rigs.count && Date() < deadline {
            for (i, rig) in rigs.enumerated() where halted[i] == nil && rig.load.isHalted { halted[i] = Date() }
            try await Task.sleep(for: .milliseconds(5))
        }
        for i in rigs.indices {
            let late = try #require(halted[i]).timeIntervalSince(start)
            #expect(late > -0.05 && late < 1, "host \(names[i]) halted \(late) s after the start")
        }
        #expect(vtn.rejections.isEmpty, "\(vtn.rejections)")
        #expect(vtn.responseViolations.isEmpty, "\(vtn.responseViolations)")
        for rig in rigs { await rig.stop() }
        #expect(vtn.subscriptionCount == 0)
    }

    @Test func aVTNOf301IsEnrolledOnInItsOwnWords() async throws {
        let vtn = try await FakeVTN.start()
        defer { Task { await vtn.close() } }
        let rig = try await makeRig(vtn: vtn, poll: 15, callback: true) { c in
            c.baseURL = "http://127.0.0.1:\(vtn.port)/openadr3/3.0.1"
        }
        #expect(
            await waitUntil(within: 10, every: .milliseconds(20)) {
                vtn.subscriptionCount == 1 && rig.source.counters.polls >= 1
            })
        #expect(rig.source.status.version == "3.0.1" && rig.source.status.mode == "webhook")
        let id = vtn.createEvent(simpleEvent([3], start: 0, duration: 20))
        #expect(await waitUntil(within: 5, every: .milliseconds(20), tick: rig.controller.tick) { rig.load.isHalted })
        #expect(await waitUntil(within: 5, every: .milliseconds(20)) { rig.curtailIDs == ["openadr:\(id):0"] })
        #expect(rig.source.counters.notifications >= 1)
        // The one refusal: 3.0.1 has no /auth/server, so the token URL is its `auth/token`.
        #expect(vtn.rejections.allSatisfy { $0.contains("/auth/server") }, "\(vtn.rejections)")
        #expect(vtn.responseViolations.isEmpty, "\(vtn.responseViolations)")
        await rig.stop()
    }

    @Test func aRefusedSubscriptionFallsBackToFastPollingAndSaysSo() async throws {
        // 3.0.1 requires a subscription's program; without --openadr-program the VEN cannot subscribe there.
        let vtn = try await FakeVTN.start()
        defer { Task { await vtn.close() } }
        let rig = try await makeRig(vtn: vtn, poll: 15, callback: true) { c in
            c.baseURL = "http://127.0.0.1:\(vtn.port)/openadr3/3.0.1"
            c.program = nil
        }
        #expect(
            await waitUntil(within: 10, every: .milliseconds(20)) {
                rig.source.status.subscriptionError != nil && rig.source.counters.polls >= 1
            })
        let status = rig.source.status
        #expect(status.mode == "poll" && status.pollSeconds <= 2)
        #expect(status.subscriptionError?.contains("--openadr-program") == true)
        #expect(rig.notes.all.contains { $0.hasPrefix("ERROR ") && $0.contains("no subscription") })
        let start = Date().addingTimeInterval(4)
        vtn.createEvent(simpleEvent([3], start: 4, duration: 10))
        #expect(await waitUntil(within: 8, every: .milliseconds(20)) { rig.load.isHalted })
        let late = Date().timeIntervalSince(start)
        #expect(late > -0.05 && late < 1, "halted \(late) s after the start")
        await rig.stop()
    }

    @Test func aBasePathThatNamesNoVersionIsNegotiated() async throws {
        var o = FakeVTN.Options()
        o.basePath = "/vtn"
        o.basePathVersion = "3.0.1"
        let rig = try await makeRig(options: o, poll: 15, callback: true)
        defer { Task { await rig.vtn.close() } }
        #expect(
            await waitUntil(within: 10, every: .milliseconds(20)) {
                rig.vtn.subscriptionCount == 1 && rig.source.counters.polls >= 1
            })
        // The 3.1.0 VEN request is refused (400), the 3.0.1 one accepted and kept for what follows.
        #expect(rig.source.status.version == "3.0.1" && rig.source.status.mode == "webhook")
        #expect(rig.vtn.rejections.filter { $0.contains("POST /vens") }.count == 1, "\(rig.vtn.rejections)")
        #expect(rig.vtn.rejections.allSatisfy { $0.contains("POST /vens") || $0.contains("/auth/server") })
        #expect(rig.vtn.responseViolations.isEmpty, "\(rig.vtn.responseViolations)")
        await rig.stop()
    }

    @Test func aSecondVENOnOneCredentialStopsWithWhatToChange_andAKnownNameIsAdopted() async throws {
        var o = FakeVTN.Options()
        o.oneVENPerClient = true
        let first = try await makeRig(options: o, poll: 1) { $0.venName = "site-1" }
        defer { Task { await first.vtn.close() } }
        #expect(await waitUntil(within: 10, every: .milliseconds(20)) { first.source.counters.polls >= 1 })
        let firstVEN = first.source.status.venID
        // Another host with the same credential and a name of its own: 409.
        let second = try await makeRig(vtn: first.vtn, poll: 1) { $0.venName = "site-2" }
        #expect(await waitUntil(within: 10, every: .milliseconds(20)) { second.source.status.state == "stopped" })
        let status = second.source.status
        #expect(status.errorCategory == "configuration")
        let error = status.error ?? ""
        #expect(error.contains("409") && error.contains("site-1") && error.contains("--openadr-ven"), "\(error)")
        #expect(second.notes.all.contains { $0.hasPrefix("ERROR ") && $0.contains("409") })
        let requests = first.vtn.stats["POST /vens"] ?? 0
        try await Task.sleep(for: .seconds(1.5))
        #expect(first.vtn.stats["POST /vens"] == requests)  // stopped: no silent retries
        await second.stop()
        await first.stop()
        // A VTN whose name filter finds nothing: the POST gets 409, and this client's record by that name
        // is adopted rather than refused.
        first.vtn.misbehave(hideVENsByName: true)
        let again = try await makeRig(vtn: first.vtn, poll: 1) { $0.venName = "site-1" }
        #expect(await waitUntil(within: 10, every: .milliseconds(20)) { again.source.counters.polls >= 1 })
        #expect(again.source.status.venID == firstVEN && again.source.status.error == nil)
        #expect(first.vtn.venNames == ["site-1"])
        await again.stop()
    }

    @Test func aRefusedRequestIsShownInStatusAndLoggedAsAnError() async throws {
        // venName is at most 128 characters in the specification: the VTN answers 400.
        let rig = try await makeRig(poll: 1) { $0.venName = String(repeating: "v", count: 200) }
        defer { Task { await rig.vtn.close() } }
        #expect(await waitUntil(within: 10, every: .milliseconds(20)) { rig.source.status.error != nil })
        let status = rig.source.status
        #expect(status.errorCategory == "conformance")
        #expect(status.error?.contains("/vens: HTTP 400") == true, "\(status.error ?? "")")
        #expect(status.error?.contains("venName") == true)
        #expect(rig.notes.all.contains { $0.hasPrefix("ERROR ") && $0.contains("/vens: HTTP 400") })
        #expect(rig.source.counters.polls == 0)
        await rig.stop()
    }
}
