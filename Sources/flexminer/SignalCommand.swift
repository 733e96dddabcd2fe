import ArgumentParser
import DemandResponse
import Foundation
import LoadController

struct SignalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signal",
        abstract: "Send one signal message to a running FlexMiner and print its reply.",
        discussion: """
            Examples:
              flexminer signal unix:/run/flexminer.sock '{"type":"curtail","level":1.0,"id":"evt-1"}'
              flexminer signal tcp:127.0.0.1:7781 '{"type":"status"}'
              flexminer signal file:/var/lib/flexminer/signals.jsonl '{"type":"price","usd_per_mwh":42.5}'
            Exit status 0 when the reply says "ok":true, 1 otherwise (2 when it could not be sent). For a file source
            the line is appended. To a miner with a shared token, give --token-file PATH: the token is read from
            the file (never a flag's value, never printed) and sent in the message's "token" field.
            A release without an id lifts only what the same connection set: give curtailments an id, or             release an id-less one by the "id" its reply carried (e.g. "unix:/run/flexminer.sock#3").
            """
    )

    @Argument(help: "Where to send: unix:PATH, tcp:HOST:PORT or file:PATH.")
    var source: String

    @Argument(help: "One JSON message of signal protocol v1.")
    var message: String

    @Option(help: "Seconds to wait for the reply.")
    var timeout: Double = 5

    @Option(
        help: ArgumentHelp(
            "File holding the shared token, sent in the message's \"token\" field (a tcp: source of a miner with a token needs it).",
            valueName: "path"))
    var tokenFile: String?

    func validate() throws {
        guard !message.contains("\n") else { throw ValidationError("the message must be a single line") }
        guard timeout.isFinite, timeout > 0, timeout <= 3600 else {
            throw ValidationError("--timeout must be a number of seconds in (0, 3600], got \(timeout)")
        }
    }

    func run() throws {
        let spec: SignalSourceSpec
        do { spec = try SignalSourceSpec(source) } catch { throw ValidationError(error.message) }
        do {
            if case .file = spec, tokenFile != nil {
                // A file's lines are trusted by its permissions, and the token would stay in it for anyone who
                // can read the file.
                throw SignalError("--token-file is for unix: and tcp: sources, not a file (its lines are kept)")
            }
            if case .file(let path) = spec {
                // A file source has no reply channel: check the line here so mistakes show at once.
                do { _ = try SignalMessage.parse(Array(message.utf8), now: Date()) } catch {
                    print(#"{"error":"\#(error.message.replacingOccurrences(of: "\"", with: "\\\""))","ok":false}"#)
                    throw ExitCode(1)
                }
                try SignalClient.append(message, toFile: path)
                print(#"{"appended":true,"ok":true}"#)
                return
            }
            var line = message
            if let tokenFile {
                let (token, warning) = try SignalClient.readToken(path: tokenFile)
                if let warning { CommandLog.bootstrap().warning("flexminer signal: \(warning)") }
                line = SignalClient.line(message, withToken: token)
            }
            let client = try SignalClient(spec, timeout: timeout)
            let reply = try client.request(line)
            print(reply)
            let ok = (try? JSONSerialization.jsonObject(with: Data(reply.utf8)) as? [String: Any])?["ok"] as? Bool
            if ok != true { throw ExitCode(1) }
        } catch let error as SignalError {
            CommandLog.bootstrap().error("flexminer signal: \(error.message)")
            throw ExitCode(2)
        }
    }
}
