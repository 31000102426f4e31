import AMQP
import CloudBus
import Foundation
import Synchronization

/// Removes from the shared dead-letter queue the copies that *other* workers on the broker made because of a test.
///
/// When a test's worker moves a VM to Running from Starting, it broadcasts `/vm/state/change`; every other worker on
/// the shared broker owns that VM on its own one-node ring, sends itself a `SyncVmDeviceInfoMsg` for a host it does
/// not know, and dead-letters it (`unknown-host`). Left there, those copies pile up in front of the letters other
/// suites look for (`DeadLetterProbe` requeues what it does not want, so a long queue hides the rest). This removes
/// exactly the copies naming the test's hosts and returns every other letter to the queue at once.
enum DeviceInfoJunkLetters {
    /// Reads the dead-letter queue for `scan`, removes the copies naming one of `hostUuids` and returns every other
    /// letter at once (nack with requeue, as `DeadLetterProbe` does), so a suite waiting for its own letter is not
    /// kept from it. Returns how many it removed. Copies made after the scan stay (they are rare: the tests call this
    /// seconds after the broadcast).
    @discardableResult
    static func remove(naming hostUuids: Set<String>, scan: Duration = .milliseconds(1500)) async throws -> Int {
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 1_000)
        try await connection.start()
        let stream = try await connection.consume(ConsumerSpecification(queue: BusTopology.deadLetterQueue))
        let removed = Mutex(0)
        let consumer = Task {
            for await delivery in stream {
                if isJunk(delivery, naming: hostUuids) {
                    connection.ack(delivery.tag)
                    removed.withLock { $0 += 1 }
                } else {
                    connection.nack(delivery.tag, requeue: true)
                }
            }
        }
        try? await Task.sleep(for: scan)
        await connection.stopConsuming()
        consumer.cancel()
        await connection.close()
        return removed.withLock { $0 }
    }

    static func isJunk(_ letter: Delivery, naming hostUuids: Set<String>) -> Bool {
        guard letter.header("x-cbw-class") == SyncVmDeviceInfoMsg.className,
            let detail = letter.header("x-cbw-detail"), detail.hasPrefix("unknown-host: host[uuid:")
        else { return false }
        return hostUuids.contains(String(detail.dropFirst("unknown-host: host[uuid:".count).prefix(32)))
    }
}
