import CloudBus
import Inventory
import KVM
import KVMMessages
import Primitives
import Testing

/// `VmStateChangedOnHostMsg` against a real SQLite inventory: pre-checks, actions, events (reference §2.7, §8 A–B).
@Suite("VM state changed on host")
struct VmStateChangedOnHostHandlerTests {
    typealias F = VmStateFixture

    // MARK: Pre-checks

    @Test("pre-check 1: a VM not in the inventory is answered 'the vm has been deleted'")
    func deletedVm() async throws {
        let fixture = try F()
        let output = try await fixture.report("Stopped", by: F.h1, expected: "Running")
        let reply = try output.stcReply
        #expect(!reply.success)
        #expect(reply.error?.code == "SYS.1006")
        #expect(reply.error?.details == "the vm has been deleted")
        #expect(output.messages.isEmpty)
    }

    @Test("scenario 7 (pre-check 2): expected Running but the VM is now Stopping: ignored, success")
    func staleReport() async throws {
        let fixture = try F()
        let before = try await fixture.store(.stopping, host: F.h1)
        fixture.skips.markExpiredRecently(F.vm)
        let output = try await fixture.report("Stopped", by: F.h1, expected: "Running")
        #expect(try output.stcReply.success)
        #expect(output.messages.isEmpty)
        #expect(try await fixture.stored() == before)
        #expect(fixture.probe.calls.isEmpty)
    }

    @Test("pre-check 3: state and host equal to the inventory: nothing to do")
    func equalStateAndHost() async throws {
        let fixture = try F()
        let before = try await fixture.store(.running, host: F.h1)
        let output = try await fixture.report("Running", by: F.h1, expected: nil)
        #expect(try output.stcReply.success)
        #expect(output.messages.isEmpty)
        #expect(try await fixture.stored() == before)
    }

    @Test("pre-check 4: Stopped reported Unknown is ignored")
    func stoppedUnknown() async throws {
        let fixture = try F()
        let before = try await fixture.store(.stopped, lastHost: F.h1)
        let output = try await fixture.report("Unknown", by: F.h1, expected: "Stopped")
        #expect(try output.stcReply.success)
        #expect(output.messages.isEmpty)
        #expect(try await fixture.stored() == before)
    }

