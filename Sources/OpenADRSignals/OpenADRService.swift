import LoadController
import ServiceLifecycle

/// `--signals openadr3:URL` as one service of `flexminer run`: the source runs from start to the
/// graceful shutdown, then removes its subscription and saves its state.
public struct OpenADRService: Service {
    public let source: OpenADRSource

    public init(source: OpenADRSource) { self.source = source }

    public func run() async throws {
        let source = self.source
        await cancelWhenGracefulShutdown { await source.run() }
    }
}
