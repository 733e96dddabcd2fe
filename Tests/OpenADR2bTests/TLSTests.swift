import DemandResponse
import FakeVTN2b
import Foundation
import LoadController
import Mining
import MiningKernels
import OpenADR2bSignals
import TestSupport
import Testing

/// A throwaway PKI made by the openssl CLI at test time (nothing committed): a CA that signs the VTN's and
/// the VEN's certificates, and a second CA with a rogue VEN certificate the VTN must refuse.
struct TestPKI {
    let dir: String
    var ca: String { dir + "/ca.pem" }
    var vtnCert: String { dir + "/vtn.pem" }
    var vtnKey: String { dir + "/vtn.key" }
    var venCert: String { dir + "/ven.pem" }
    var venKey: String { dir + "/ven.key" }
    var rogueCert: String { dir + "/rogue.pem" }
    var rogueKey: String { dir + "/rogue.key" }

    static func make() throws -> TestPKI {
        let dir = scratchDirectory()
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
        let script = """
            set -e
            cd '\(dir)'
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > vtn.ext
            printf 'extendedKeyUsage=clientAuth\\n' > ven.ext
            openssl req -x509 \(ec) -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca 2>/dev/null
            openssl req -x509 \(ec) -keyout other.key -out other.pem -days 2 -subj /CN=other-ca 2>/dev/null
            for n in vtn ven rogue; do
              openssl req \(ec) -keyout $n.key -out $n.csr -subj /CN=$n 2>/dev/null
            done
            openssl x509 -req -in vtn.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out vtn.pem -days 2 \\
              -extfile vtn.ext 2>/dev/null
            openssl x509 -req -in ven.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out ven.pem -days 2 \\
              -extfile ven.ext 2>/dev/null
            openssl x509 -req -in rogue.csr -CA other.pem -CAkey other.key -CAcreateserial -out rogue.pem \\
              -days 2 -extfile ven.ext 2>/dev/null
            """
        try run("/bin/sh", ["-c", script])
        return TestPKI(dir: dir)
    }

    /// The VTN certificate's OpenADR fingerprint computed by openssl (independent of the module's code).
    func vtnFingerprint() throws -> String {
        let out = try Self.run(
            "/bin/sh", ["-c", "openssl x509 -in '\(vtnCert)' -outform der | openssl dgst -sha256 -hex"])
        let hex = out.split(separator: " ").last.map(String.init)?.trimmingCharacters(in: .whitespacesAndNewlines)
        let last = Array((hex ?? "").uppercased().suffix(20))
        return stride(from: 0, to: last.count, by: 2).map { String(last[$0..<$0 + 2]) }.joined(separator: ":")
    }

    @discardableResult
    static func run(_ tool: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
        return String(decoding: data, as: UTF8.self)
    }
}

@Suite("OpenADR 2.0b over mutual TLS", .serialized)
struct TLSTests {
    static func source(
        _ vtn: FakeVTN2b, controller: LoadController, _ edit: (inout OpenADR2bSource.Configuration) -> Void
    ) -> (OpenADR2bSource, Task<Void, Never>) {
        var c = OpenADR2bSource.Configuration(baseURL: vtn.baseURL, venName: "host-tls")
        c.pollSeconds = 1
        c.statePath = scratchDirectory() + "/openadr2b.json"
        c.retryInitial = 0.2
        c.retryMax = 0.5
        edit(&c)
        let source = OpenADR2bSource(
            configuration: c, controller: controller, reading: { .init(watts: 95, measured: false, online: true) })
        return (source, Task { await source.run() })
    }

    static func vtn(_ pki: TestPKI) async throws -> FakeVTN2b {
        try await FakeVTN2b.start(
            pollFrequency: "PT1S",
            tls: .init(certificatePath: pki.vtnCert, keyPath: pki.vtnKey, clientCAPath: pki.ca))
    }

