import LoadController
import ServiceLifecycle

/// `--signals openadr3:URL` as one service of `flexminer run`: the source runs from start to the
/// graceful shutdown, then removes its subscription and saves its state.
package struct OpenADRService: Service {
    package let source: OpenADRSource

    package init(source: OpenADRSource) { self.source = source }

    package func run() async throws {
        let source = self.source
        await cancelWhenGracefulShutdown { await source.run() }
    }
}
