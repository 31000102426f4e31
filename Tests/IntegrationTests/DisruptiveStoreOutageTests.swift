import InventoryPostgres
import CloudBusAMQP
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVMMessages
import Primitives
import Testing
import Worker

/// The shared store stops under a running worker (the whole PostgreSQL server, so this suite runs alone in the serial
/// phase of `make test`): the worker says it is not ready, keeps answering what it can with clear errors, does not
/// crash, and is ready and whole again once the store is back.
@Suite("The shared store goes away and comes back", .enabled(if: TestBroker.available && TestStore.controllable),
       .serialized)
struct DisruptiveStoreOutageTests {
    @Test("store stopped: not ready, clear error replies, no crash; store back: ready, pings served from the store")
    func workerRidesOutAStoreOutage() async throws {
        try await TestStore.withSchema { base in
            var settings = base
            settings.operationTimeout = .seconds(2)
            try await FakeKVMAgent.withRunning { agent in
                try await withWorker(configure: { configuration in
                    configuration.store = settings
                    configuration.membership = .init(heartbeat: .milliseconds(300), timeout: .milliseconds(1_500))
                }) { harness in
                    let host = MessageID.random()
                    try await harness.inventory.upsertHosts([
                        HostRecord(uuid: host, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected),
                    ])
                    #expect(try await harness.call(PingHostMsg.className, ["hostUuid": .string(host)])
                        .fields["connected"]?.boolValue == true)
                    #expect(harness.worker.health == .ready)

                    try TestStore.control("stop")
                    do {
                        #expect(try await eventually(within: .seconds(20)) { harness.worker.health == .storeUnavailable },
                                "still \(harness.worker.health.rawValue) with the store stopped")
                        // The bus still works: an echo needs no store (its journal write fails and is counted).
                        let echo = try await harness.call(EchoMsg.className, ["payload": .string("no store")])
                        #expect(echo.success)
                        // A ping needs the host's row: a clear error reply, not a hang and not a crash.
                        let ping = try await harness.call(PingHostMsg.className, ["hostUuid": .string(host)],
                                                          timeout: .seconds(20))
                        #expect(!ping.success, "\(String(decoding: ping.raw, as: UTF8.self))")
                        #expect(String(decoding: ping.raw, as: UTF8.self).contains("inventory database"),
                                "\(String(decoding: ping.raw, as: UTF8.self))")
                        #expect(harness.metrics[WorkerCounter.heartbeatFailures] > 0)
                    } catch {
                        try? TestStore.control("start")
                        throw error
                    }
                    try TestStore.control("start")
                    #expect(try await eventually(within: .seconds(30)) { harness.worker.health == .ready },
                            "still \(harness.worker.health.rawValue) with the store back")
                    let again = try await harness.call(PingHostMsg.className, ["hostUuid": .string(host)])
                    #expect(again.fields["connected"]?.boolValue == true)
                }
            }
        }
    }
}