    @Test("pre-check 5: reported Unknown applies event unknown and announces it")
    func unknownReport() async throws {
        let fixture = try F()
        try await fixture.store(.running, host: F.h1)
        let output = try await fixture.report("Unknown", by: F.h1, expected: "Running")
        #expect(try output.stcReply.success)
        let stored = try #require(try await fixture.stored())
        #expect(stored.state == .unknown && stored.hostUuid == F.h1)
        let emitted = try Emitted(output)
        #expect(emitted.tracerEvents == [VmTracerStateChangedData(
            vmUuid: F.vm, from: "Running", to: "Unknown", originalHostUuid: F.h1, currentHostUuid: F.h1)])
        #expect(emitted.fullStateEvents.map(\.newState) == ["Unknown"])
    }

    @Test("pre-check 5: Unknown where the table has no edge (Created) is an error reply and no change")
    func unknownWithoutEdge() async throws {
        let fixture = try F()
        let before = try await fixture.store(.created)
        let output = try await fixture.report("Unknown", by: F.h1, expected: nil)
        let reply = try output.stcReply
        #expect(!reply.success)
        #expect(reply.error?.details?.hasPrefix(
            "cannot find next state for current state[Created] on transaction event[unknown]") == true)
        #expect(output.messages.isEmpty)
        #expect(try await fixture.stored() == before)
    }

    @Test("a state name ZStack does not have is a bad request (SYS.1007)")
    func invalidState() async throws {
        let fixture = try F()
        try await fixture.store(.running, host: F.h1)
        await #expect(throws: BadRequest.self) { try await fixture.report("Suspended", by: F.h1, expected: nil) }
        await #expect(throws: BadRequest.self) { try await fixture.report("Running", by: F.h2, expected: "Runing") }
    }

    // MARK: Scenarios

    @Test("scenario 5: Running on H1 reported Paused: Paused, one tracer event and one full-state event")
    func runningToPaused() async throws {
        let fixture = try F()
        try await fixture.store(.running, host: F.h1)
        let output = try await fixture.report("Paused", by: F.h1, expected: "Running")
        #expect(try output.stcReply.success)
        #expect(try await fixture.stored()?.state == .paused)
        #expect(try await fixture.stored()?.hostUuid == F.h1)
        let emitted = try Emitted(output)
        #expect(emitted.tracerEvents == [VmTracerStateChangedData(
            vmUuid: F.vm, from: "Running", to: "Paused", originalHostUuid: F.h1, currentHostUuid: F.h1)])
        #expect(emitted.fullStateEvents.count == 1)
        #expect(emitted.deviceInfoSyncs.isEmpty)
    }

    @Test("scenario 6: Running on H1 missing from H1: VmStoppedOnTheSameHost, Stopped, host moved to lastHost")
    func stoppedOnTheSameHost() async throws {
        let fixture = try F()
        try await fixture.store(.running, host: F.h1)
        let output = try await fixture.report("Stopped", by: F.h1, expected: "Running")
        #expect(try output.stcReply.success)
        let stored = try #require(try await fixture.stored())
        #expect(stored.state == .stopped && stored.hostUuid == nil && stored.lastHostUuid == F.h1)
        let emitted = try Emitted(output)
        #expect(emitted.tracerEvents == [VmTracerStateChangedData(
            vmUuid: F.vm, from: "Running", to: "Stopped", originalHostUuid: F.h1, currentHostUuid: F.h1)])
        #expect(emitted.fullStateEvents == [VmFullStateChangedData(
            vmUuid: F.vm, oldState: "Running", newState: "Stopped",
            inventory: .object([
                "uuid": .string(F.vm), "state": "Stopped", "lastHostUuid": .string(F.h1), "type": "UserVm",
                "clusterUuid": .string(F.cluster),
            ]))])
        // Not an orphan whose TTL just expired: the presence probe is not asked.
        #expect(fixture.skips.asked == [F.vm])
        #expect(fixture.probe.calls.isEmpty)
    }

    @Test("scenario 8: Stopped with lastHost H1, reported Running by H2 with no expected state: Running on H2")
    func runningOnTheHost() async throws {
        let fixture = try F()
        try await fixture.store(.stopped, lastHost: F.h1)
        let output = try await fixture.report("Running", by: F.h2, expected: nil)
        #expect(try output.stcReply.success)
        let stored = try #require(try await fixture.stored())
        #expect(stored.state == .running && stored.hostUuid == F.h2 && stored.lastHostUuid == F.h1)
        let emitted = try Emitted(output)
        #expect(emitted.tracerEvents.map(\.to) == ["Running"])
        #expect(emitted.tracerEvents.first?.currentHostUuid == F.h2)
        #expect(emitted.fullStateEvents.map(\.newState) == ["Running"])
        #expect(emitted.deviceInfoSyncs.isEmpty, "Stopped -> Running is not a start this worker ran")
    }

    @Test("scenario 9: Destroyed VM reported Running by H1: DestroyVmOnHypervisorMsg to H1's owner, DB unchanged")
    func runningFromDestroyed() async throws {
        let fixture = try F(otherNodes: [F.otherNode])
        let before = try await fixture.store(.destroyed, lastHost: F.h1)
        let output = try await fixture.report("Running", by: F.h1, expected: "Destroyed")
        #expect(try output.stcReply.success)
        #expect(try await fixture.stored() == before)
        let emitted = try Emitted(output)
        #expect(emitted.tracerEvents.isEmpty && emitted.fullStateEvents.isEmpty)
        let destroy = try #require(emitted.destroys.first)
        #expect(emitted.destroys.count == 1)
        #expect(destroy.message == DestroyVmOnHypervisorMsg(vmInstanceUuid: F.vm, hostUuid: F.h1))
        let owner = fixture.membership.serviceID("host", for: F.h1).rawValue
        #expect(destroy.service == owner)
        #expect(destroy.base.serviceId == owner)
        #expect(destroy.base.headers.isNoReply)
        #expect(destroy.base.headers.replyTo == nil)
    }

    @Test("scenario 15 and 1: Destroying on H1 reported Stopped: Stopped via the new edge, one full-state event")
    func destroyingStopped() async throws {
        let fixture = try F()
        try await fixture.store(.destroying, host: F.h1)
        let output = try await fixture.report("Stopped", by: F.h1, expected: "Destroying")
        #expect(try output.stcReply.success)
        let stored = try #require(try await fixture.stored())
        #expect(stored.state == .stopped && stored.hostUuid == nil && stored.lastHostUuid == F.h1)
        let emitted = try Emitted(output)
        #expect(emitted.fullStateEvents.count == 1)
        #expect(emitted.fullStateEvents.first?.oldState == "Destroying")
        #expect(emitted.tracerEvents.map(\.to) == ["Stopped"])
    }

    @Test("scenario 1: the transition itself: Destroying on H1 + stopped, through the store")
    func transitionDestroyingStopped() async throws {
        let fixture = try F()
        try await fixture.store(.destroying, host: F.h1)
        let transition = VmStateTransition(vms: fixture.inventory, membership: fixture.membership)
        let update = try await transition.apply(.stopped, to: F.vm)
        #expect(update.after.state == .stopped && update.after.hostUuid == nil && update.after.lastHostUuid == F.h1)
        #expect(try transition.fullStateChangedEvent(update) != nil)
        #expect(try await fixture.stored() == update.after)
    }

    @Test("scenario 4: a self-loop (Running + running) fires nothing")
    func selfLoop() async throws {
        let fixture = try F()
        try await fixture.store(.running, host: F.h1)
        let transition = VmStateTransition(vms: fixture.inventory, membership: fixture.membership)
        let update = try await transition.apply(.running, to: F.vm)
        #expect(!update.stateChanged)
        #expect(try transition.fullStateChangedEvent(update) == nil)
        #expect(try transition.tracerStateChangedEvent(update, reportingHost: F.h1) == nil)
        #expect(try transition.deviceInfoSync(update) == nil)
    }

    @Test("a refused transition leaves the row untouched (the check runs inside the store's transaction)")
    func refusedTransition() async throws {
        let fixture = try F()
        let before = try await fixture.store(.expunging, host: F.h1)
        let transition = VmStateTransition(vms: fixture.inventory, membership: fixture.membership)
        await #expect(throws: VmTransitionError(current: .expunging, event: .stopped, vmUuid: F.vm)) {
            try await transition.apply(.stopped, to: F.vm, host: .clear)
        }
        #expect(try await fixture.stored() == before)
    }

    @Test("VmRunningWithoutOriginalHost: Running without a host gets the host; tracer event, no full-state event")
    func runningWithoutOriginalHost() async throws {
        let fixture = try F()
        try await fixture.store(.running)
        let output = try await fixture.report("Running", by: F.h1, expected: "Running")
        #expect(try output.stcReply.success)
        #expect(try await fixture.stored()?.hostUuid == F.h1)
        let emitted = try Emitted(output)
        #expect(emitted.tracerEvents.count == 1)
        #expect(emitted.fullStateEvents.isEmpty)
    }

    @Test("DB-only updates: Crashed -> Running (same host), Paused -> Stopped (same host), Running -> Crashed")
    func inventoryOnlyUpdates() async throws {
        let fixture = try F()
        try await fixture.store(.crashed, host: F.h1)
        #expect(try await fixture.report("Running", by: F.h1, expected: "Crashed").stcReply.success)
        #expect(try await fixture.stored()?.state == .running)

        #expect(try await fixture.report("Crashed", by: F.h1, expected: "Running").stcReply.success)
        #expect(try await fixture.stored()?.state == .crashed)

        try await fixture.store(.paused, host: F.h1)
        let output = try await fixture.report("Stopped", by: F.h1, expected: "Paused")
        #expect(try output.stcReply.success)
        let stored = try #require(try await fixture.stored())
        #expect(stored.state == .stopped && stored.hostUuid == nil && stored.lastHostUuid == F.h1)
        #expect(try Emitted(output).fullStateEvents.count == 1)
    }

    @Test("VmStoppedFromUnknownStateHostNotChanged: Unknown without a host, reported Stopped by its last host")
    func stoppedFromUnknown() async throws {
        let fixture = try F()
        try await fixture.store(.unknown, lastHost: F.h1)
        let output = try await fixture.report("Stopped", by: F.h1, expected: "Unknown")
        #expect(try output.stcReply.success)
        #expect(try await fixture.stored() == VmRecord(
            uuid: F.vm, state: .stopped, lastHostUuid: F.h1, clusterUuid: F.cluster))
        #expect(try Emitted(output).tracerEvents.map(\.to) == ["Stopped"])
    }

    @Test("VmMigrateToAnotherHost: Running on H1 reported Running by H2 moves the VM to H2")
    func migrateToAnotherHost() async throws {
        let fixture = try F()
        try await fixture.store(.running, host: F.h1)
        let output = try await fixture.report("Running", by: F.h2, expected: nil)
        #expect(try output.stcReply.success)
        #expect(try await fixture.stored()?.hostUuid == F.h2)
        let emitted = try Emitted(output)
        #expect(emitted.tracerEvents == [VmTracerStateChangedData(
            vmUuid: F.vm, from: "Running", to: "Running", originalHostUuid: F.h1, currentHostUuid: F.h2)])
        #expect(emitted.fullStateEvents.isEmpty)
    }

    @Test("VmNoStateFromIntermediateState: the inventory is left alone and nothing is announced")
    func noStateFromIntermediate() async throws {
        let fixture = try F()
        let before = try await fixture.store(.starting, host: F.h1)
        let output = try await fixture.report("NoState", by: F.h1, expected: "Starting")
        #expect(try output.stcReply.success)
        #expect(output.messages.isEmpty)
        #expect(try await fixture.stored() == before)
    }

    @Test("an unknown combination (Unknown on H1 reported Running by H2) is an error reply, never a crash")
    func unknownCombination() async throws {
        let fixture = try F()
        let before = try await fixture.store(.unknown, host: F.h1)
        let output = try await fixture.report("Running", by: F.h2, expected: "Unknown")
        let reply = try output.stcReply
        #expect(!reply.success)
        #expect(reply.error?.code == "SYS.1006")
        #expect(reply.error?.details?.hasPrefix("unknown VM abnormal state combination") == true)
        #expect(output.messages.isEmpty)
        #expect(try await fixture.stored() == before)
    }

    @Test("redelivery: the same report handled twice changes and announces once")
    func redelivered() async throws {
        let fixture = try F()
        try await fixture.store(.running, host: F.h1)
        let first = try await fixture.report("Paused", by: F.h1, expected: "Running")
        let second = try await fixture.report("Paused", by: F.h1, expected: "Running")
        #expect(try first.stcReply.success && second.stcReply.success)
        #expect(!first.messages.isEmpty)
        #expect(second.messages.isEmpty)
    }

    @Test("the agent push path (fromSync false) is handled alike and never probes")
    func pushPath() async throws {
        let fixture = try F()
        try await fixture.store(.running, host: F.h1)
        fixture.skips.markExpiredRecently(F.vm)
        let output = try await fixture.report("Stopped", by: F.h1, expected: "Running", fromSync: false)
        #expect(try output.stcReply.success)
        #expect(try await fixture.stored()?.state == .stopped)
        #expect(fixture.probe.calls.isEmpty)
    }

    // MARK: Events on the wire

    @Test("events are canonical events on BROADCAST's key, fired by this node, naming their content class")
    func eventEnvelopes() async throws {
        let fixture = try F()
        try await fixture.store(.running, host: F.h1)
        let output = try await fixture.report("Stopped", by: F.h1, expected: "Running")
        let emitted = try Emitted(output)
        #expect(emitted.eventEnvelopes.count == 2)
        for (event, base, routingKey) in emitted.eventEnvelopes {
            #expect(routingKey == CanonicalEvent.routingKey)
            #expect(event.managementNodeId == F.node.rawValue)
            #expect(base.serviceId == nil)
            let expectedClass = event.path == VmFullStateChangedData.path
                ? VmFullStateChangedData.className : VmTracerStateChangedData.className
            #expect(base.headers.schema?["content"] == expectedClass)
        }
        let full = try #require(emitted.eventEnvelopes.first { $0.event.path == VmFullStateChangedData.path })
        #expect(full.base.headers.schema?["content.inventory"] == VmFullStateChangedData.inventoryClassName)
    }

    // MARK: Device-info trigger from the handler

    @Test(
        "scenario 41 (handler): Running from Starting, Rebooting or Resuming sends one SyncVmDeviceInfoMsg to the host's owner",
        arguments: [VmState.starting, .rebooting, .resuming])
    func deviceInfoAfterStart(from state: VmState) async throws {
        let fixture = try F(otherNodes: [F.otherNode])
        try await fixture.store(state, host: F.h1)
        let output = try await fixture.report("Running", by: F.h1, expected: state.rawValue)
        #expect(try output.stcReply.success)
        let emitted = try Emitted(output)
        #expect(emitted.deviceInfoSyncs.count == 1)
        let sync = try #require(emitted.deviceInfoSyncs.first)
        #expect(sync.message == SyncVmDeviceInfoMsg(vmInstanceUuid: F.vm, hostUuid: F.h1))
        #expect(sync.service == fixture.membership.serviceID("host", for: F.h1).rawValue)
        #expect(sync.base.headers.isNoReply && sync.base.headers.replyTo == nil)
    }

    @Test("no device-info sync for Running reached from Migrating or Paused")
    func noDeviceInfoOtherwise() async throws {
        let fixture = try F()
        try await fixture.store(.migrating, host: F.h1)
        #expect(try Emitted(try await fixture.report("Running", by: F.h1, expected: "Migrating")).deviceInfoSyncs.isEmpty)
        try await fixture.store(.paused, host: F.h1)
        #expect(try Emitted(try await fixture.report("Running", by: F.h1, expected: "Paused")).deviceInfoSyncs.isEmpty)
    }
}
