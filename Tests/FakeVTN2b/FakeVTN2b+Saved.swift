import Foundation

extension FakeVTN2b {
    /// What a real VTN keeps in its database across a restart: the VENs registered, the events published
    /// (and their version) and what it has received, so a drill can stop the fake and start it again.
    package struct Saved: Codable, Sendable, Equatable {
        package struct Event: Codable, Sendable, Equatable {
            package var id: String
            package var xml: String
        }
        package var nextVEN: Int
        package var vens: [String: String]
        package var events: [Event]
        package var version: Int
        package var optIns: [String]
        package var updateReports: Int
        package var verifiedSignatures: Int
        package var badSignatures: Int
    }

    /// The VTN's lasting state now.
    package var saved: Saved {
        state.withLock { s in
            Saved(
                nextVEN: s.nextVEN, vens: s.vens, events: s.events.map { Saved.Event(id: $0.id, xml: $0.xml) },
                version: s.version, optIns: s.optIns, updateReports: s.updateReports,
                verifiedSignatures: s.verifiedSignatures, badSignatures: s.badSignatures)
        }
    }

    /// Takes up `saved` (from an earlier run); every VEN gets the events again on its next poll, as the
    /// restarted VTN does not know what it had delivered.
    package func restore(_ saved: Saved) {
        state.withLock { s in
            s.nextVEN = max(1, saved.nextVEN)
            s.vens = saved.vens
            s.events = saved.events.map { ($0.id, $0.xml) }
            s.version = saved.version
            s.delivered = [:]
            s.optIns = saved.optIns
            s.updateReports = saved.updateReports
            s.verifiedSignatures = saved.verifiedSignatures
            s.badSignatures = saved.badSignatures
        }
    }
}
