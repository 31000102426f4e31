import CloudBusAMQP
import AMQP
import KVMMessages
import Primitives
import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import InventoryPostgres
import Testing
import Worker

/// Workers sharing one PostgreSQL store: each sees the others in its ring, a graceful stop hands over at once, and a
/// member gone silent is declared left by exactly one survivor, whose NodeLeft is on the bus. The fleet suites run in
/// the serial phase of `make test` (`Disruptive` prefix): several workers heartbeating every 300 ms beside the parallel
/// suites loaded two cores enough to time out unrelated tests.
@Suite("Fleet membership on the shared store", .enabled(if: TestBroker.available && TestStore.available))
struct DisruptiveFleetMembershipTests {
    private func fleet(_ settings: PostgresStoreSettings) -> (inout WorkerConfiguration) -> Void {
        FleetTest.member(of: settings, timeout: .milliseconds(1_500))
    }

    @Test("two workers see each other; a graceful stop announces NodeLeft and leaves the ring at once")
    func joinAndGracefulLeave() async throws {
        try await TestStore.withSchema { settings in
            let events = try await EventProbe.open()
            try await withTeardown({ await events.close() }) {
                try await withWorker(configure: fleet(settings)) { first in
                    let a = first.node.rawValue
                    let second = try await WorkerHarness.start(configure: fleet(settings))
                    let b = second.node.rawValue
                    do {
                        #expect(await events.waitFor(WorkerLifeCycleData.path) {
                            $0["nodeUuid"]?.stringValue == b && $0["lifeCycle"]?.stringValue == "NodeJoin"
                        } != nil, "the second worker announced no NodeJoin")
                        #expect(try await eventually { first.runtime.membership.members == [a, b] })
                        #expect(try await eventually { second.runtime.membership.members == [a, b] })
                    } catch {
                        await second.stop()
                        throw error
                    }
                    await second.stop()
                    #expect(await events.waitFor(WorkerLifeCycleData.path) {
                        $0["nodeUuid"]?.stringValue == b && $0["lifeCycle"]?.stringValue == "NodeLeft"
                    } != nil, "a graceful stop announced no NodeLeft")
                    #expect(try await eventually { first.runtime.membership.members == [a] })
                    // Handed over by the leaver itself, not declared by a survivor after the timeout.
                    let row = try await first.inventory.members().first { $0.nodeUuid == b }
                    #expect(row?.state == .left && row?.leftAnnouncedBy == b)
                    #expect(first.metrics[WorkerCounter.membersDeclaredLeft] == 0)
                }
            }
        }
    }

    @Test("a member that stops heartbeating is declared left by exactly one survivor, which announces it")
    func silentMemberIsDeclaredLeftOnce() async throws {
        try await TestStore.withSchema { settings in
            let events = try await EventProbe.open()
            try await withTeardown({ await events.close() }) {
                try await withWorker(configure: fleet(settings)) { first in
                    try await withWorker(configure: fleet(settings)) { second in
                        // A worker that heartbeats once and dies (kill -9 leaves exactly this: a row that ages).
                        let ghost = NodeUUID.random().rawValue
                        _ = try await first.inventory.heartbeat(node: ghost, services: ["host"])
                        #expect(try await eventually { first.runtime.membership.members.contains(ghost) })
                        let seen = await events.waitFor(WorkerLifeCycleData.path, within: .seconds(15)) {
                            $0["nodeUuid"]?.stringValue == ghost && $0["lifeCycle"]?.stringValue == "NodeLeft"
                        }
                        #expect(seen != nil, "nobody announced the silent member's NodeLeft")
                        #expect(try await eventually { !first.runtime.membership.members.contains(ghost) })
                        #expect(try await eventually { !second.runtime.membership.members.contains(ghost) })
                        let declared = first.metrics[WorkerCounter.membersDeclaredLeft]
                            + second.metrics[WorkerCounter.membersDeclaredLeft]
                        #expect(declared == 1)
                        #expect(events.events(WorkerLifeCycleData.path) {
                            $0["nodeUuid"]?.stringValue == ghost && $0["lifeCycle"]?.stringValue == "NodeLeft"
                        }.count == 1)
                        let row = try await first.inventory.members().first { $0.nodeUuid == ghost }
                        #expect([first.node.rawValue, second.node.rawValue].contains(row?.leftAnnouncedBy ?? ""))
                    }
                }
            }
        }
    }
}

/// A request that reaches a worker which does not own its resource is passed on to the owner, unchanged but for a
/// hop count; past the hop limit it is refused instead of circling.
@Suite("Forwarding to the owner in a fleet", .enabled(if: TestBroker.available && TestStore.available))
struct DisruptiveFleetForwardingTests {
    private func fleet(_ settings: PostgresStoreSettings) -> (inout WorkerConfiguration) -> Void {
        FleetTest.member(of: settings)
    }

    private func host(ownedBy owner: WorkerHarness, ringOf other: WorkerHarness) -> String {
        FleetTest.host(ownedBy: owner, ringOf: other)
    }

