import CloudBus
import Inventory
import Logging

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
    /// empty), so the store sees changes in the order they were made. After a failure the next write replaces the
    /// whole stored state, so a lost batch cannot leave stale rows behind.
    func flushChanges() async {
        guard let store, !flushing, !pendingChanges.isEmpty || storeDirty else { return }
        flushing = true
        defer {
            flushing = false
            let waiters = flushWaiters
            flushWaiters.removeAll()
            for waiter in waiters { waiter.resume() }
        }
        while !pendingChanges.isEmpty || storeDirty {
            if storeDirty {
                let snapshot = persistentSnapshot()
                pendingChanges.removeAll()
                do {
                    try await store.replaceSkipRegistry(with: snapshot)
                    storeDirty = false
                    logger.info("skip registry rewritten to the store after an earlier failure")
                } catch {
                    storeFailed(error, operation: "replace", changes: snapshot.entries.count + snapshot.orphans.count)
                    return
                }
            } else {
                let batch = pendingChanges
                pendingChanges.removeAll()
                do {
                    try await store.applySkipChanges(batch)
                } catch {
                    storeDirty = true
                    storeFailed(error, operation: "apply", changes: batch.count)
                    return
                }
            }
        }
    }

    private func storeFailed(_ error: any Error, operation: String, changes: Int) {
        counters.increment("skip_registry_store_failures")
        logger.error("skip registry store write failed; memory still protects the VMs, next write retries", metadata: [
            "operation": "\(operation)", "changes": "\(changes)", "error": "\(error)",
        ])
    }

    /// The whole state in the store's form (orphan instants converted to wall-clock epoch milliseconds).
    func persistentSnapshot() -> SkipRegistrySnapshot {
        let now = clock.now
        let wallNow = wallClock()
        var snapshot = SkipRegistrySnapshot()
        for (node, skips) in nodes {
            for (vmUuid, count) in skips.operations {
                snapshot.entries.append(SkipEntryRecord(nodeId: node, vmUuid: vmUuid, operations: count))
            }
            for (apiId, vmUuid) in skips.apiVms {
                snapshot.apiIds.append(SkipApiRecord(nodeId: node, apiId: apiId, vmUuid: vmUuid))
            }
        }
        for (vmUuid, orphanedAt) in orphans {
            snapshot.orphans.append(OrphanRecord(
                vmUuid: vmUuid, orphanedAtEpochMillis: epochMillis(ofInstant: orphanedAt, now: now, wallNow: wallNow)))
        }
        for (node, leftAt) in departed {
            snapshot.departedNodes.append(DepartedNodeRecord(nodeId: node, leftAtEpochMillis: leftAt))
        }
        return snapshot
    }

    /// Rebuilds memory from the store. An orphan's age carries over through the wall clock (a timestamp in the
    /// future, from a clock step, counts as age 0); entries of this worker's own node become orphans as of now.
    func restore(_ snapshot: SkipRegistrySnapshot) async {
        let now = clock.now
        let wallNow = wallClock()
        for record in snapshot.orphans {
            let age = max(0, wallNow - record.orphanedAtEpochMillis)
            orphans[record.vmUuid] = now - .milliseconds(age)
        }
        for record in snapshot.entries where record.operations > 0 {
            nodes[record.nodeId, default: NodeSkips()].operations[record.vmUuid] = record.operations
            operationCount[record.vmUuid, default: 0] += record.operations
        }
        for record in snapshot.apiIds {
            nodes[record.nodeId, default: NodeSkips()].apiVms[record.apiId] = record.vmUuid
        }
        for record in snapshot.departedNodes {
            departed[record.nodeId] = record.leftAtEpochMillis
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
