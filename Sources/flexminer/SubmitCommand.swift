import ArgumentParser
import Foundation
import NodeRPC

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit the journal's pending solved blocks (those without a node verdict) to the node.",
        discussion: "Exits 1 when a block could not be submitted (it stays pending)."
    )

    @Option(help: "The journal written by `mine --rpc`.")
    var journal: String

    @OptionGroup var node: NodeOptions

    @Flag(help: "One JSON line per block.")
    var json = false

    func validate() throws {
        guard node.rpc != nil else { throw ValidationError("--rpc URL is required") }
        _ = try node.credentials()
    }

    func run() async throws {
        let client = try node.client()
        let results: [(BlockJournal.Entry, String)]
        do {
            results = try await NodeMiner.resubmit(journal: BlockJournal(path: journal), client: client) {
                FileHandle.standardError.write(Data("flexminer: \($0)\n".utf8))
            }
        } catch {
            await client.shutdown()
            throw ValidationError(error.message)
        }
        await client.shutdown()
        for (entry, result) in results {
            if json {
                printJSON(["hash": entry.hash, "height": entry.height, "result": result])
            } else {
                print("block \(entry.height) \(entry.hash): \(result)")
            }
        }
        if results.isEmpty && !json { print("no pending blocks in \(journal)") }
        if results.contains(where: { $0.1.hasPrefix("unsubmitted") }) { throw ExitCode(1) }
    }
}
