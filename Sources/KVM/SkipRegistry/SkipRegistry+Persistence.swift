import CloudBus
import Inventory
import Logging
import Metrics

/// Write-through to the ``SkipEntryStore`` and the reload after a restart.
extension SkipRegistry {
    /// Queues a change for the store (nothing when the registry is not persisted).
    func persist(_ change: SkipEntryChange) {
        guard store != nil else { return }
        pendingChanges.append(change)
    }

    /// Waits until every change made so far has been handed to the store (written, or failed and counted).
    public func flush() async {
        if flushing {
            await withCheckedContinuation { flushWaiters.append($0) }
        } else {
            await flushChanges()
        }
    }

    /// Writes the queued changes, in order, one batch at a time. Only one caller writes at a time; a caller that
    /// finds a write in progress returns and leaves its changes to that writer (which loops until the queue is
    /// empty), so the store sees changes in the order they were made. After a failure the next write redoes, from
    /// memory, the rows the lost changes (and every change queued since) touched: nothing else is rewritten.
    func flushChanges() async {
        guard let store, !flushing, !pendingChanges.isEmpty || !dirtyKeys.isEmpty else { return }
        flushing = true
        defer {
            flushing = false
            let waiters = flushWaiters
            flushWaiters.removeAll()
            for waiter in waiters { waiter.resume() }
        }
        while !pendingChanges.isEmpty || !dirtyKeys.isEmpty {
            if !dirtyKeys.isEmpty {
                for change in pendingChanges { dirtyKeys.insert(SkipStoreKey(change)) }
                pendingChanges.removeAll()
                let keys = dirtyKeys
                let repair = repairChanges(for: keys)
                do {
                    try await store.applySkipChanges(repair)
                    dirtyKeys.subtract(keys)
                    logger.info("skip registry rows rewritten to the store after an earlier failure", metadata: [
                        "rows": "\(keys.count)",
                    ])
                } catch {
                    storeFailed(error, operation: "repair", changes: repair.count)
                    return
                }
            } else {
                let batch = pendingChanges
                pendingChanges.removeAll()
                do {
                    try await store.applySkipChanges(batch)
                } catch {
                    for change in batch { dirtyKeys.insert(SkipStoreKey(change)) }
                    storeFailed(error, operation: "apply", changes: batch.count)
                    return
                }
            }
        }
    }

    private func storeFailed(_ error: any Error, operation: String, changes: Int) {
        metrics.storeFailures.increment()
        logger.error("skip registry store write failed; memory still protects the VMs, next write retries", metadata: [
            "operation": "\(operation)", "changes": "\(changes)", "error": "\(error)",
        ])
    }

    /// The changes that bring `keys`' rows to what memory holds now. Whole-node rewrites come first (they delete
    /// the node's rows, then its current entries are written back). An orphan that memory let expire (tombstoned)
    /// is left as the store has it: its row ages out on the store's clock.
    func repairChanges(for keys: Set<SkipStoreKey>) -> [SkipEntryChange] {
        var changes: [SkipEntryChange] = []
        var rewrittenNodes = Set<String>()
        for case .node(let nodeId) in keys {
            rewrittenNodes.insert(nodeId)
            changes.append(.removeNode(nodeId: nodeId))
            if let skips = nodes[nodeId] {
                for (vmUuid, count) in skips.operations.sorted(by: { $0.key < $1.key }) {
                    changes.append(.operations(nodeId: nodeId, vmUuid: vmUuid, count: count))
                }
                for (apiId, vmUuid) in skips.apiVms.sorted(by: { $0.key < $1.key }) {
                    changes.append(.apiId(nodeId: nodeId, apiId: apiId, vmUuid: vmUuid))
                }
            }
        }
        for key in keys {
            switch key {
            case .node:
                continue
            case .operations(let nodeId, let vmUuid) where !rewrittenNodes.contains(nodeId):
                changes.append(.operations(
                    nodeId: nodeId, vmUuid: vmUuid, count: nodes[nodeId]?.operations[vmUuid] ?? 0))
            case .apiId(let nodeId, let apiId) where !rewrittenNodes.contains(nodeId):
                if let vmUuid = nodes[nodeId]?.apiVms[apiId] {
                    changes.append(.apiId(nodeId: nodeId, apiId: apiId, vmUuid: vmUuid))
                } else {
                    changes.append(.removeApiId(nodeId: nodeId, apiId: apiId))
                }
            case .operations, .apiId:
                continue
            case .orphan(let vmUuid):
                if let orphanedAt = orphans[vmUuid] {
                    changes.append(.orphan(vmUuid: vmUuid, ageMillis: ageMillis(of: orphanedAt)))
                } else if tombstones[vmUuid] == nil {
                    changes.append(.removeOrphan(vmUuid: vmUuid))
                }
            case .departed(let nodeId):
                if let leftAt = departed[nodeId] {
                    changes.append(.departed(nodeId: nodeId, ageMillis: ageMillis(of: leftAt)))
                } else {
                    changes.append(.rejoined(nodeId: nodeId))
                }
            case .forgetOrphans(let olderThanMillis):
                changes.append(.forgetOrphans(olderThanMillis: olderThanMillis))
            }
        }
        return changes
    }

    /// Rebuilds memory from the store. Ages are the store's (a row stamped in its clock's future counts as age 0);
    /// entries of this worker's own node become orphans as of now.
    func restore(_ snapshot: SkipRegistrySnapshot) async {
        let now = clock.now
        for record in snapshot.orphans {
            orphans[record.vmUuid] = now - .milliseconds(max(0, record.ageMillis))
        }
        for record in snapshot.entries where record.operations > 0 {
            nodes[record.nodeId, default: NodeSkips()].operations[record.vmUuid] = record.operations
            operationCount[record.vmUuid, default: 0] += record.operations
        }
        for record in snapshot.apiIds {
            nodes[record.nodeId, default: NodeSkips()].apiVms[record.apiId] = record.vmUuid
        }
        for record in snapshot.departedNodes {
            departed[record.nodeId] = now - .milliseconds(max(0, record.ageMillis))
        }
        let own = orphanEntries(of: ownNode, reason: "this worker restarted")
        logger.info("skip registry loaded", metadata: [
            "operations": "\(snapshot.entries.count)", "apiIds": "\(snapshot.apiIds.count)",
            "orphans": "\(orphans.count)", "ownEntriesOrphaned": "\(own.count)",
            "departedNodes": "\(departed.count)",
        ])
        await flushChanges()
    }
}
