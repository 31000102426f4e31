import CloudBus
import InventoryPostgres
import Primitives
import Worker

/// What the in-process fleet suites share: a worker configured as a member of the fleet on a test schema, and a host
/// whose owner the ring fixes.
enum FleetTest {
    /// A member of the fleet on `settings`: heartbeats every 300 ms, declared left after `timeout` of silence.
    static func member(
        of settings: PostgresStoreSettings, timeout: Duration = .seconds(3)
    ) -> (inout WorkerConfiguration) -> Void {
        { configuration in
            configuration.store = settings
            configuration.membership = .init(heartbeat: .milliseconds(300), timeout: timeout)
        }
    }

    /// A host uuid that the rings of both workers give to `owner` (so `owner` serves it and `other` forwards it).
    static func host(ownedBy owner: WorkerHarness, ringOf other: WorkerHarness) -> String {
        while true {
            let candidate = MessageID.random()
            if owner.runtime.membership.owner(of: candidate) == owner.node,
               other.runtime.membership.owner(of: candidate) == owner.node {
                return candidate
            }
        }
    }
}
