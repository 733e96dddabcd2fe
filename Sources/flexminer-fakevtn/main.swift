import FakeVTN
import Foundation

// `flexminer-fakevtn [--port N] [--host H] [--no-auth] [--token-lifetime S] [--secret-file PATH]`: the
// project's fake OpenADR 3 VTN for drills. Prints its base URL on the first line of stdout, then serves
// until killed.
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
    case "--secret-file":
        let path = args.next() ?? ""
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            FileHandle.standardError.write(Data("flexminer-fakevtn: cannot read \(path)\n".utf8))
            exit(2)
        }
        options.clientSecret = text.trimmingCharacters(in: .whitespacesAndNewlines)
    default:
        FileHandle.standardError.write(
            Data(
                "usage: flexminer-fakevtn [--host H] [--port N] [--no-auth] [--client-id ID] [--secret-file PATH] [--token-lifetime S]\n"
                    .utf8))
        exit(2)
    }
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
