import FlexSupport
import Foundation
import LoadController
import MiningKernels
import OpenADRSignals
import Operations
import Testing

@Suite("run: OpenADR 3 settings")
struct OpenADRSettingsTests {
    func resolve(_ flags: RunFlags, file json: String? = nil) throws -> RunSettings {
        let file = try json.map { try RunConfig(json: Data($0.utf8)) }
        return try RunSettings.resolve(flags, file: file, environment: [:], isTerminal: false) { _ in
            try! Kernel.named(.scalar)
        }
    }

    @Test func theSignalSourceIsAcceptedAndNamed() throws {
        let spec = try SignalSourceSpec("openadr3:https://vtn.example:8443/openadr3/3.0.1")
        #expect(spec == .openadr3(url: "https://vtn.example:8443/openadr3/3.0.1"))
        #expect(spec.description == "openadr3:https://vtn.example:8443/openadr3/3.0.1")
        #expect(throws: (any Error).self) { try SignalSourceSpec("openadr3:vtn.example") }
    }

    @Test func flagsOverTheFilesOpenADR3Block() throws {
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        var o = OpenADR3Config()
        o.poll = 5
        o.callback = "127.0.0.1:9201"
        flags.values.openADR3 = o
        let file = #"""
            {"signals": ["openadr3:http://127.0.0.1:8080/openadr3/3.0.1", "unix:/tmp/x.sock"],
             "openadr3": {"openadr_client_id": "site-7", "openadr_secret_file": "/etc/vtn.secret", "program": "dr",
                          "openadr_ven": "site-7", "openadr_poll": 30, "power_watts": 3250,
                          "simple_levels": {"1": 0.25}}}
            """#
        let s = try resolve(flags, file: file)
        let c = try #require(s.openADR)
        #expect(c.baseURL == "http://127.0.0.1:8080/openadr3/3.0.1")
        #expect(c.credentials?.clientID == "site-7")
        #expect(c.credentials?.secretFile == "/etc/vtn.secret")
        #expect(c.program == "dr")
        #expect(c.venName == "site-7")
        #expect(c.pollSeconds == 5)  // the flag wins
        #expect(c.callback == HostPort(host: "127.0.0.1", port: 9201))
        #expect(c.powerWatts == 3250)
        #expect(c.simpleLevels == [0: 0, 1: 0.25, 2: 1, 3: 1])
        #expect(s.specs.count == 2)
    }

    @Test func refusalsNameTheFlagOrKey() throws {
        var flags = RunFlags()
        flags.values.benchmarkWork = true
        var o = OpenADR3Config()
        o.program = "dr"
        flags.values.openADR3 = o
        #expect(throws: ConfigError.self) { try resolve(flags) }  // no openadr3: source
        flags.values.signals = ["openadr3:http://127.0.0.1:1/x"]
        o.clientID = "only-the-id"
        flags.values.openADR3 = o
        do {
            _ = try resolve(flags)
            Issue.record("a client id without a secret file was accepted")
        } catch { #expect("\(error)".contains("--openadr-secret-file")) }
        for (json, key) in [
            (#"{"openadr3": {"client_secret": "x"}}"#, "client_secret"),
            (#"{"openadr3": {"openadr_poll": 0}}"#, "openadr_poll"),
            (#"{"openadr3": {"simple_levels": {"7": 1}}}"#, "simple_levels.7"),
        ] {
            do {
                _ = try RunConfig(json: Data(json.utf8))
                Issue.record("accepted \(json)")
            } catch { #expect("\(error)".contains(key), "\(error)") }
        }
    }
}
