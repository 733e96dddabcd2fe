import ArgumentParser

@main
struct FlexMiner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flexminer",
        abstract: "A Bitcoin SHA-256d miner that behaves as a flexible grid load.",
        version: "0.1.0",
        subcommands: [
            BenchCommand.self, SelftestCommand.self, MineCommand.self, SubmitCommand.self, RunCommand.self,
            SignalCommand.self, SimulateCommand.self, DemoCommand.self,
        ]
    )
}