    @Test(
        "client certificate, CA and fingerprint: registers, halts the engine on an event, sends reports",
        .enabled(if: FakeVTN2b.canSign, "needs the xmlsec1 CLI: scripts/ensure-deps --with-test-tools"))
    func mutualTLS() async throws {
        let pki = try TestPKI.make()
        let vtn = try await Self.vtn(pki)
        #expect(vtn.baseURL.hasPrefix("https://"))
        let engine = try MiningEngine(kernel: try Kernel.named(.scalar), threads: 1)
        engine.setJob(.unsolvable(seed: 7))
        defer { engine.stop() }
        let controller = LoadController(actuator: engine, config: PolicyConfig(breakEvenUSDPerMWh: 50))
        controller.start()
        let fingerprint = try pki.vtnFingerprint()
        vtn.setSigning(.sign)
        let (source, task) = Self.source(vtn, controller: controller) { c in
            c.certificatePath = pki.venCert
            c.privateKeyPath = pki.venKey
            c.caPath = pki.ca
            c.vtnFingerprint = fingerprint.lowercased()
        }
        #expect(await waitUntil(within: 10) { source.status.registered }, "\(source.status.lastError ?? "")")
        vtn.setEvent(id: "T1", start: Date().addingTimeInterval(1), seconds: 2)
        #expect(await waitUntil(within: 10, every: .milliseconds(10), tick: controller.tick) { engine.isHalted })
        #expect(await waitUntil(within: 10) { vtn.updateReports > 0 })
        #expect(vtn.optIns == ["T1:0:optIn"])
        // Every request was signed, and xmlsec1 (the fake's own verifier) accepted each signature.
        let signatures = vtn.signatures
        #expect(signatures.verified >= 6 && signatures.refused == 0, "\(signatures)")
        #expect(source.status.lastError == nil, "\(source.status.lastError ?? "")")
        task.cancel()
        await task.value
        await vtn.close()
    }

    @Test(
        "the VTN restarts mid-event: the curtailment is kept and the VEN polls it again at once, not after the longest backoff",
        .enabled(if: FakeVTN2b.canSign, "needs the xmlsec1 CLI: scripts/ensure-deps --with-test-tools"))
    func vtnRestart() async throws {
        let pki = try TestPKI.make()
        let vtn = try await Self.vtn(pki)
        vtn.setSigning(.sign)
        let controller = LoadController(actuator: FakeLoad(), config: PolicyConfig(breakEvenUSDPerMWh: 50))
        controller.start()
        let (source, task) = Self.source(vtn, controller: controller) { c in
            c.certificatePath = pki.venCert
            c.privateKeyPath = pki.venKey
            c.caPath = pki.ca
            c.retryMax = 60  // a connection refused taken for a refusal would wait this long
        }
        #expect(await waitUntil(within: 10) { source.status.registered }, "\(source.status.lastError ?? "")")
        vtn.setEvent(id: "R1", start: Date().addingTimeInterval(-1), seconds: 60)
        #expect(await waitUntil(within: 10, tick: controller.tick) { controller.status.halted })
        let saved = vtn.saved
        let port = URL(string: vtn.baseURL)?.port ?? 0
        await vtn.close()
        let failures = source.status.failures
        #expect(await waitUntil(within: 10) { source.status.failures > failures })
        let restarted = try await FakeVTN2b.start(
            pollFrequency: "PT1S",
            tls: .init(certificatePath: pki.vtnCert, keyPath: pki.vtnKey, clientCAPath: pki.ca), tlsPort: port)
        restarted.restore(saved)
        restarted.setSigning(.sign)
        #expect(await waitUntil(within: 10) { restarted.requests.contains("OadrPoll oadrPoll") })
        #expect(controller.status.halted, "the curtailment is kept through the VTN's restart")
        #expect(!restarted.requests.contains("EiRegisterParty oadrCreatePartyRegistration"))
        task.cancel()
        await task.value
        await restarted.close()
    }

    @Test("a client certificate from another CA is refused by the VTN; the status error names the certificate")
    func wrongClientCertificate() async throws {
        let pki = try TestPKI.make()
        let vtn = try await Self.vtn(pki)
        let controller = LoadController(actuator: FakeLoad(), config: PolicyConfig(breakEvenUSDPerMWh: 50))
        let (source, task) = Self.source(vtn, controller: controller) { c in
            c.certificatePath = pki.rogueCert
            c.privateKeyPath = pki.rogueKey
            c.caPath = pki.ca
        }
        #expect(await waitUntil(within: 10) { source.status.lastError?.contains(pki.rogueCert) == true })
        #expect(!source.status.registered && vtn.requests.isEmpty)
        task.cancel()
        await task.value
        await vtn.close()
    }

