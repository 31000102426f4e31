import CloudBus
import CloudBusTesting
import Foundation
import Inventory
import KVM
import KVMMessages
import Primitives
import Testing
import Worker

/// Scenario 39 end to end through the broker: the split-brain guard of the VM handler, fed by real sync rounds
/// (`VmSyncOnHostMsg` → `/vm/vmsync` on a fake agent → `VmStateChangedOnHostMsg` to the worker's own `vmInstance`
/// queue → its handler, whose presence probe asks the other hosts of the cluster through the same agent).
///
/// Every test uses fresh uuids for its nodes, hosts, cluster and VM: every worker on the shared broker receives the
/// canonical events published here.
@Suite("VM tracer split-brain guard through the broker", .enabled(if: TestBroker.available))
struct VmTracerSplitBrainTests {
    /// The TTL the tests shrink `kvm.orphanedVmSkipTimeout` to once the within-TTL checks are done.
    static let shortTTLSeconds = "1"

    @Test("scenario 39 (a): after the TTL H1's Stopped comes first; confirmed across the cluster, V ends Running on H2, never Stopped")
    func stoppedReportFirst() async throws {
        try await SplitBrainScene.with(startedOnH2: true) { scene in
            let harness = scene.harness
            try await scene.syncBothHostsWithinTTL()
            try await scene.expireOrphan()

            let sent = harness.stateChangesSent, handled = harness.verdictsHandled
            let probesOfH2 = scene.vmSyncRequests(of: scene.h2)
            try await harness.syncVms(onHost: scene.h1)
            #expect(harness.stateChangesSent == sent + 1, "H1 misses V: its round sends a Stopped verdict")
            try await harness.waitForVerdictsHandled(handled + 1)
            #expect(harness.metrics[WorkerCounter.stoppedVerdictsSuppressed] == 1)
            #expect(harness.metrics[WorkerCounter.presenceProbeFailures] == 0)
            #expect(scene.vmSyncRequests(of: scene.h2) == probesOfH2 + 1, "the guard asked H2 before deciding")
            let afterH1 = try await harness.inventory.vm(uuid: scene.vm)
            #expect(afterH1?.state == .running)
            #expect(afterH1?.hostUuid == scene.h2)

            if harness.outputsConfirmed {
                let running = await scene.events.waitFor(VmTracerStateChangedData.path) {
                    $0["vmUuid"]?.stringValue == scene.vm && $0["to"]?.stringValue == "Running"
                }
                #expect(running?.content["from"]?.stringValue == "Starting")
                #expect(running?.content["currentHostUuid"]?.stringValue == scene.h2)
                #expect(running?.managementNodeId == harness.node.rawValue)
                // Starting → Running asks the VM's new host for its device addresses.
                #expect(try await eventually { scene.deviceInfoRequested(on: scene.h2) })
            }

            // H2's own report now agrees with the inventory: nothing to say.
            try await harness.syncVms(onHost: scene.h2)
            #expect(harness.stateChangesSent == sent + 1)
            try await scene.expectEndsRunningOnH2NeverStopped()
        }
    }

    @Test("scenario 39 (b): after the TTL H2's Running comes first; V Running on H2, then H1 no longer expects V")
    func runningReportFirst() async throws {
        try await SplitBrainScene.with(startedOnH2: true) { scene in
            let harness = scene.harness
            try await scene.syncBothHostsWithinTTL()
            try await scene.expireOrphan()

            let sent = harness.stateChangesSent, handled = harness.verdictsHandled
            try await harness.syncVms(onHost: scene.h2)
            #expect(harness.stateChangesSent == sent + 1, "H2 runs V, which the inventory does not expect there")
            try await harness.waitForVerdictsHandled(handled + 1)
            let afterH2 = try await harness.inventory.vm(uuid: scene.vm)
            #expect(afterH2?.state == .running)
            #expect(afterH2?.hostUuid == scene.h2)
            if harness.outputsConfirmed {
                let running = await scene.events.waitFor(VmTracerStateChangedData.path) {
                    $0["vmUuid"]?.stringValue == scene.vm && $0["to"]?.stringValue == "Running"
                }
                #expect(running?.content["currentHostUuid"]?.stringValue == scene.h2)
            }

            let expectedOnH1 = try await harness.inventory.expectedVms(onHost: scene.h1).map(\.uuid)
            #expect(!expectedOnH1.contains(scene.vm))
            try await harness.syncVms(onHost: scene.h1)
            #expect(harness.stateChangesSent == sent + 1, "H1 no longer expects V: no Stopped verdict")
            #expect(harness.verdictsHandled == handled + 1)
            #expect(harness.metrics[WorkerCounter.stoppedVerdictsSuppressed] == 0)
            try await scene.expectEndsRunningOnH2NeverStopped()
        }
    }

