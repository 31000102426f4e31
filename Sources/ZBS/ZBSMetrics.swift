import Inventory
import MetricHandles
import Metrics
import Primitives
import Synchronization

/// The metric families the ZBS module emits: every MDS attempt and every move to the next MDS. The code creates
/// its handles from these entries, so the catalogue and what is exported cannot drift.
///
/// `mds` is the MDS as the storage's configuration names it (`addr:agentPort`), bounded by what operators
/// configured; `outcome` comes from ``MdsCallOutcome``. Nothing a remote sender chooses becomes a label.
public enum ZBSMetrics {
    /// `mds`: `addr:agentPort`; `outcome`: ``MdsCallOutcome``.
    public static let mdsCalls = MetricDescription(
        "cloudbus_worker_mds_calls_total", .counter, labels: ["mds", "outcome"],
        help: "Attempts on each MDS by outcome: which MDS refuses, times out or fails, and how often.")
    public static let mdsFailovers = MetricDescription(
        "cloudbus_worker_mds_failovers_total", .counter,
        help: "Calls moved on to another MDS after an attempt failed (try-next): MDS trouble users did not see.")

    public static let catalog: [MetricDescription] = [mdsCalls, mdsFailovers]

    /// `outcome` of ``mdsCalls``: how one attempt on one MDS ended.
    public enum MdsCallOutcome: String, Sendable, CaseIterable {
        /// A readable answer with success.
        case ok
        /// A readable answer with `success=false` or an `error` text (final: no other MDS is tried).
        case agentFailed = "agent_failed"
        /// Nothing listens on the MDS agent's port.
        case refused
        /// No connection within the connect timeout, or no answer (or callback) within the attempt's deadline.
        case timeout
        /// An answer that is not a JSON object, or a callback flagged as a raised handler.
        case badResponse = "bad_response"
        /// No connection slot of this MDS freed up in time; nothing was sent.
        case noSlot = "no_slot"
        /// Another transport failure: reset, non-2xx, invalid HTTP, cannot connect.
        case error
        /// The worker's own callback server is down: not the MDS's fault, nothing was sent.
        case local
    }
}

/// The MDS handles, made once per ``MdsCaller``. MDS come and go with the storage's configuration, so their
/// counters are made the first time an MDS is called (every outcome at once) and cached: later attempts cost a
/// dictionary probe under a lock, no label rendering.
final class MdsCallMetrics: Sendable {
    private struct Key: Hashable {
        var addr: String
        var port: Int
    }

    private let factory: any MetricsFactory
    private let byMds: Mutex<[Key: [ZBSMetrics.MdsCallOutcome: Counter]]> = Mutex([:])
    let failovers: Counter

    init(factory: any MetricsFactory) {
        self.factory = factory
        self.failovers = ZBSMetrics.mdsFailovers.counter(factory: factory)
    }

    /// Counts one attempt on `mds` that ended with `outcome`.
    func attempt(on mds: MdsRecord, _ outcome: ZBSMetrics.MdsCallOutcome) {
        let key = Key(addr: mds.addr, port: mds.agentPort)
        let counters = byMds.withLock { cache in
            if let counters = cache[key] { return counters }
            let label = "\(mds.addr):\(mds.agentPort)"
            let counters = Dictionary(uniqueKeysWithValues: ZBSMetrics.MdsCallOutcome.allCases.map {
                ($0, ZBSMetrics.mdsCalls.counter(label, $0.rawValue, factory: factory))
            })
            cache[key] = counters
            return counters
        }
        counters[outcome]?.increment()
    }
}