    @Test("a VTN whose certificate has another fingerprint is refused before any request")
    func fingerprintMismatch() async throws {
        let pki = try TestPKI.make()
        let vtn = try await Self.vtn(pki)
        let controller = LoadController(actuator: FakeLoad(), config: PolicyConfig(breakEvenUSDPerMWh: 50))
        let wrong = "00:11:22:33:44:55:66:77:88:99"
        let (source, task) = Self.source(vtn, controller: controller) { c in
            c.certificatePath = pki.venCert
            c.privateKeyPath = pki.venKey
            c.caPath = pki.ca
            c.vtnFingerprint = wrong
        }
        let real = try pki.vtnFingerprint()
        #expect(
            await waitUntil(within: 10) {
                let e = source.status.lastError ?? ""
                return e.contains(wrong) && e.contains(real)
            }, "\(source.status.lastError ?? "")")
        #expect(!source.status.registered && vtn.requests.isEmpty)
        task.cancel()
        await task.value
        await vtn.close()
    }

    @Test("unreadable or mismatched PEM files are a status error naming the file, never a trap or the key")
    func badFiles() async throws {
        let pki = try TestPKI.make()
        let vtn = try await Self.vtn(pki)
        let controller = LoadController(actuator: FakeLoad(), config: PolicyConfig(breakEvenUSDPerMWh: 50))
        let key = try String(contentsOfFile: pki.venKey, encoding: .utf8)
        let missing = pki.dir + "/missing.key"
        let cases: [(String, (inout OpenADR2bSource.Configuration) -> Void)] = [
            (
                missing,
                {
                    $0.certificatePath = pki.venCert; $0.privateKeyPath = missing
                }
            ),
            (
                pki.rogueKey,
                {
                    $0.certificatePath = pki.venCert; $0.privateKeyPath = pki.rogueKey
                }
            ),
            (pki.dir + "/none.pem", { $0.caPath = pki.dir + "/none.pem" }),
            ("not-hex", { $0.vtnFingerprint = "not-hex" }),
        ]
        for (named, edit) in cases {
            let (source, task) = Self.source(vtn, controller: controller, edit)
            #expect(await waitUntil(within: 5) { source.status.lastError?.contains(named) == true }, "\(named)")
            let error = source.status.lastError ?? ""
            #expect(!error.contains("PRIVATE KEY") && !error.contains(String(key.dropFirst(40).prefix(20))))
            task.cancel()
            await task.value
        }
        #expect(vtn.requests.isEmpty)
        await vtn.close()
    }

    @Test(
        "with signatures on, a tampered, unsigned or otherwise-signed answer from the VTN is refused, named",
        .enabled(if: FakeVTN2b.canSign, "needs the xmlsec1 CLI: scripts/ensure-deps --with-test-tools"),
        arguments: ["tamper", "unsigned", "other key", "stale", "replay"])
    func badVTNSignature(kind: String) async throws {
        let pki = try TestPKI.make()
        let vtn = try await Self.vtn(pki)
        let (mode, named): (FakeVTN2b.Signing, String) =
            switch kind {
            case "tamper": (.tamper, "does not verify")
            case "unsigned": (.none, "not signed")
            case "stale": (.stale, "outside the 300 s replay window")
            case "replay": (.replay, "a replay")
            default: (.otherKey(key: pki.rogueKey, cert: pki.rogueCert), "not its TLS certificate")
            }
        vtn.setSigning(mode)
        let controller = LoadController(actuator: FakeLoad(), config: PolicyConfig(breakEvenUSDPerMWh: 50))
        let (source, task) = Self.source(vtn, controller: controller) { c in
            c.certificatePath = pki.venCert
            c.privateKeyPath = pki.venKey
            c.caPath = pki.ca
        }
        #expect(
            await waitUntil(within: 10) { source.status.lastError?.contains(named) == true },
            "\(source.status.lastError ?? "")")
        #expect(!source.status.registered)
        task.cancel()
        await task.value
        await vtn.close()
    }

    @Test("the fingerprint is the last 10 bytes of the certificate's SHA-256, as openssl computes it")
    func fingerprintFormat() throws {
        let pki = try TestPKI.make()
        let der = try TestPKI.run("/bin/sh", ["-c", "openssl x509 -in '\(pki.vtnCert)' -outform der | base64 -w0"])
        let bytes = [UInt8](Data(base64Encoded: der.trimmingCharacters(in: .whitespacesAndNewlines)) ?? Data())
        #expect(OADRFingerprint.of(der: bytes) == (try pki.vtnFingerprint()))
        #expect(OADRFingerprint.normalized(" aabbccddeeff00112233 ") == "AA:BB:CC:DD:EE:FF:00:11:22:33")
        #expect(OADRFingerprint.normalized("AA:BB") == nil)
        #expect(OADRFingerprint.normalized("zz:bb:cc:dd:ee:ff:00:11:22:33") == nil)
    }
}
