import CloudBus
import CloudBusTesting
@testable import KVM
import KVMMessages
import Logging
import Primitives
import Testing

/// The bus side: canonical events decoded and applied in order under one executor key; bad content throws.
@Suite("Skip registry subscriber")
struct SkipRegistrySubscriberTests {
    typealias F = SkipFixture

    private let context = HandlerContext(
        base: MessageBase(id: "0123456789abcdef0123456789abcdef", createdTime: 0, headers: MessageHeaders()),
        deadline: nil, redelivered: false)

    private func event<C: CanonicalEventContent>(_ content: C, from node: String) throws -> CanonicalEvent {
        try CanonicalEvent.envelope(content: content, managementNodeId: node).message
    }

    @Test("the three paths share one executor key, so the registry sees broker order")
    func pathsAndKey() throws {
        let subscriber = SkipRegistrySubscriber(
            registry: F.registry(clock: ManualClock()), logger: Logger.quiet)
        #expect(subscriber.paths == ["/vmTracer/skipTrace", "/vmTrace/continueTrace", "/managementnode/lifecycle"])
        let keys = Set(try [
            event(F.skip(F.vm(1), from: F.nodeX), from: F.nodeX),
            event(F.proceed(F.vm(2), from: F.nodeY), from: F.nodeY),
            event(ManagementNodeLifeCycleData(nodeUuid: F.nodeX, lifeCycle: .nodeLeft), from: F.nodeX),
        ].map(subscriber.resourceKey(for:)))
        #expect(keys == [SkipRegistrySubscriber.executorKey])
    }

    @Test("scenario 17 and 25 over the bus: skip, NodeLeft, then continue from another node")
    func eventsApply() async throws {
        let registry = F.registry(clock: ManualClock())
        let subscriber = SkipRegistrySubscriber(registry: registry, logger: Logger.quiet)
        let v = F.vm(1)
        #expect(try await subscriber.handle(event(F.skip(v, from: F.nodeX), from: F.nodeX), context: context)
            .isEmpty)
        #expect(await registry.nodes[F.nodeX]?.operations == [v: 1])
        _ = try await subscriber.handle(
            event(ManagementNodeLifeCycleData(nodeUuid: F.nodeX, lifeCycle: .nodeLeft), from: F.nodeY),
            context: context)
        #expect(await registry.isOrphanSkipped(v))
        _ = try await subscriber.handle(event(F.proceed(v, from: F.nodeY), from: F.nodeY), context: context)
        #expect(await !registry.isOrphanSkipped(v))
        _ = try await subscriber.handle(
            event(ManagementNodeLifeCycleData(nodeUuid: F.nodeX, lifeCycle: .nodeJoin), from: F.nodeX),
            context: context)
        #expect(await registry.departed.isEmpty)
    }

    @Test("bad content throws a clear error naming the path and the sender, and changes nothing")
    func badContent() async throws {
        let registry = F.registry(clock: ManualClock())
        let subscriber = SkipRegistrySubscriber(registry: registry, logger: Logger.quiet)
        let missingVm = CanonicalEvent(
            path: VmSkipTraceData.path, content: .object(["managementNodeId": .string(F.nodeX)]),
            managementNodeId: F.nodeX)
        let undecodable = await #expect(throws: SkipTraceEventError.self) {
            _ = try await subscriber.handle(missingVm, context: context)
        }
        guard case .undecodable(let path, let sender, _)? = undecodable else {
            Issue.record("expected undecodable content, got \(String(describing: undecodable))")
            return
        }
        #expect(path == VmSkipTraceData.path && sender == F.nodeX)
        let emptyVm = try event(F.skip("", from: F.nodeX), from: F.nodeX)
        await #expect(throws: SkipTraceEventError.missingField(
            path: VmSkipTraceData.path, field: "vmUuid", sender: F.nodeX)) {
            _ = try await subscriber.handle(emptyVm, context: context)
        }
        let nothingToContinue = try event(F.proceed(nil, from: F.nodeX), from: F.nodeX)
        await #expect(throws: SkipTraceEventError.missingField(
            path: VmContinueTraceData.path, field: "vmUuid and apiId", sender: F.nodeX)) {
            _ = try await subscriber.handle(nothingToContinue, context: context)
        }
        let noContent = CanonicalEvent(
            path: ManagementNodeLifeCycleData.path, content: nil, managementNodeId: F.nodeX)
        await #expect(throws: SkipTraceEventError.self) {
            _ = try await subscriber.handle(noContent, context: context)
        }
        let otherPath = CanonicalEvent(path: "/vm/state/change", content: nil, managementNodeId: F.nodeX)
        await #expect(throws: SkipTraceEventError.unexpectedPath("/vm/state/change")) {
            _ = try await subscriber.handle(otherPath, context: context)
        }
        #expect(await registry.status() == SkipRegistryStatus(
            nodesWithEntries: 0, operations: 0, skippedVms: 0, apiIds: 0, orphans: 0, tombstones: 0,
            departedNodes: 0, openRounds: 0))
    }
}
