import ArgumentParser
import Foundation
import NodeRPC
import WorkSources

struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit the journal's pending solved blocks (those without a node verdict) to the node.",
        discussion: """
            Exits 1 when a block could not be submitted (it stays pending). A node that refuses the \
            connection or gives no verdict is retried for about 8 s (six attempts, 0.25 s doubling); the \
            blocks after it are then not tried, and every block still pending is listed.
            """
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
        let logger = CommandLog.bootstrap()
        let results: [(BlockJournal.Entry, BlockOutcome)]
        do {
            results = try await NodeWork.resubmit(journal: BlockJournal(path: journal), client: client) {
                logger.info("\($0)")
            }
        } catch {
            await client.shutdown()
            throw ValidationError(error.message)
        }
        await client.shutdown()
        for (entry, result) in results {
            if json {
                printJSON([
                    "hash": entry.hash, "height": entry.height, "result": result.description,
                    "pending": result.isPending,
                ])
            } else {
                print("block \(entry.height) \(entry.hash): \(result)")
            }
        }
        if results.isEmpty && !json { print("no pending blocks in \(journal)") }
        let pending = results.filter { $0.1.isPending }
        if !pending.isEmpty {
            if !json {
                print("\(pending.count) block(s) still pending in \(journal): submit again once the node answers")
                for (entry, _) in pending { print("  pending: block \(entry.height) \(entry.hash)") }
            }
            throw ExitCode(1)
        }
    }
}

extension BlockOutcome {
    /// Still without a node verdict: it stays in the journal for the next `submit`.
    fileprivate var isPending: Bool {
        if case .unsubmitted = self { true } else { false }
    }
}
