import FlexSupport
import Foundation
import LoadController
import MiningKernels
import OpenADR2b
import OpenADR2bSignals
import Operations
import Testing

/// `--signals openadr2b:URL` with its `--openadr-*` flags and the file's `"openadr2b"` block, as an operator
/// enrolling a host in a 2.0b program writes them; each refusal names the flag.
@Suite("run: OpenADR 2.0b settings")
struct OpenADR2bSettingsTests {
    static let vtn = "http://127.0.0.1:8080/OpenADR2/Simple/2.0b"

    @Test func theSignalSourceIsAcceptedAndNamed() throws {
        let spec = try SignalSourceSpec("openadr2b:\(Self.vtn)")
        #expect(spec.scheme == "openadr2b")
        #expect(spec.description == "openadr2b:\(Self.vtn)")
        #expect(spec.isLocal && !spec.isSocket)
        #expect(
            runSettingsRefusal { $0.signals = ["openadr2b:vtn.example/x"] }.contains("expected openadr2b:http[s]://"))
    }

    @Test func theSharedFlagsAndItsOwnMakeTheConfiguration() throws {
        let s = try resolveRunSettings {
            $0.signals = ["openadr2b:https://vtn.example/OpenADR2/Simple/2.0b/"]
            var shared = OpenADR3Config()
            (shared.ven, shared.poll, shared.state, shared.powerWatts) = ("site-7", 5, "/tmp/o2b.json", 3250)
            $0.openADR3 = shared
            var own = OpenADR2bConfig()
            (own.ven, own.poll, own.state) = ("site-7", 5, "/tmp/o2b.json")
            (own.vtnID, own.marketContext, own.vtnFingerprint) = ("VTN-1", "http://mc", "AB:CD:EF:01:23:45:67:89:AB:CD")
            (own.cert, own.key) = ("/etc/fm/ven.pem", "/etc/fm/ven.key")
            $0.openADR2b = own
            $0.powerWatts = 3250
        }
        #expect(s.openADR == nil)
        let c = try #require(s.openADR2b)
        #expect(c.baseURL == "https://vtn.example/OpenADR2/Simple/2.0b")
        #expect(c.venName == "site-7" && c.vtnID == "VTN-1" && c.marketContext == "http://mc")
        #expect(c.pollSeconds == 5 && c.statePath == "/tmp/o2b.json" && c.powerWatts == 3250)
        // The OpenADR Alliance's form (upper-case pairs joined by colons), whatever case the flag used.
        #expect(c.vtnFingerprint == "AB:CD:EF:01:23:45:67:89:AB:CD")
        #expect(c.certificatePath == "/etc/fm/ven.pem" && c.privateKeyPath == "/etc/fm/ven.key")
    }

    @Test func flagsOverTheFilesOpenADR2bBlock() throws {
        let file = #"""
            {"signals": ["openadr2b:https://vtn.example/OpenADR2/Simple/2.0b"],
             "openadr2b": {"openadr_ven": "site-9", "vtn_id": "file-vtn", "poll": 30, "cert": "/etc/fm/ven.pem",
                           "key": "/etc/fm/ven.key", "ca": "/etc/fm/ca.pem"}}
            """#
        let s = try resolveRunSettings(file: file) {
            var own = OpenADR2bConfig()
            own.vtnID = "flag-vtn"
            $0.openADR2b = own
        }
        let c = try #require(s.openADR2b)
        #expect(c.venName == "site-9" && c.vtnID == "flag-vtn" && c.pollSeconds == 30)
        #expect(c.certificatePath == "/etc/fm/ven.pem" && c.privateKeyPath == "/etc/fm/ven.key")
        #expect(c.caPath == "/etc/fm/ca.pem")
        #expect(c.statePath == "flexminer-openadr2b.json")
        #expect(runSettingsRefusal(file: #"{"openadr2b": {"poll": 0}}"#).contains(#""openadr2b.poll""#))
        #expect(runSettingsRefusal(file: #"{"openadr2b": {"secret_file": "x"}}"#).contains("secret_file"))
    }

    @Test func refusalsNameTheFlag() {
        func with(_ edit: @escaping (inout OpenADR2bConfig) -> Void, url: String = Self.vtn) -> String {
            runSettingsRefusal {
                $0.signals = ["openadr2b:\(url)"]
                var c = OpenADR2bConfig()
                c.ven = "site-7"
                edit(&c)
                $0.openADR2b = c
            }
        }
        #expect(with { $0.ven = nil }.contains("--openadr-ven"))
        #expect(with { $0.poll = 0.5 }.contains("--openadr-poll"))
        let https = "https://vtn.example/OpenADR2/Simple/2.0b"
        #expect(with({ $0.cert = "/c.pem" }, url: https) == "--openadr-cert and --openadr-key go together")
        #expect(with { $0.ca = "/ca.pem" }.hasPrefix("--openadr-ca: need an https:// VTN"))
        #expect(
            with({ _ in }, url: "https://vtn.example/x").contains("https needs --openadr-cert PEM and --openadr-key"))
        #expect(
            with({ ($0.cert, $0.key, $0.vtnFingerprint) = ("/c.pem", "/k.pem", "abcd") }, url: https).contains(
                "--openadr-vtn-fingerprint abcd"))
        #expect(with { _ in } == "accepted")
        // Its own flags without a 2.0b VTN.
        let alone = runSettingsRefusal {
            var c = OpenADR2bConfig()
            c.marketContext = "http://mc"
            $0.openADR2b = c
        }
        #expect(alone.hasPrefix("--openadr-market-context: give the VTN as --signals openadr2b:"))
        // Two VTNs at once, and one state file for both protocols.
        #expect(
            runSettingsRefusal { $0.signals = ["openadr2b:\(Self.vtn)", "openadr2b:http://127.0.0.1:9/x"] }
                == "--signals: one openadr2b: source at most")
        let shared = runSettingsRefusal {
            $0.signals = ["openadr2b:\(Self.vtn)", "openadr3:http://127.0.0.1:8081/openadr3/3.1.0"]
            var three = OpenADR3Config()
            (three.ven, three.state) = ("site-7", "/tmp/one.json")
            $0.openADR3 = three
            var two = OpenADR2bConfig()
            (two.ven, two.state) = ("site-7", "/tmp/one.json")
            $0.openADR2b = two
        }
        #expect(shared.contains("need state files of their own"))
    }

    /// `/metrics` carries the source's registration and running totals; a total counts up by the difference
    /// (never twice), as Prometheus' counters must.
    @Test func metricsFollowTheSourcesStatus() {
        let metrics = MinerMetrics()
        var status = VENMachine.Status()
        status.registered = true
        status.eventsKnown = 2
        status.reportsSent = 3
        status.failures = 1
        status.lastPoll = Date(timeIntervalSince1970: 1_800_000_000)
        metrics.openADR2b(status, curtailsSent: 1)
        status.reportsSent = 5
        metrics.openADR2b(status, curtailsSent: 1)
        let text = metrics.render()
        for line in [
            "flexminer_openadr2b_registered 1.0", "flexminer_openadr2b_events_known 2.0",
            "flexminer_openadr2b_reports_sent_total 5", "flexminer_openadr2b_failures_total 1",
            "flexminer_openadr2b_curtailments_sent_total 1",
            "flexminer_openadr2b_last_poll_timestamp_seconds 1800000000.0",
        ] {
            #expect(text.split(separator: "\n").contains { $0 == line }, "missing \(line) in\n\(text)")
        }
    }
}
