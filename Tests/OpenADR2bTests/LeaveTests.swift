import DemandResponse
import FakeVTN2b
import Foundation
import LoadController
import OpenADR2b
import OpenADR2bSignals
import TestSupport
import Testing

/// `flexminer openadr2b-leave`: the VEN cancels its own registration (issue 25), against the fake VTN.
@Suite("OpenADR 2.0b: leaving a program", .serialized)
struct LeaveTests {
    static func configuration(_ vtn: FakeVTN2b, statePath: String) -> OpenADR2bSource.Configuration {
        var c = OpenADR2bSource.Configuration(baseURL: vtn.baseURL, venName: "host-1")
        c.pollSeconds = 1
        c.statePath = statePath
        c.retryInitial = 0.2
        c.retryMax = 0.5
        return c
    }

    /// A state file as `run` keeps it, for a registration the VTN may or may not know.
    static func writeState(_ path: String, venID: String, registrationID: String) throws {
        let snapshot = VENMachine.Snapshot(
            venID: venID, registrationID: registrationID, vtnID: "VTN-1", pollSeconds: 1, events: [],
            responded: [:], reportRequests: [])
        try JSONEncoder().encode(snapshot).write(to: URL(fileURLWithPath: path))
    }

    @Test("after registering with run's source, leave cancels the registration and removes the state file")
    func leaves() async throws {
        let vtn = try await FakeVTN2b.start(pollFrequency: "PT1S")
        let path = scratchDirectory() + "/openadr2b.json"
        let c = Self.configuration(vtn, statePath: path)
        let controller = LoadController(actuator: FakeLoad(), config: PolicyConfig(breakEvenUSDPerMWh: 50))
        let source = OpenADR2bSource(configuration: c, controller: controller)
        let task = Task { await source.run() }
        #expect(
            await waitUntil(within: 10) { source.status.registered && FileManager.default.fileExists(atPath: path) })
        task.cancel()
        await task.value
        #expect(vtn.venIDs == ["ven-1"])

        let line = try await OpenADR2bSource.leave(c)
        #expect(line.contains("left the program") && line.contains("reg-ven-1") && line.contains(path))
        #expect(vtn.requests.last == "EiRegisterParty oadrCancelPartyRegistration")
        #expect(vtn.venIDs.isEmpty, "the VTN still has the VEN registered")
        #expect(!FileManager.default.fileExists(atPath: path), "the state file still holds the registration")
        await vtn.close()
    }

    @Test(
        "over mutual TLS with signatures: leave is signed, its answer's signature checked, the VEN dropped",
        .enabled(if: FakeVTN2b.canSign, "needs the xmlsec1 CLI: scripts/ensure-deps --with-test-tools"))
    func leavesOverTLS() async throws {
        let pki = try TestPKI.make()
        let vtn = try await TLSTests.vtn(pki)
        vtn.setSigning(.sign)
        let controller = LoadController(actuator: FakeLoad(), config: PolicyConfig(breakEvenUSDPerMWh: 50))
        let (source, task) = TLSTests.source(vtn, controller: controller) { c in
            c.certificatePath = pki.venCert
            c.privateKeyPath = pki.venKey
            c.caPath = pki.ca
            c.vtnFingerprint = try? pki.vtnFingerprint()
        }
        #expect(await waitUntil(within: 10) { source.status.registered }, "\(source.status.lastError ?? "")")
        task.cancel()
        await task.value
        let path = try #require(source.configuration.statePath)
        #expect(FileManager.default.fileExists(atPath: path))
        let verifiedBefore = vtn.signatures.verified

        let line = try await OpenADR2bSource.leave(source.configuration)
        #expect(line.contains("left the program at https://"))
        #expect(vtn.venIDs.isEmpty, "the VTN still has the VEN registered")
        #expect(!FileManager.default.fileExists(atPath: path))
        // xmlsec1 (the fake's own verifier) accepted the signed cancellation.
        #expect(vtn.signatures.verified == verifiedBefore + 1 && vtn.signatures.refused == 0, "\(vtn.signatures)")
        await vtn.close()
    }

    @Test("with no registration in the state file, leave fails naming the file and sends nothing")
    func noRegistration() async throws {
        let vtn = try await FakeVTN2b.start()
        let dir = scratchDirectory()
        let missing = dir + "/none.json"
        await #expect {
            try await OpenADR2bSource.leave(Self.configuration(vtn, statePath: missing))
        } throws: { error in
            let e = error as? OpenADR2bError
            return e?.kind == .state && e?.message.contains(missing) == true
        }
        let empty = dir + "/empty.json"
        try Self.writeState(empty, venID: "", registrationID: "")
        await #expect {
            try await OpenADR2bSource.leave(Self.configuration(vtn, statePath: empty))
        } throws: { error in
            let e = error as? OpenADR2bError
            return e?.kind == .state && e?.message.contains(empty) == true
                && e?.message.contains("no registration") == true
        }
        #expect(vtn.requests.isEmpty)
        await vtn.close()
    }

    @Test("a VTN answering an error code: leave fails naming the code and description, the state file is kept")
    func refused() async throws {
        let vtn = try await FakeVTN2b.start()
        let path = scratchDirectory() + "/openadr2b.json"
        // A registration the fake VTN never gave: it answers 452 Invalid ID.
        try Self.writeState(path, venID: "ven-7", registrationID: "reg-unknown")
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        await #expect {
            try await OpenADR2bSource.leave(Self.configuration(vtn, statePath: path))
        } throws: { error in
            let e = error as? OpenADR2bError
            return e?.kind == .refused && e?.message.contains("responseCode 452 (Invalid ID)") == true
                && e?.message.contains("reg-unknown") == true
        }
        #expect(vtn.requests == ["EiRegisterParty oadrCancelPartyRegistration"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        await vtn.close()
    }

    @Test("an answer naming another registration, or another message, is refused")
    func checksTheAnswer() throws {
        let other = VTNXML.canceledPartyRegistration(registrationID: "reg-2", venID: "ven-1")
        #expect {
            try VTNMessage.checkCanceled(Array(other.utf8), registrationID: "reg-1")
        } throws: { error in
            (error as? OpenADR2bError)?.message.contains("names registration reg-2, not reg-1") == true
        }
        #expect {
            try VTNMessage.checkCanceled(Array(VTNXML.response().utf8), registrationID: "reg-1")
        } throws: { error in
            (error as? OpenADR2bError)?.message.contains("with oadrResponse, not oadrCanceledPartyRegistration") == true
        }
        let ok = VTNXML.canceledPartyRegistration(registrationID: "reg-1", venID: "ven-1")
        try VTNMessage.checkCanceled(Array(ok.utf8), registrationID: "reg-1")
    }
}
