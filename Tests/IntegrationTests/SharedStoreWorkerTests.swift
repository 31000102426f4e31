import Logging
import CloudBusAMQP
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import InventoryPostgres
import KVMMessages
import Primitives
import Testing
import Worker

/// A worker configured with `store.url` keeps everything in PostgreSQL: what it serves, what it answered, and a
/// store that is wrong or missing is a clear error at start.
@Suite("A worker on the shared PostgreSQL store", .enabled(if: TestBroker.available && TestStore.available))
struct DisruptiveSharedStoreWorkerTests {
    @Test("a ping is served from hosts in PostgreSQL; its answer is recorded there, a duplicate gets the same reply")
    func pingOnTheSharedStore() async throws {
        try await TestStore.withSchema { settings in
            try await FakeKVMAgent.withRunning { agent in
                try await withWorker(configure: { $0.store = settings }) { harness in
                    #expect(harness.inventory.location == settings.location)
                    let hostUuid = MessageID.random()
                    try await harness.inventory.upsertHosts([HostRecord(
                        uuid: hostUuid, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected)])
                    let id = MessageID.random()
                    let fields: [String: JSONValue] = ["hostUuid": .string(hostUuid), "id": .string(id)]
                    let reply = try await harness.call(PingHostMsg.className, fields)
                    #expect(reply.fields["connected"]?.boolValue == true)
                    // The journal commits in groups: poll for the row rather than assume it is there.
                    var recorded: AnsweredMessage?
                    for _ in 0..<100 where recorded == nil {
                        recorded = try await harness.inventory.answeredMessage(id: id)
                        if recorded == nil { try await Task.sleep(for: .milliseconds(50)) }
                    }
                    #expect(recorded?.reply != nil)
                    let again = try await harness.call(PingHostMsg.className, fields)
                    #expect(again.raw == reply.raw, "a duplicate gets the reply it got the first time")
                    #expect(agent.receivedRequests(path: "/host/ping").count == 1)
                }
            }
        }
    }

    @Test("inventory import writes to the configured shared store; publish --resource routes by its live workers")
    func importAndPublishThroughTheStore() async throws {
        try await TestStore.withSchema { settings in
            let environment = ["CLOUDBUS_STORE_URL": settings.location, "CLOUDBUS_STORE_PASSWORD": settings.password ?? ""]
            // Migrated here, with the test's patience: the CLI then finds the schema up to date.
            await (try PostgresInventory.open(settings, owner: "test", logger: Logger(label: "test"))).close()
            let demo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("examples/demo-inventory.json").path
            let imported = try await CLIProcess.run(["inventory", "import", demo], environment: environment)
            #expect(imported.status == 0, "\(imported.errors)")
            #expect(imported.output.contains(settings.location), "\(imported.output)")
            try await withWorker(configure: { $0.store = settings }) { harness in
                #expect(try await harness.inventory.hosts().count >= 1, "the import did not reach the shared store")
                // With no --nodes, --resource asks the store: the only live worker is this one.
                let echo = try await CLIProcess.run(
                    ["publish", "--resource", MessageID.random(), "--service", ServiceID.hostService],
                    input: Data(#"{"cloudbus.worker.EchoMsg":{"payload":"routed by the store"}}"#.utf8),
                    environment: environment)
                #expect(echo.status == 0, "\(echo.errors)")
                #expect(echo.output.contains("routed by the store"))
            }
        }
    }

    @Test("a database that refuses the password stops the start with the server's reason, not the password")
    func wrongPassword() async throws {
        var settings = try #require(TestStore.settings)
        settings.password = "wrong-\(UUID().uuidString)"
        settings.operationTimeout = .seconds(5)
        let error = await #expect(throws: (any Error).self) {
            try await withWorker(configure: { $0.store = settings }) { _ in }
        }
        let text = String(describing: error)
        #expect(text.contains("password authentication failed"), "\(text)")
        #expect(!text.contains(settings.password!))
    }

    @Test("a store URL that does not parse is a configuration error naming the problem")
    func badURL() {
        #expect(throws: ConfigurationError.self) {
            _ = try WorkerConfiguration.resolve(file: nil, environment: ["CLOUDBUS_STORE_URL": "postgres://u:pw@h/d"])
        }
        do {
            _ = try WorkerConfiguration.resolve(file: nil, environment: ["CLOUDBUS_STORE_URL": "postgres://u@h"])
            Issue.record("a URL without a database was accepted")
        } catch {
            #expect(String(describing: error).contains("names no database"), "\(error)")
        }
    }
}
