import CloudBus
import CloudBusAMQP
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Primitives
import Testing
import Worker

/// The dedupe window is in the store: a sender that retries after the worker restarted still gets the reply the
/// message got before, and the handler does not run a second time.
@Suite("Answers survive a worker restart", .enabled(if: TestBroker.available))
struct AnswersAcrossRestartTests {
    @Test("a retry after a restart gets the reply from before the restart; the handler does not run again")
    func retryAfterRestart() async throws {
        let data = try KeptDataDirectory()
        defer { data.remove() }
        let node = NodeUUID.random()
        let fields: [String: JSONValue] = ["payload": .string("before the restart"), "id": .string(MessageID.random())]

        let firstLink = try data.link()
        let first = try await withWorker(node: node, configure: { $0.dataDirectory = firstLink }) { harness in
            try await harness.call(EchoMsg.className, fields)
        }
        #expect(first.success)
        try #require(data.inventoryExists, "stopping the first worker removed the kept data directory")

        let secondLink = try data.link()
        try await withWorker(node: node, configure: { $0.dataDirectory = secondLink }) { harness in
            let again = try await harness.call(EchoMsg.className, fields)
            #expect(again.raw == first.raw, "the reply from before the restart, byte for byte")
            #expect(harness.metrics[WorkerCounter.handled(EchoMsg.className)] == 0)
            #expect(try await eventually { harness.metrics[WorkerCounter.repliesResent] == 1 })
        }
    }
}

/// What the outbox held when the worker died (written with the state change, never published: `kill -9` between
/// the store write and the publish) goes out when it starts again, before it takes any delivery.
@Suite("The outbox is published after a restart", .enabled(if: TestBroker.available))
struct OutboxAfterRestartTests {
    @Test("rows left in the outbox are published at start and removed once confirmed")
    func leftoverRowsArePublishedAtStart() async throws {
        let data = try KeptDataDirectory()
        defer { data.remove() }
        let node = NodeUUID.random(), host = MessageID.random()
        // The state the crashed worker left: the host marked Disconnected and its announcement still in the outbox.
        let store = try SQLiteInventory(path: WorkerRuntime.inventoryPath(dataDirectory: data.path))
        try await store.upsertHosts([HostRecord(uuid: host, managementIp: "127.0.0.1", status: .connected)])
        let event = try OutboundMessage.event(HostDisconnectedData(hostUuid: host, reason: nil), from: node)
        let (_, rows) = try await store.updateHostStatus(
            uuid: host, to: .disconnected, outboxKey: host, messages: { _ in [OutboxMessage(event)] })
        try #require(rows.count == 1)

        let events = try await EventProbe.open()
        try await withTeardown({ await events.close() }) {
            let link = try data.link()
            try await withWorker(node: node, configure: { $0.dataDirectory = link }) { harness in
                let seen = await events.waitFor(HostDisconnectedData.path) { $0["hostUuid"]?.stringValue == host }
                #expect(seen != nil, "the announcement left in the outbox was not published")
                let republished = try await eventually { harness.metrics[WorkerCounter.outboxRepublished] == 1 }
                #expect(republished)
                let pending = try await harness.inventory.pendingOutbox(key: host)
                #expect(pending.isEmpty, "a published row was not removed")
            }
        }
    }
}

/// A handler that wrote its state and outbox rows but lost its answer to the deadline: the sender gets SYS.1001, and
/// the rows still go out — on the key, once the handler is done — instead of waiting for a restart.
@Suite("The outbox after a deadline", .enabled(if: TestBroker.available))
struct OutboxAfterDeadlineTests {
    @Test("rows written by a handler that outlived its deadline are published when it ends")
    func rowsOfALateHandlerArePublished() async throws {
        let gate = HandlerGate()
        let store = InventorySlot()
        let node = NodeUUID.random()
        try await withWorker(node: node, extraHandlers: {
            $0.register(OutboxThenHangHandler(gate: gate, store: store, node: node))
        }) { harness in
            store.set(harness.inventory)
            let host = MessageID.random()
            try await harness.inventory.upsertHosts([HostRecord(uuid: host, managementIp: "127.0.0.1", status: .connected)])
            let events = try await EventProbe.open()
            try await withTeardown({ gate.open(); await events.close() }) {
                let reply = try await harness.call(OutboxThenHangMsg.className, [
                    "hostUuid": .string(host), "timeout": .integer(1_500),
                ])
                #expect(reply.errorCode == "SYS.1001", "the deadline did not answer first")
                #expect(try await harness.inventory.pendingOutbox(key: host).count == 1)
                gate.open()
                let seen = await events.waitFor(HostDisconnectedData.path) { $0["hostUuid"]?.stringValue == host }
                #expect(seen != nil, "the late handler's announcement was never published")
                let drained = try await eventually { harness.metrics[WorkerCounter.outboxRepublished] == 1 }
                #expect(drained)
                let pending = try await harness.inventory.pendingOutbox(key: host)
                #expect(pending.isEmpty, "the published row was not removed")
            }
        }
    }
}
