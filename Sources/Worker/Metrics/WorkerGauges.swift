import AMQP
import CoreMetrics
import KeyedExecution
import Synchronization

/// The series that mirror state owned elsewhere — executor, broker connections, readiness — refreshed when
/// `/metrics` is scraped rather than pushed on every change (the delivery path pays nothing for them).
final class WorkerGauges: Sendable {
    private typealias Family = WorkerMetrics.Family
    private let factory: any MetricsFactory
    private let ready: Gauge
    private let keysActive: Gauge
    private let jobsQueued: Gauge
    private let jobsRunning: Gauge
    private let jobsAbandoned: Gauge
    private let connections: [String: ConnectionSeries]

    /// The series of one broker connection; the connection's own counts become counter increments by difference.
    private final class ConnectionSeries: Sendable {
        let name: String
        let blocked: Gauge
        let unconfirmed: Gauge
        /// The connection's running counts, each mirrored by a counter.
        let mirrored: [(counter: Counter, count: @Sendable (ConnectionStatistics) -> Int)]
        /// Per endpoint seen: an endpoint left behind shows 0 instead of vanishing from the scrape.
        let connected = Mutex<[String: Gauge]>([:])
        /// The counts as of the last scrape, in ``mirrored``'s order.
        let counted: Mutex<[Int]>

        init(name: String, factory: any MetricsFactory) {
            self.name = name
            let labels = [("connection", name)]
            blocked = Gauge(label: Family.amqpBlocked, dimensions: labels, factory: factory)
            unconfirmed = Gauge(label: Family.amqpUnconfirmed, dimensions: labels, factory: factory)
            let counter = { Counter(label: $0, dimensions: labels, factory: factory) }
            mirrored = [
                (counter(Family.amqpReconnects), { @Sendable in $0.reconnects }),
                (counter(Family.amqpFailovers), { @Sendable in $0.failovers }),
                (counter(Family.amqpConfirmTimeouts), { @Sendable in $0.confirmTimeouts }),
                (counter(Family.amqpSendBufferDeferrals), { @Sendable in $0.sendBufferDeferrals }),
                (counter(Family.amqpBorrowedPublishes), { @Sendable in $0.borrowedPublishes }),
                (counter(Family.amqpBorrowedPasses), { @Sendable in $0.borrowedPasses }),
                (counter(Family.amqpDelegatedReadPasses), { @Sendable in $0.delegatedReadPasses }),
                (counter(Family.amqpDelegatedReadsReturned), { @Sendable in $0.delegatedReadsReturned }),
                (counter(Family.amqpDeferredDelegatedReads), { @Sendable in $0.deferredDelegatedReads }),
            ]
            counted = Mutex([Int](repeating: 0, count: mirrored.count))
        }

        func update(_ statistics: ConnectionStatistics, factory: any MetricsFactory) {
            blocked.record(statistics.blocked ? 1 : 0)
            unconfirmed.record(statistics.unconfirmedPublishes)
            let endpoint = statistics.endpoint
            connected.withLock { gauges in
                if let endpoint, gauges[endpoint] == nil {
                    gauges[endpoint] = Gauge(label: Family.amqpConnected,
                                             dimensions: [("connection", name), ("endpoint", endpoint)], factory: factory)
                }
                if gauges.isEmpty {
                    // Never connected yet: one series says so.
                    gauges[""] = Gauge(label: Family.amqpConnected, dimensions: [("connection", name), ("endpoint", "")],
                                       factory: factory)
                }
                for (seen, gauge) in gauges {
                    gauge.record(statistics.connected && seen == endpoint ? 1 : 0)
                }
            }
            let now = mirrored.map { $0.count(statistics) }
            let last = counted.withLock { last in
                defer { last = now }
                return last
            }
            for (index, series) in mirrored.enumerated() where now[index] > last[index] {
                series.counter.increment(by: now[index] - last[index])
            }
        }
    }

    init(factory: any MetricsFactory, connections names: [String]) {
        self.factory = factory
        ready = Gauge(label: Family.ready, factory: factory)
        keysActive = Gauge(label: Family.keysActive, factory: factory)
        jobsQueued = Gauge(label: Family.jobsQueued, factory: factory)
        jobsRunning = Gauge(label: Family.jobsRunning, factory: factory)
        jobsAbandoned = Gauge(label: Family.jobsAbandoned, factory: factory)
        connections = Dictionary(uniqueKeysWithValues: names.map { ($0, ConnectionSeries(name: $0, factory: factory)) })
    }

    func collect(ready isReady: Bool, executor: ExecutorStatistics?,
                 connections statistics: [(String, ConnectionStatistics)]) {
        ready.record(isReady ? 1 : 0)
        keysActive.record(executor?.activeKeys ?? 0)
        jobsQueued.record(executor?.queuedJobs ?? 0)
        jobsRunning.record(executor?.runningJobs ?? 0)
        jobsAbandoned.record(executor?.abandonedJobsRunning ?? 0)
        for (name, value) in statistics { connections[name]?.update(value, factory: factory) }
    }
}
