import CloudBus
import Inventory
import KVMMessages
import Logging
import Metrics

/// The event stream: skip-trace, continue-trace and management-node lifecycle, applied in the order given (the
/// ``SkipRegistrySubscriber`` keeps broker order by handling all three under one executor key). Each method
/// changes memory at once, then waits for its change to be written through (or handed to the writer in progress).
extension SkipRegistry {
    /// What a skip-trace did.
    public enum SkipOutcome: Sendable, Hashable {
        /// Recorded under its node; `operations` now in flight on the VM from that node.
        case recorded(operations: Int)
        /// The node had already left (scenario 21): the VM became an orphan instead of resurrecting the node.
        case orphanedLateSkip
    }

    /// What a continue-trace did.
    public struct ContinueOutcome: Sendable, Hashable {
        /// The VM it applied to (from the event, or found by API id); nil when neither resolved.
        public var vmUuid: String?
        /// One operation of the sending node on the VM ended.
        public var endedOperation: Bool
        /// The VM's orphan entry was removed (whichever node sent the continue: scenario 33).
        public var clearedOrphan: Bool
    }

    /// Skip-trace from node `data.managementNodeId`: one more operation in flight on `data.vmUuid`.
    /// `data.apiId` (API messages only) is remembered for a continue-trace that only carries the API id; the first
    /// VM recorded for an API id wins.
    @discardableResult
    public func recordSkip(_ data: VmSkipTraceData) async -> SkipOutcome {
        let outcome = applySkip(data)
        await flushChanges()
        return outcome
    }

    /// Continue-trace from node `data.managementNodeId`: ends one of that node's operations on the VM (by
    /// `vmUuid`, else by the API id, looked up by key and then forgotten), and removes the VM's orphan entry.
    /// A node the registry does not know (departed, unknown) is no error (scenario 20).
    @discardableResult
    public func recordContinue(_ data: VmContinueTraceData) async -> ContinueOutcome {
        let outcome = applyContinue(data)
        await flushChanges()
        return outcome
    }

    /// NodeLeft(node): its operations become orphans as of now (re-arming an existing entry: scenario 37), its API
    /// ids are dropped, and its later skip-traces become orphans until it joins again. Returns the VMs orphaned
    /// (none for an unknown node or one without entries: scenario 26).
    @discardableResult
    public func nodeLeft(_ node: String) async -> [String] {
        departed[node] = clock.now
        persist(.departed(nodeId: node, ageMillis: 0))
        let orphaned = orphanEntries(of: node, reason: "node left")
        await flushChanges()
        return orphaned
    }

    /// NodeJoin(node): the node is live again (empty sets: scenario 34). Entries still recorded for it (a missed
    /// NodeLeft, or a restart with the same id) belong to operations that died with the old process: they become
    /// orphans as of now. Existing orphans are kept. Returns the VMs orphaned.
    @discardableResult
    public func nodeJoined(_ node: String) async -> [String] {
        if departed.removeValue(forKey: node) != nil { persist(.rejoined(nodeId: node)) }
        let orphaned = orphanEntries(of: node, reason: "node joined with entries of its previous run")
        await flushChanges()
        return orphaned
    }

    // MARK: - Changes (no suspension point inside)

    func applySkip(_ data: VmSkipTraceData) -> SkipOutcome {
        let node = data.managementNodeId
        let vmUuid = data.vmUuid
        if departed[node] != nil {
            setOrphan(vmUuid, at: clock.now)
            metrics.lateSkipsOrphaned.increment()
            logger.notice("skip-trace from a node that left: VM orphaned", metadata: [
                "vm": "\(vmUuid)", "node": "\(node)", "msg.name": "\(data.msgName ?? "")",
            ])
            return .orphanedLateSkip
        }
        willChange(vmUuid)
        // Mutated in place through the dictionary subscript: a local copy of the node's maps would make every
        // skip copy them (O(entries)).
        nodes[node, default: NodeSkips()].operations[vmUuid, default: 0] += 1
        let count = nodes[node]?.operations[vmUuid] ?? 1
        operationCount[vmUuid, default: 0] += 1
        persist(.operations(nodeId: node, vmUuid: vmUuid, count: count))
        if let apiId = data.apiId, nodes[node]?.apiVms[apiId] == nil {
            nodes[node]?.apiVms[apiId] = vmUuid
            persist(.apiId(nodeId: node, apiId: apiId, vmUuid: vmUuid))
        }
        return .recorded(operations: count)
    }

    func applyContinue(_ data: VmContinueTraceData) -> ContinueOutcome {
        let node = data.managementNodeId
        var vmUuid = data.vmUuid
        if let apiId = data.apiId, let mapped = nodes[node]?.apiVms.removeValue(forKey: apiId) {
            persist(.removeApiId(nodeId: node, apiId: apiId))
            if vmUuid == nil { vmUuid = mapped }
            dropIfEmpty(node)
        }
        guard let vmUuid else {
            return ContinueOutcome(vmUuid: nil, endedOperation: false, clearedOrphan: false)
        }
        var ended = false
        if let count = nodes[node]?.operations[vmUuid] {
            willChange(vmUuid)
            nodes[node]?.operations[vmUuid] = count > 1 ? count - 1 : nil
            decrementOperations(of: vmUuid, by: 1)
            persist(.operations(nodeId: node, vmUuid: vmUuid, count: count - 1))
            dropIfEmpty(node)
            ended = true
        }
        var cleared = false
        if orphans[vmUuid] != nil {
            willChange(vmUuid)
            orphans.removeValue(forKey: vmUuid)
            persist(.removeOrphan(vmUuid: vmUuid))
            cleared = true
            logger.info("orphaned VM continued", metadata: ["vm": "\(vmUuid)", "node": "\(node)"])
        }
        return ContinueOutcome(vmUuid: vmUuid, endedOperation: ended, clearedOrphan: cleared)
    }

    /// Moves every entry of `node` to the orphan set as of now and forgets the node's API ids.
    func orphanEntries(of node: String, reason: String) -> [String] {
        guard let skips = nodes.removeValue(forKey: node) else { return [] }
        persist(.removeNode(nodeId: node))
        let now = clock.now
        for (vmUuid, count) in skips.operations {
            decrementOperations(of: vmUuid, by: count, noting: true)
            setOrphan(vmUuid, at: now)
        }
        let vms = skips.operations.keys.sorted()
        if !vms.isEmpty {
            logger.notice("skip entries orphaned", metadata: [
                "node": "\(node)", "reason": "\(reason)", "vms": "\(vms.count)", "apiIds": "\(skips.apiVms.count)",
            ])
        }
        return vms
    }

    func setOrphan(_ vmUuid: String, at instant: Duration) {
        willChange(vmUuid)
        orphans[vmUuid] = instant
        persist(.orphan(vmUuid: vmUuid, ageMillis: ageMillis(of: instant)))
    }

    private func decrementOperations(of vmUuid: String, by amount: Int, noting: Bool = false) {
        if noting { willChange(vmUuid) }
        let left = (operationCount[vmUuid] ?? 0) - amount
        operationCount[vmUuid] = left > 0 ? left : nil
    }

    private func dropIfEmpty(_ node: String) {
        if nodes[node]?.isEmpty == true { nodes.removeValue(forKey: node) }
    }
}