    @Test("scenario 39 variant: the start failed (no host runs V); after the TTL sync(H1) makes V Stopped, last host H1")
    func startFailed() async throws {
        try await SplitBrainScene.with(startedOnH2: false) { scene in
            let harness = scene.harness
            try await scene.syncBothHostsWithinTTL()
            try await scene.expireOrphan()

            let sent = harness.stateChangesSent, handled = harness.verdictsHandled
            let probesOfH2 = scene.vmSyncRequests(of: scene.h2)
            try await harness.syncVms(onHost: scene.h1)
            #expect(harness.stateChangesSent == sent + 1)
            try await harness.waitForVerdictsHandled(handled + 1)
            #expect(scene.vmSyncRequests(of: scene.h2) == probesOfH2 + 1, "the guard asked H2, which does not run V")
            #expect(harness.metrics[WorkerCounter.stoppedVerdictsSuppressed] == 0)
            let stopped = try await harness.inventory.vm(uuid: scene.vm)
            #expect(stopped?.state == .stopped)
            #expect(stopped?.hostUuid == nil)
            #expect(stopped?.lastHostUuid == scene.h1)
            if harness.outputsConfirmed {
                let event = await scene.events.waitFor(VmTracerStateChangedData.path) {
                    $0["vmUuid"]?.stringValue == scene.vm && $0["to"]?.stringValue == "Stopped"
                }
                #expect(event?.content["from"]?.stringValue == "Starting")
                let full = await scene.events.waitFor(VmFullStateChangedData.path) {
                    $0["vmUuid"]?.stringValue == scene.vm && $0["newState"]?.stringValue == "Stopped"
                }
                #expect(full?.managementNodeId == harness.node.rawValue)
            }
        }
    }
}

/// Scenario 39's cluster: hosts H1 and H2 of cluster C, both Connected and served by one fake agent; VM V, Stopped
/// with last host H1, started by node X (skip-trace, then `/vm/state/change` Stopped → Starting as X's database
/// write), after which X leaves the ring (NodeLeft announced by a surviving node Y). When `startedOnH2`, H2's agent
/// reports V Running; H1 never reports V.
private struct SplitBrainScene {
    let harness: WorkerHarness
    let agent: FakeKVMAgent
    let events: EventProbe
    let departedNode: String
    let cluster: String
    let h1: String
    let h2: String
    let vm: String

    /// The scene, set up, for the duration of `body`; the worker, the event probe and the agent stop on every exit
    /// path.
    static func with(startedOnH2: Bool, _ body: (SplitBrainScene) async throws -> Void) async throws {
        try await FakeKVMAgent.withRunning { agent in
            try await withResource({ try await EventProbe.open() }, stop: { await $0.close() }) { events in
                try await withWorker { harness in
                    let scene = SplitBrainScene(
                        harness: harness, agent: agent, events: events, departedNode: NodeUUID.random().rawValue,
                        cluster: MessageID.random(), h1: MessageID.random(), h2: MessageID.random(),
                        vm: MessageID.random())
                    try await scene.setUp(startedOnH2: startedOnH2)
                    try await body(scene)
                }
            }
        }
    }

