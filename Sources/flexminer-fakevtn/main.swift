import FakeVTN
import Foundation

// `flexminer-fakevtn [--port N] [--host H] [--no-auth] [--token-lifetime S] [--secret-file PATH]
// [--client ID=SECRET_FILE]... [--one-ven-per-client] [--version 3.0.1|3.1.0]`: the project's fake OpenADR 3
// VTN for drills, holding every request to the specification's OpenAPI document of the version its base
// path names (both are served). Prints the base URL of `--version` (default 3.1.0) on the first line of
// stdout, then serves until killed.
var options = FakeVTN.Options()
var host = "127.0.0.1"
var port = 0
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--port": port = Int(args.next() ?? "") ?? 0
    case "--host": host = args.next() ?? host
    case "--no-auth": options.clientID = nil
    case "--client-id": options.clientID = args.next()
    case "--token-lifetime": options.tokenLifetime = Double(args.next() ?? "")
    case "--secret-file": options.clientSecret = readSecret(args.next() ?? "")
    case "--client":
        // ID=SECRET_FILE: one more credential (one per VEN, as VTNs that bind a VEN to its client want).
        let spec = args.next() ?? ""
        let parts = spec.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty else { usage() }
        options.clients[parts[0]] = readSecret(parts[1])
    case "--one-ven-per-client": options.oneVENPerClient = true
    case "--version": options.basePath = "/openadr3/\(args.next() ?? "3.1.0")"
    default: usage()
    }
}

func usage() -> Never {
    FileHandle.standardError.write(
        Data(
            """
            usage: flexminer-fakevtn [--host H] [--port N] [--no-auth] [--client-id ID] [--secret-file PATH]
                   [--client ID=SECRET_FILE]... [--one-ven-per-client] [--version 3.0.1|3.1.0] [--token-lifetime S]

            """.utf8))
    exit(2)
}

func readSecret(_ path: String) -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        FileHandle.standardError.write(Data("flexminer-fakevtn: cannot read \(path)\n".utf8))
        exit(2)
    }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
}
do {
    let vtn = try await FakeVTN.start(host: host, port: port, options: options)
    // Unbuffered, so a script reading the first line gets it at once.
    FileHandle.standardOutput.write(Data((vtn.baseURL + "\n").utf8))
    while true { try await Task.sleep(for: .seconds(3600)) }
} catch {
    FileHandle.standardError.write(Data("flexminer-fakevtn: \(error)\n".utf8))
    exit(1)
}
