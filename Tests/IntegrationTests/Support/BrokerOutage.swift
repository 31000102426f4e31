import CloudBusTesting
import Foundation

/// A short, always-healed outage of the shared test broker.
///
/// Stopping the broker affects every test and person using it, so the broker is started again
/// whatever happens in between (a cancelled sleep included), and the downtime is kept to a few
/// seconds. The control script's `start` returns once the broker answers again (5–10 s). The
/// script runs through `BrokerControl`, not `TestBroker.control`, which hangs on `start`.
enum BrokerOutage {
    /// Whether the broker can be stopped and started by tests (in CI always: a missing script fails, not skips).
    static var available: Bool { TestBroker.controllable }

    /// What happened, for the test's report.
    struct Record: Sendable {
        var stopped: ContinuousClock.Instant
        var startRequested: ContinuousClock.Instant
        var backUp: ContinuousClock.Instant
    }

    /// Stops the broker, keeps it down for `downtime`, and starts it again — the start runs even
    /// when the stop or the sleep failed.
    static func stopAndRestart(downtime: Duration) async throws -> Record {
        var failure: (any Error)?
        do { try await BrokerControl.run("stop") } catch { failure = error }
        let stopped = ContinuousClock.now
        try? await Task.sleep(for: downtime)
        let startRequested = ContinuousClock.now
        // Its own task, so a cancelled test (time limit) cannot kill the start half-way.
        do { try await Task { try await BrokerControl.run("start") }.value } catch { failure = failure ?? error }
        let record = Record(stopped: stopped, startRequested: startRequested, backUp: .now)
        if let failure { throw failure }
        return record
    }
}