    private func setUp(startedOnH2: Bool) async throws {
        try await harness.inventory.upsertHosts([h1, h2].map {
            HostRecord(uuid: $0, managementIp: "127.0.0.1", agentPort: agent.port, status: .connected,
                       clusterUuid: cluster)
        })
        try await harness.inventory.upsertVms([
            VmRecord(uuid: vm, state: .stopped, lastHostUuid: h1, clusterUuid: cluster),
        ])
        agent.setVMReport(FakeKVMAgent.HostVMReport(), host: h1)
        agent.setVMReport(FakeKVMAgent.HostVMReport(states: startedOnH2 ? [vm: "Running"] : [:]), host: h2)

        try await harness.broadcast(
            VmSkipTraceData(vmUuid: vm, apiId: MessageID.random(), msgName: "org.zstack.header.vm.StartVmInstanceMsg",
                            managementNodeId: departedNode),
            from: departedNode)
        try await harness.broadcast(
            VmFullStateChangedData(vmUuid: vm, oldState: "Stopped", newState: "Starting", inventory: .object([
                "uuid": .string(vm), "state": .string("Starting"), "lastHostUuid": .string(h1),
                "clusterUuid": .string(cluster), "type": .string("UserVm"),
            ])),
            from: departedNode)
        let starting = try await harness.vm(vm) { $0.state == .starting }
        try #require(starting?.state == .starting, "the worker did not learn from X's event that V is Starting")
        #expect(starting?.hostUuid == nil)
        #expect(starting?.lastHostUuid == h1)
        try await harness.orphan([vm], ofDepartedNode: departedNode, reportedBy: NodeUUID.random().rawValue)
    }

    /// Within the TTL neither host's round sends a verdict about V (the orphan is in both skip snapshots), so V
    /// stays Starting and nothing is announced.
    func syncBothHostsWithinTTL() async throws {
        let sent = harness.stateChangesSent, handled = harness.verdictsHandled
        let rounds = harness.metrics[WorkerCounter.tracerRounds]
        try await harness.syncVms(onHost: h1)
        try await harness.syncVms(onHost: h2)
        #expect(harness.metrics[WorkerCounter.tracerRounds] == rounds + 2, "both rounds ran to the end")
        #expect(vmSyncRequests(of: h1) >= 1 && vmSyncRequests(of: h2) >= 1, "both agents were asked")
        #expect(harness.stateChangesSent == sent, "no verdict while the orphan TTL runs")
        #expect(harness.verdictsHandled == handled)
        let vmRow = try await harness.inventory.vm(uuid: vm)
        #expect(vmRow?.state == .starting)
        #expect(vmRow?.hostUuid == nil)
        #expect(events.tracerStateChanges(of: vm).isEmpty)
    }

    /// Shrinks the TTL at runtime and waits until V's orphan entry has expired.
    func expireOrphan() async throws {
        try await harness.updateSetting("kvm.orphanedVmSkipTimeout", to: VmTracerSplitBrainTests.shortTTLSeconds)
        let expired = await harness.registry { await $0.orphanExpiredRecently(vm) }
        try #require(expired, "V's orphan entry did not expire after the TTL was shrunk")
    }

    /// The end state of both report orders: V Running on H2; nobody ever announced V Stopped.
    func expectEndsRunningOnH2NeverStopped() async throws {
        let final = try await harness.inventory.vm(uuid: vm)
        #expect(final?.state == .running)
        #expect(final?.hostUuid == h2)
        #expect(final?.lastHostUuid == h1)
        let tracer = events.tracerStateChanges(of: vm)
        // One state change announced (none seen only when the broker refused the worker's event publish).
        #expect(harness.outputsConfirmed ? tracer.count == 1 : tracer.count <= 1, "\(tracer.map(\.content))")
        #expect(!tracer.contains { $0.content["to"]?.stringValue == "Stopped" })
        #expect(!events.fullStateChanges(of: vm).contains { $0.content["newState"]?.stringValue == "Stopped" })
    }

    func vmSyncRequests(of host: String) -> Int {
        agent.receivedRequests(path: "/vm/vmsync").count { $0.hostUuid == host }
    }

    func deviceInfoRequested(on host: String) -> Bool {
        agent.receivedRequests(path: "/sync/vm/deviceinfo").contains { $0.hostUuid == host && $0.body.contains(vm) }
    }
}
