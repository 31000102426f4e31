import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Logging
import Primitives
import Testing

/// `/vm/state/change` from other nodes: the inventory follows, and starts get a device-info sync (§3.5, §8 E).
@Suite("VM full state change subscriber")
struct VmStateFullStateChangeSubscriberTests {
    typealias F = VmStateFixture

    static func event(
        vm: String = F.vm, from oldState: String?, to newState: String, inventory: [String: JSONValue]?,
        node: NodeUUID = F.otherNode
    ) throws -> CanonicalEvent {
        let data = VmFullStateChangedData(
            vmUuid: vm, oldState: oldState, newState: newState, inventory: inventory.map(JSONValue.object))
        return CanonicalEvent(
            path: VmFullStateChangedData.path, content: try JSONValue(parsing: JSONEncoder().encode(data)),
            managementNodeId: node.rawValue)
    }

    static func inventory(_ state: String, host: String?, lastHost: String? = nil) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [
            "uuid": .string(F.vm), "state": .string(state), "type": "UserVm", "clusterUuid": .string(F.cluster),
            "name": "web-1",
        ]
        if let host { fields["hostUuid"] = .string(host) }
        if let lastHost { fields["lastHostUuid"] = .string(lastHost) }
        return fields
    }

    @Test(
        "scenario 41: Running from Starting, Rebooting, Resuming or Created: one SyncVmDeviceInfoMsg {V, H1}, fire-and-forget",
        arguments: ["Starting", "Rebooting", "Resuming", "Created"])
    func deviceInfoSync(from oldState: String) async throws {
        let fixture = try F()
        try await fixture.store(VmState(rawValue: oldState)!, host: F.h1)
        let messages = try await fixture.subscriber.handle(
            try Self.event(from: oldState, to: "Running", inventory: Self.inventory("Running", host: F.h1)),
            context: F.context())
        let emitted = try Emitted(messages)
        #expect(emitted.deviceInfoSyncs.count == 1)
        let sync = try #require(emitted.deviceInfoSyncs.first)
        #expect(sync.message == SyncVmDeviceInfoMsg(vmInstanceUuid: F.vm, hostUuid: F.h1))
        #expect(sync.service == fixture.membership.serviceID("host", for: F.h1).rawValue)
        #expect(sync.base.headers.isNoReply && sync.base.headers.replyTo == nil)
        #expect(emitted.tracerEvents.isEmpty && emitted.fullStateEvents.isEmpty)
        #expect(try await fixture.stored()?.state == .running)
    }

    @Test("a host this worker serves but does not know gets no sync (it would refuse it); once known, it does")
    func unknownOwnHostNoSync() async throws {
        let fixture = try F()
        try await fixture.store(.starting, host: F.h1)
        let subscriber = VmFullStateChangeSubscriber(
            vms: fixture.inventory, membership: fixture.membership, hosts: fixture.inventory, logger: Logger.quiet)
        let event = try Self.event(from: "Starting", to: "Running", inventory: Self.inventory("Running", host: F.h1))
        #expect(fixture.membership.owner(of: F.h1) == fixture.membership.selfNode)
        #expect(try await subscriber.handle(event, context: F.context()).isEmpty)
        #expect(try await fixture.stored()?.state == .running) // the inventory still follows the event

        try await fixture.inventory.upsertHosts([
            HostRecord(uuid: F.h1, managementIp: "127.0.0.1", status: .connected, clusterUuid: F.cluster),
        ])
        try await fixture.store(.starting, host: F.h1)
        let emitted = try Emitted(try await subscriber.handle(event, context: F.context()))
        #expect(emitted.deviceInfoSyncs.map(\.message) == [SyncVmDeviceInfoMsg(vmInstanceUuid: F.vm, hostUuid: F.h1)])
    }

    @Test("scenario 42: no host in the event's inventory at that moment: no message")
    func noHostNoSync() async throws {
        let fixture = try F()
        try await fixture.store(.starting)
        let messages = try await fixture.subscriber.handle(
            try Self.event(from: "Starting", to: "Running", inventory: Self.inventory("Running", host: nil)),
            context: F.context())
        #expect(messages.isEmpty)
        #expect(try await fixture.stored()?.state == .running)
    }

    @Test("no sync for Running reached from Stopped, Paused or Migrating, nor for other new states")
    func noSyncOtherwise() async throws {
        let fixture = try F()
        try await fixture.store(.stopped, lastHost: F.h1)
        for (old, new) in [("Stopped", "Running"), ("Paused", "Running"), ("Migrating", "Running"), ("Running", "Paused")] {
            let messages = try await fixture.subscriber.handle(
                try Self.event(from: old, to: new, inventory: Self.inventory(new, host: F.h1)), context: F.context())
            #expect(messages.isEmpty, "\(old) -> \(new)")
        }
    }

    @Test("the inventory follows: state, host, last host and cluster come from the event (absent host = null)")
    func inventoryFollows() async throws {
        let fixture = try F()
        try await fixture.store(.running, host: F.h1)
        _ = try await fixture.subscriber.handle(
            try Self.event(from: "Running", to: "Stopped", inventory: Self.inventory("Stopped", host: nil, lastHost: F.h1)),
            context: F.context())
        #expect(try await fixture.stored() == VmRecord(
            uuid: F.vm, state: .stopped, hostUuid: nil, lastHostUuid: F.h1, clusterUuid: F.cluster))

        // An event without inventory changes the state only (the store's rule still releases the host).
        try await fixture.store(.running, host: F.h2, lastHost: F.h1)
        _ = try await fixture.subscriber.handle(
            try Self.event(from: "Running", to: "Stopped", inventory: nil), context: F.context())
        #expect(try await fixture.stored() == VmRecord(
            uuid: F.vm, state: .stopped, hostUuid: nil, lastHostUuid: F.h2, clusterUuid: F.cluster))
    }

    @Test("the inventory follows even where this worker's state machine has no edge (the other node decided)")
    func noStateMachineCheck() async throws {
        let fixture = try F()
        try await fixture.store(.expunging, host: F.h1)
        _ = try await fixture.subscriber.handle(
            try Self.event(from: "Expunging", to: "Running", inventory: Self.inventory("Running", host: F.h1)),
            context: F.context())
        #expect(try await fixture.stored()?.state == .running)
    }

    @Test("an unknown VM with an inventory is inserted; without one nothing is stored")
    func unknownVm() async throws {
        let fixture = try F()
        _ = try await fixture.subscriber.handle(
            try Self.event(from: "Stopped", to: "Starting", inventory: nil), context: F.context())
        #expect(try await fixture.stored() == nil)
        _ = try await fixture.subscriber.handle(
            try Self.event(from: "Created", to: "Starting", inventory: Self.inventory("Starting", host: F.h2)),
            context: F.context())
        #expect(try await fixture.stored() == VmRecord(
            uuid: F.vm, state: .starting, hostUuid: F.h2, clusterUuid: F.cluster))
    }

    @Test("only the VM's owner on the ring sends the sync; every worker keeps its inventory current")
    func onlyTheOwnerSends() async throws {
        let fixture = try F(otherNodes: [F.otherNode])
        let foreign = try #require((1...500).lazy
            .map { String(format: "b%031x", $0) }
            .first { fixture.membership.owner(of: $0) == F.otherNode })
        try await fixture.store(.starting, host: F.h1, uuid: foreign)
        var inventory = Self.inventory("Running", host: F.h1)
        inventory["uuid"] = .string(foreign)
        let messages = try await fixture.subscriber.handle(
            try Self.event(vm: foreign, from: "Starting", to: "Running", inventory: inventory), context: F.context())
        #expect(messages.isEmpty)
        #expect(try await fixture.stored(foreign)?.state == .running)
    }

    @Test("an unknown state name is ignored; the key is the VM uuid; only /vm/state/change is subscribed")
    func keyAndPaths() async throws {
        let fixture = try F()
        let before = try await fixture.store(.running, host: F.h1)
        let odd = try Self.event(from: "Running", to: "Hibernating", inventory: Self.inventory("Hibernating", host: F.h1))
        #expect(try await fixture.subscriber.handle(odd, context: F.context()).isEmpty)
        #expect(try await fixture.stored() == before)
        #expect(fixture.subscriber.resourceKey(for: odd) == F.vm)
        #expect(fixture.subscriber.paths == ["/vm/state/change"])
    }

    @Test("content that is not VmStateChangedData throws (the worker logs and counts it)")
    func malformedContent() async throws {
        let fixture = try F()
        let event = CanonicalEvent(
            path: VmFullStateChangedData.path, content: .object(["vmUuid": 42]), managementNodeId: F.otherNode.rawValue)
        await #expect(throws: DecodingError.self) { try await fixture.subscriber.handle(event, context: F.context()) }
    }
}
