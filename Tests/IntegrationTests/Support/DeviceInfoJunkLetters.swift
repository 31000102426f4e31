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
/// exactly the copies naming the test's hosts and returns every other letter to the queue untouched.
enum DeviceInfoJunkLetters {
    /// Waits until the copies stop arriving (at most `limit`), removes those naming one of `hostUuids`, and returns
    /// how many it removed. Letters of other tests are held unacked for the scan (a few seconds) and then requeued.
    @discardableResult
    static func remove(naming hostUuids: Set<String>, settle: Duration = .seconds(1),
                       limit: Duration = .seconds(10)) async throws -> Int {
        let connection = AMQPConnection(configuration: try TestBroker.configuration(), prefetch: 20_000)
        try await connection.start()
        let stream = try await connection.consume(ConsumerSpecification(queue: BusTopology.deadLetterQueue))
        let removed = Mutex(0)
        let seen = Mutex(0)
        let consumer = Task {
            for await delivery in stream {
                seen.withLock { $0 += 1 }
                if isJunk(delivery, naming: hostUuids) {
                    connection.ack(delivery.tag)
                    removed.withLock { $0 += 1 }
                }
                // Anything else stays unacked and returns to the queue when the connection closes.
            }
        }
        let deadline = ContinuousClock.now + limit
        var last = -1
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: settle)
            let now = seen.withLock { $0 }
            if now == last { break }
            last = now
        }
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
