import CloudBus
import CloudBusAMQP
import Foundation
import Primitives

extension WorkerHarness {
    /// Broadcasts a canonical event as management node `node` fires it (every worker on the broker receives it,
    /// so tests use their own VM and node uuids), confirmed by the broker.
    func publishEvent<C: CanonicalEventContent>(_ content: C, from node: String) async throws {
        let body = try CanonicalEvent.envelope(content: content, managementNodeId: node).encoded()
        _ = try await BusPublisher(connection: clientConnection).publishEvent(body: body)
    }

    /// Broadcasts a canonical event with untyped content (e.g. ZStack's global-config update).
    func publishEvent(path: String, content: JSONValue, from node: String) async throws {
        let body = try CanonicalEvent.envelope(path: path, content: content, contentClass: nil,
                                               managementNodeId: node).encoded()
        _ = try await BusPublisher(connection: clientConnection).publishEvent(body: body)
    }
}
