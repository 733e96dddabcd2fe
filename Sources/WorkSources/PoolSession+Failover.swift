import FlexSupport
import Logging
import Stratum

extension PoolSession {
    /// The next connection opens to `url` (the resume offer is the session id that pool gave last).
    mutating func connecting() -> [Action] {
        guard !done else { return [.endLoop] }
        url = nextURL
        hasConnection = true
        gotJob = false
        status.url = url.description
        return [
            .log(.info, "pool \(url): connecting as \(options.user)"), .open(url, resumeSessionID: sessionIDs[url]?.id),
        ]
    }

    /// The connection ended. Where to next: where a `client.reconnect` pointed (after its wait); the
    /// primary when a probe found it back; else the next pool in the list, after a backoff that grows
    /// with the failures in a row (a connection that got a job counts as the first failure again).
    mutating func disconnected(reason: String?, cancelled: Bool) -> [Action] {
        var actions: [Action] = reason.map { [.log(.warning, "pool \(url): \($0)")] } ?? []
        hasConnection = false
        status.connected = false
        let (redirect, back, productive) = (self.redirect, backToPrimary, gotJob)
        self.redirect = nil
        backToPrimary = false
        if done || cancelled { return actions + [.endLoop] }
        if let redirect {
            nextURL = redirect.url
            return actions + [.reconnect(after: Duration.checked(seconds: redirect.wait))]
        }
        if back {
            actions.append(.log(.info, "pool \(options.pools[0]): the primary is back; switching to it"))
            index = 0
            failures = 0
            nextURL = options.pools[0]
            status.failovers += 1
            return actions + [.reconnect(after: nil)]
        }
        failures = productive ? 1 : failures + 1
        let next = (index + 1) % options.pools.count
        if next != index {
            status.failovers += 1
            actions.append(.log(.warning, "pool \(options.pools[index]) failed; trying \(options.pools[next])"))
        }
        index = next
        nextURL = options.pools[index]
        return actions + [.reconnect(after: backoff(failures))]
    }

    /// `backoffStart` doubling to `backoffMax`, with ±25 % jitter so that many miners do not reconnect
    /// in step.
    mutating func backoff(_ failures: Int) -> Duration {
        var backoff = Backoff(start: options.backoffStart, max: options.backoffMax, jitter: jitter)
        backoff.skip(failures - 1)
        return backoff.next(using: &random)
    }
}