    @Test("a ping sent to the wrong worker is forwarded, answered once by the owner, with the sender's reply address")
    func pingIsForwardedToItsOwner() async throws {
        try await TestStore.withSchema { settings in
            try await FakeKVMAgent.withRunning { agent in
                try await withWorker(configure: fleet(settings)) { first in
                    try await withWorker(configure: fleet(settings)) { second in
                        let both: Set = [first.node.rawValue, second.node.rawValue]
                        #expect(try await eventually { first.runtime.membership.members == both })
                        #expect(try await eventually { second.runtime.membership.members == both })
                        let hostUuid = host(ownedBy: second, ringOf: first)
                        try await first.inventory.upsertHosts([HostRecord(
                            uuid: hostUuid, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected)])
                        // Addressed to the first worker's host queue: the sender's ring is stale.
                        let reply = try await first.call(PingHostMsg.className, ["hostUuid": .string(hostUuid)])
                        #expect(reply.className == PingHostReply.className)
                        #expect(reply.fields["connected"]?.boolValue == true)
                        #expect(first.metrics[WorkerCounter.forwarded] == 1)
                        #expect(first.metrics[WorkerCounter.handled(PingHostMsg.className)] == 0)
                        #expect(try await eventually { second.metrics[WorkerCounter.handled(PingHostMsg.className)] == 1 })
                        #expect(agent.receivedRequests(path: "/host/ping").count == 1)
                    }
                }
            }
        }
    }

    @Test("a request already forwarded three times is refused forward-loop and dead-lettered, not run")
    func hopLimit() async throws {
        try await TestStore.withSchema { settings in
            try await withWorker(configure: fleet(settings)) { first in
                try await withWorker(configure: fleet(settings)) { second in
                    let both: Set = [first.node.rawValue, second.node.rawValue]
                    #expect(try await eventually { first.runtime.membership.members == both })
                    let probe = try await DeadLetterProbe.open()
                    let hostUuid = host(ownedBy: second, ringOf: first)
                    let id = MessageID.random()
                    let body = #"{"org.zstack.header.host.PingHostMsg":{"hostUuid":"\#(hostUuid)","id":"\#(id)","timeout":30000,"headers":{"noReply":"true"}}}"#
                    let outcome = try await first.clientConnection.publish(OutgoingMessage(
                        exchange: BusNames.p2pExchange, routingKey: first.hostQueue, body: Array(body.utf8),
                        properties: AMQPProperties(deliveryMode: 1, headers: ["x-cbw-hops": .int64(3)]),
                        mandatory: true))
                    #expect(outcome == .confirmed)
                    let letter = try #require(try await probe.find { $0.header("x-cbw-message-id") == id })
                    #expect(letter.header("x-cbw-reason") == "forward-loop")
                    #expect(letter.header("x-cbw-detail")?.contains("forwarded 3 times") == true)
                    #expect(first.metrics[WorkerCounter.forwardLoops] == 1)
                    #expect(first.metrics[WorkerCounter.forwarded] == 0)
                    #expect(second.metrics[WorkerCounter.handled(PingHostMsg.className)] == 0)
                    await probe.close()
                }
            }
        }
    }
}

/// A worker that dies leaves requests in its queues: the survivor that claims its queues passes each one on to the
/// resource's owner, and a worker that comes back with the same node id gets its queues back.
@Suite("Draining a departed worker's queues", .enabled(if: TestBroker.available && TestStore.available))
struct DisruptiveFleetDrainTests {
    @Test("requests waiting in a dead worker's queue are answered by the survivor; the dead worker comes back and serves")
    func deadWorkersQueueIsDrainedThenReturned() async throws {
        try await TestStore.withSchema { settings in
            let fleet = FleetTest.member(of: settings, timeout: .milliseconds(1_500))
            try await FakeKVMAgent.withRunning { agent in
                try await withWorker(configure: fleet) { survivor in
                    // The dead worker: its queue exists (declared as the fleet declares them: the harness runs transient), its
                    // row says it was alive once.
                    let dead = NodeUUID.random()
                    try await survivor.clientConnection.declare(
                        BusTopology.worker(node: dead, services: [ServiceID.hostService],
                                           queues: WorkerQueueOptions(durable: false)))
                    _ = try await survivor.inventory.heartbeat(node: dead.rawValue, services: [ServiceID.hostService])
                    let hosts = (0..<10).map { _ in MessageID.random() }
                    try await survivor.inventory.upsertHosts(hosts.map {
                        HostRecord(uuid: $0, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected)
                    })
                    // Senders that still route to the dead worker: their requests wait in its queue.
                    let deadService = "\(ServiceID.hostService).\(dead.rawValue)"
                    let replies = try await withThrowingTaskGroup(of: RPCReply.self) { group in
                        for host in hosts {
                            group.addTask {
                                try await survivor.call(PingHostMsg.className, ["hostUuid": .string(host)],
                                                        timeout: .seconds(30), service: deadService)
                            }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    #expect(replies.count == hosts.count)
                    #expect(replies.allSatisfy { $0.fields["connected"]?.boolValue == true })
                    // At least the pings; the survivor's own VM syncs after a ping may also have gone to the dead
                    // worker while its ring still listed it, and are drained with them.
                    #expect(survivor.metrics[WorkerCounter.drained] >= hosts.count)
                    #expect(survivor.metrics[WorkerCounter.membersDeclaredLeft] == 1)
                    let row = try await survivor.inventory.members().first { $0.nodeUuid == dead.rawValue }
                    #expect(row?.state == .left && row?.drainedBy == survivor.node.rawValue)

                    // It comes back with its node id: the drain lets go, its queue is its own again.
                    try await withWorker(node: dead, configure: fleet) { back in
                        let both: Set = [survivor.node.rawValue, dead.rawValue]
                        #expect(try await eventually { back.runtime.membership.members == both })
                        #expect(try await eventually { survivor.runtime.membership.members == both })
                        let reply = try await back.call(EchoMsg.className, ["payload": .string("back")])
                        #expect(reply.success)
                        let rejoined = try await survivor.inventory.members().first { $0.nodeUuid == dead.rawValue }
                        #expect(rejoined?.state == .alive && rejoined?.drainedBy == nil)
                    }
                }
            }
        }
    }
}
