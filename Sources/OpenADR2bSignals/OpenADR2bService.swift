import FlexSupport
import Foundation
import OpenADR2b
import ServiceLifecycle

/// The 2.0b source as one service of `flexminer run`: it runs from start to the graceful shutdown (the
/// registration stays with the VTN and in the state file; a restart resumes it).
package struct OpenADR2bService: Service {
    package let source: OpenADR2bSource

    package init(source: OpenADR2bSource) { self.source = source }

    package func run() async throws {
        let source = self.source
        await cancelWhenGracefulShutdown { await source.run() }
    }
}

extension OpenADR2bSource {
    /// What `/status` shows under `"openadr2b"` (snake_case, as OpenADR 3's object): registration, VEN id,
    /// last poll, events known, opt-ins, reports sent, errors, curtailments sent.
    package var statusJSON: [String: Any] {
        let s = status
        return [
            "registered": s.registered, "ven_id": s.venID ?? NSNull(), "registration_id": s.registrationID ?? NSNull(),
            "vtn_id": s.vtnID ?? NSNull(), "last_poll": s.lastPoll.map { ISO8601.format($0) } ?? NSNull(),
            "events_known": s.eventsKnown, "opted_in": s.optedIn, "reports_sent": s.reportsSent,
            "failures": s.failures, "error": s.lastError ?? NSNull(), "curtails_sent": curtailsSent,
        ]
    }
}
